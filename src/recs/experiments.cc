#include "recs/experiments.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <functional>
#include <set>

#include "core/config_text.h"
#include "core/crc32c.h"
#include "core/murmur3.h"
#include "recs/registry.h"

namespace watershed::recs {
namespace {

// Names end up in file names and log lines: the registry's rule (letters, digits, '_', '-', '.').
Status CheckedName(TableReader& r, std::string_view key, std::string* out, bool required = true) {
  if (Status s = r.String(key, out, required); !s.ok()) return s;
  if (out->empty() && !required) return Status::Ok();
  if (!ModelRegistry::CheckName(*out).ok())
    return r.Error(key, "'" + *out +
                            "' must be 1-64 letters, digits, '_', '-' or '.', "
                            "not starting with '.'");
  return Status::Ok();
}

bool IsRequestIdChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
         c == '.' || c == ':';
}

template <typename T>
bool ParseNumber(std::string_view s, T* out) {
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && end == s.data() + s.size() && !s.empty();
}

}  // namespace

const Arm* Experiment::FindArm(std::string_view arm) const {
  for (const Arm& a : arms)
    if (a.name == arm) return &a;
  return nullptr;
}

double Experiment::TotalWeight() const {
  double w = 0;
  for (const Arm& a : arms) w += a.weight;
  return w;
}

const Experiment* ExperimentConfig::Find(std::string_view name) const {
  for (const Experiment& e : experiments)
    if (e.name == name) return &e;
  return nullptr;
}

Result<ExperimentConfig> ParseExperimentConfig(std::string_view text, const std::string& path) {
  auto tables = ParseConfigText(text, path);
  if (!tables.ok()) return tables.status();
  ExperimentConfig c;
  std::map<std::string, double> layer_traffic;
  std::map<std::string, int> experiment_line;
  for (const ConfigTable& t : *tables) {
    TableReader r(t, path);
    FirstError ok;
    Status& s = ok.status;
    if (t.name.empty()) {
      // No top-level keys.
    } else if (t.name == "layer" && t.array_element) {
      Layer l;
      ok(CheckedName(r, "name", &l.name));
      l.salt = l.name;
      ok(r.String("salt", &l.salt));
      for (const Layer& other : c.layers)
        if (s.ok() && other.name == l.name) ok(r.Error("name", "layer '" + l.name + "' is defined twice"));
      if (s.ok()) c.layers.push_back(std::move(l));
    } else if (t.name == "experiment" && t.array_element) {
      Experiment e;
      ok(CheckedName(r, "name", &e.name));
      ok(CheckedName(r, "layer", &e.layer));
      ok(r.Number("traffic", &e.traffic, 0, 1));
      if (s.ok() && e.traffic <= 0) ok(r.Error("traffic", "must be above 0"));
      ok(CheckedName(r, "control", &e.control));
      double hours = 24;
      ok(r.Number("window_hours", &hours, 0.001, 24 * 90));
      e.window_s = static_cast<int64_t>(std::llround(hours * 3600));
      e.salt = e.name;
      ok(r.String("salt", &e.salt));
      bool layer_known = false;
      for (const Layer& l : c.layers) layer_known = layer_known || l.name == e.layer;
      if (s.ok() && !layer_known) ok(r.Error("layer", "no [[layer]] named '" + e.layer + "' precedes it"));
      if (s.ok() && c.Find(e.name)) ok(r.Error("name", "experiment '" + e.name + "' is defined twice"));
      if (s.ok()) {
        double& used = layer_traffic[e.layer];
        e.first_bucket = static_cast<uint32_t>(std::llround(used * kLayerBuckets));
        used += e.traffic;
        if (used > 1 + 1e-9)
          ok(r.Error("traffic", "the experiments of layer '" + e.layer + "' take more than all of its traffic"));
        e.end_bucket = static_cast<uint32_t>(std::min<long long>(kLayerBuckets, std::llround(used * kLayerBuckets)));
        experiment_line[e.name] = t.line;
        if (s.ok()) c.experiments.push_back(std::move(e));
      }
    } else if (t.name == "arm" && t.array_element) {
      Arm a;
      std::string experiment;
      ok(CheckedName(r, "experiment", &experiment));
      ok(CheckedName(r, "name", &a.name));
      ok(r.Number("weight", &a.weight, 0, 1e6));
      if (s.ok() && a.weight <= 0) ok(r.Error("weight", "must be above 0"));
      ok(r.String("model", &a.model));
      if (s.ok() && !a.model.empty()) {
        auto ref = ParseModelRef(a.model);
        if (!ref.ok() || !ref->version) ok(r.Error("model", "must be NAME@VERSION, not '" + a.model + "'"));
      }
      for (auto& [k, v] : r.WithPrefix("params.")) a.params[k] = v;
      Experiment* e = nullptr;
      for (Experiment& x : c.experiments)
        if (x.name == experiment) e = &x;
      if (s.ok() && !e) ok(r.Error("experiment", "no [[experiment]] named '" + experiment + "' precedes it"));
      if (s.ok() && e->FindArm(a.name)) ok(r.Error("name", "arm '" + a.name + "' is defined twice"));
      if (s.ok()) e->arms.push_back(std::move(a));
    } else {
      return Status::InvalidArgument(path + ":" + std::to_string(t.line) + ":1: unknown table " +
                                     (t.array_element ? "[[" + t.name + "]]" : "[" + t.name + "]") +
                                     " (known: [[layer]], [[experiment]], [[arm]])");
    }
    ok(r.Finish());
    if (!s.ok()) return s;
  }
  for (const Experiment& e : c.experiments) {
    const std::string at = path + ":" + std::to_string(experiment_line[e.name]) + ":1: experiment '" + e.name + "'";
    if (e.arms.size() < 2) return Status::InvalidArgument(at + " needs at least two [[arm]]s");
    if (!e.FindArm(e.control)) return Status::InvalidArgument(at + ": its control '" + e.control + "' is no arm");
  }
  return c;
}

Result<ExperimentConfig> LoadExperimentConfig(FileSystem* fs, const std::string& path) {
  auto text = ReadWholeFile(fs, path);
  if (!text.ok()) return Status(text.status().code(), path + ": " + text.status().message());
  return ParseExperimentConfig(*text, path);
}

uint32_t SaltedHash(std::string_view salt, uint64_t user) {
  char digits[24];
  const auto end = std::to_chars(digits, digits + sizeof digits, user).ptr;
  std::string key;
  key.reserve(salt.size() + 1 + static_cast<size_t>(end - digits));
  key.append(salt).append(1, ':').append(digits, end);
  return Murmur3X86_32(key);
}

const Arm& ChooseArm(const Experiment& e, uint64_t user) {
  const double u = static_cast<double>(SaltedHash(e.salt, user)) / 4294967296.0;
  const double total = e.TotalWeight();
  double cumulative = 0;
  for (const Arm& a : e.arms) {
    cumulative += a.weight;
    if (u < cumulative / total) return a;
  }
  return e.arms.back();
}

std::vector<Assignment> Assign(const ExperimentConfig& config, uint64_t user) {
  std::vector<Assignment> out;
  for (const Layer& l : config.layers) {
    const uint32_t bucket = SaltedHash(l.salt, user) % kLayerBuckets;
    for (const Experiment& e : config.experiments) {
      if (e.layer != l.name || bucket < e.first_bucket || bucket >= e.end_bucket) continue;
      out.push_back({&e, &ChooseArm(e, user)});
      break;
    }
  }
  return out;
}

std::string EncodeExposure(const Exposure& e) {
  std::string body = e.request_id + "\t" + std::to_string(e.user) + "\t" + e.experiment + "\t" + e.arm + "\t" +
                     std::to_string(e.time_ms) + "\t";
  for (size_t i = 0; i < e.items.size(); ++i) {
    if (i) body += ',';
    body += std::to_string(e.items[i]);
  }
  char crc[16];
  std::snprintf(crc, sizeof crc, "%08x\t", crc32c::Value(body));
  return crc + body + "\n";
}

Result<Exposure> DecodeExposure(std::string_view line) {
  if (line.size() < 9 || line[8] != '\t') return Status::Corruption("no checksum");
  // Exactly what EncodeExposure writes: 8 lower-case hex digits (one text per exposure).
  for (size_t i = 0; i < 8; ++i)
    if (!((line[i] >= '0' && line[i] <= '9') || (line[i] >= 'a' && line[i] <= 'f')))
      return Status::Corruption("no checksum");
  uint32_t crc = 0;
  auto [end, ec] = std::from_chars(line.data(), line.data() + 8, crc, 16);
  if (ec != std::errc() || end != line.data() + 8) return Status::Corruption("no checksum");
  const std::string_view body = line.substr(9);
  if (crc32c::Value(body) != crc) return Status::Corruption("checksum mismatch");
  std::vector<std::string_view> f;
  size_t at = 0;
  while (true) {
    const size_t tab = body.find('\t', at);
    f.push_back(body.substr(at, tab == std::string_view::npos ? std::string_view::npos : tab - at));
    if (tab == std::string_view::npos) break;
    at = tab + 1;
  }
  if (f.size() != 6) return Status::Corruption("expected 6 fields, got " + std::to_string(f.size()));
  Exposure e;
  e.request_id = f[0];
  if (e.request_id.empty() || e.request_id.size() > 128) return Status::Corruption("bad request id");
  for (char c : e.request_id)
    if (!IsRequestIdChar(c)) return Status::Corruption("bad request id");
  if (!ParseNumber(f[1], &e.user)) return Status::Corruption("bad user");
  e.experiment = f[2];
  e.arm = f[3];
  if (!ModelRegistry::CheckName(e.experiment).ok() || !ModelRegistry::CheckName(e.arm).ok())
    return Status::Corruption("bad experiment or arm name");
  if (!ParseNumber(f[4], &e.time_ms)) return Status::Corruption("bad time");
  std::string_view items = f[5];
  while (!items.empty()) {
    const size_t comma = items.find(',');
    uint64_t item = 0;
    if (!ParseNumber(items.substr(0, comma), &item)) return Status::Corruption("bad item list");
    e.items.push_back(item);
    if (comma == std::string_view::npos) break;
    items.remove_prefix(comma + 1);
    if (items.empty()) return Status::Corruption("bad item list");
  }
  return e;
}

std::string ExposureLogPath(const std::string& exposures_dir, std::string_view experiment) {
  return JoinPath(exposures_dir, std::string(experiment) + ".log");
}

Result<ExposureLog> DecodeExposureLog(std::string_view data, const std::string& path) {
  ExposureLog log;
  size_t at = 0, line = 0;
  while (at < data.size()) {
    const size_t nl = data.find('\n', at);
    if (nl == std::string_view::npos) {
      log.torn_bytes = data.size() - at;
      break;
    }
    ++line;
    auto e = DecodeExposure(data.substr(at, nl - at));
    if (!e.ok()) return Status::Corruption(path + ":" + std::to_string(line) + ": " + e.status().message());
    log.exposures.push_back(std::move(*e));
    at = nl + 1;
  }
  return log;
}

Result<ExposureLog> ReadExposures(FileSystem* fs, const std::string& exposures_dir, std::string_view experiment) {
  const std::string path = ExposureLogPath(exposures_dir, experiment);
  if (!fs->FileExists(path)) return ExposureLog{};
  auto data = ReadWholeFile(fs, path);
  if (!data.ok()) return Status(data.status().code(), path + ": " + data.status().message());
  auto log = DecodeExposureLog(*data, path);
  if (!log.ok()) return log.status();
  for (size_t i = 0; i < log->exposures.size(); ++i)
    if (log->exposures[i].experiment != experiment)
      return Status::Corruption(path + ":" + std::to_string(i + 1) + ": a record of experiment '" +
                                log->exposures[i].experiment + "'");
  return log;
}

namespace {
// Calls `f(path, log)` for every exposure log under `dir` (none when the directory does not exist).
Status ForEachExposureLog(FileSystem* fs, const std::string& dir,
                          const std::function<Status(const std::string&, const ExposureLog&)>& f) {
  if (!fs->FileExists(dir)) return Status::Ok();
  ASSIGN_OR_RETURN(std::vector<std::string> names, fs->ListDir(dir));
  std::sort(names.begin(), names.end());
  for (const std::string& n : names) {
    if (!n.ends_with(".log")) continue;
    ASSIGN_OR_RETURN(ExposureLog log, ReadExposures(fs, dir, std::string_view(n).substr(0, n.size() - 4)));
    RETURN_IF_ERROR(f(JoinPath(dir, n), log));
  }
  return Status::Ok();
}
}  // namespace

Result<uint64_t> EraseUserExposures(FileSystem* fs, const std::string& exposures_dir, uint64_t user) {
  uint64_t removed = 0;
  RETURN_IF_ERROR(ForEachExposureLog(fs, exposures_dir, [&](const std::string& path, const ExposureLog& log) {
    std::string kept;
    uint64_t holding = 0;
    for (const Exposure& e : log.exposures) {
      if (e.user == user) {
        ++holding;
      } else {
        kept += EncodeExposure(e);
      }
    }
    if (holding == 0) return Status::Ok();
    RETURN_IF_ERROR(WriteFileAtomically(fs, path, kept));
    removed += holding;
    return Status::Ok();
  }));
  return removed;
}

Result<uint64_t> CountUserExposures(FileSystem* fs, const std::string& exposures_dir, uint64_t user) {
  uint64_t holding = 0;
  RETURN_IF_ERROR(ForEachExposureLog(fs, exposures_dir, [&](const std::string&, const ExposureLog& log) {
    for (const Exposure& e : log.exposures) holding += e.user == user;
    return Status::Ok();
  }));
  return holding;
}

Result<std::unique_ptr<ExposureWriter>> ExposureWriter::Open(FileSystem* fs, const std::string& exposures_dir,
                                                             const std::string& experiment) {
  if (Status s = ModelRegistry::CheckName(experiment); !s.ok())
    return Status::InvalidArgument("experiment: " + s.message());
  if (Status s = CreateDirsDurably(fs, exposures_dir); !s.ok()) return s;
  const std::string path = ExposureLogPath(exposures_dir, experiment);
  if (fs->FileExists(path)) {
    // Only the tail is read (the log may be large): back from the end, chunk by chunk, to the last newline.
    auto size = fs->FileSize(path);
    if (!size.ok()) return size.status();
    auto file = fs->NewRandomAccessFile(path);
    if (!file.ok()) return file.status();
    uint64_t end = *size;  // the bytes before `end` end in a newline (or there are none)
    std::string chunk;
    while (end > 0) {
      const uint64_t start = end >= 65536 ? end - 65536 : 0;
      chunk.resize(end - start);
      auto n = (*file)->Read(start, chunk.size(), chunk.data());
      if (!n.ok()) return n.status();
      if (*n != chunk.size()) return Status::IoError(path + ": short read");
      const size_t nl = chunk.rfind('\n');
      if (nl != std::string::npos) {
        end = start + nl + 1;
        break;
      }
      end = start;
    }
    if (end < *size)
      if (Status s = fs->Truncate(path, end); !s.ok()) return s;
  }
  auto file = fs->NewAppendableFile(path);
  if (!file.ok()) return file.status();
  return std::unique_ptr<ExposureWriter>(new ExposureWriter(std::move(*file)));
}

Status ExposureWriter::Append(const Exposure& e) {
  bool good = !e.request_id.empty() && e.request_id.size() <= 128 && ModelRegistry::CheckName(e.experiment).ok() &&
              ModelRegistry::CheckName(e.arm).ok();
  for (char c : e.request_id) good = good && IsRequestIdChar(c);
  if (!good) return Status::InvalidArgument("exposure: bad request id, experiment or arm name");
  return file_->Append(EncodeExposure(e));
}

Status ExposureWriter::Sync() { return file_->Sync(); }

}  // namespace watershed::recs
