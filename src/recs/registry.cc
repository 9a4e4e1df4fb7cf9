#include "recs/registry.h"

#include <simdjson.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <set>

#include "core/crc32c.h"
#include "core/json_text.h"

namespace watershed::recs {
namespace {

constexpr const char* kWeights = "weights.bin";
constexpr const char* kManifest = "manifest.json";
constexpr const char* kNextVersion = "next-version";  // written by Gc when it deletes the highest version

void AppendNumber(double v, std::string* out) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  *out += buf;
}

void AppendStringMap(const std::map<std::string, std::string>& m, std::string* out) {
  *out += "{";
  bool first = true;
  for (const auto& [k, v] : m) {
    *out += first ? "" : ", ";
    first = false;
    AppendJsonString(k, out);
    *out += ": ";
    AppendJsonString(v, out);
  }
  *out += "}";
}

std::optional<uint32_t> ParseVersion(std::string_view s) {
  uint32_t v = 0;
  if (s.empty() || s.size() > 9 || s[0] == '0') return std::nullopt;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

}  // namespace

std::string EncodeManifest(const ModelManifest& m) {
  std::string out = "{\"format_version\": " + std::to_string(m.format_version) + ", \"name\": ";
  AppendJsonString(m.name, &out);
  out += ", \"version\": " + std::to_string(m.version) + ", \"model\": ";
  AppendJsonString(m.model, &out);
  out += ", \"created_at_ms\": " + std::to_string(m.created_at_ms) + ", \"train_seconds\": ";
  AppendNumber(m.train_seconds, &out);
  out += ", \"users\": " + std::to_string(m.users) + ", \"items\": " + std::to_string(m.items) +
         ", \"dim\": " + std::to_string(m.dim) + ",\n \"config\": ";
  AppendStringMap(m.config, &out);
  out += ",\n \"data\": ";
  AppendStringMap(m.data, &out);
  out += ",\n \"metrics\": {";
  bool first = true;
  for (const auto& [k, v] : m.metrics) {
    if (!std::isfinite(v)) continue;
    out += first ? "" : ", ";
    first = false;
    AppendJsonString(k, &out);
    out += ": ";
    AppendNumber(v, &out);
  }
  out += "},\n \"weights\": {\"file\": \"weights.bin\", \"bytes\": " + std::to_string(m.weights_bytes) +
         ", \"crc32c\": " + std::to_string(m.weights_crc32c) + "}}\n";
  return out;
}

Result<ModelManifest> DecodeManifest(std::string_view json, const std::string& path) {
  auto bad = [&](const std::string& what) { return Status::Corruption(path + ": " + what); };
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (auto err = parser.parse(json.data(), json.size()).get(root); err != simdjson::SUCCESS)
    return bad(std::string("malformed JSON: ") + simdjson::error_message(err));
  simdjson::dom::object obj;
  if (root.get(obj) != simdjson::SUCCESS) return bad("must be a JSON object");
  ModelManifest m;
  auto u64 = [&](const char* key, uint64_t max, uint64_t* into) -> Status {
    uint64_t v = 0;
    if (obj[key].get(v) != simdjson::SUCCESS || v > max)
      return bad(std::string("\"") + key + "\" must be a whole number in 0.." + std::to_string(max));
    *into = v;
    return Status::Ok();
  };
  auto str = [&](const char* key, std::string* into) -> Status {
    std::string_view v;
    if (obj[key].get(v) != simdjson::SUCCESS) return bad(std::string("\"") + key + "\" must be a string");
    *into = std::string(v);
    return Status::Ok();
  };
  uint64_t format = 0, version = 0, dim = 0, created = 0;
  RETURN_IF_ERROR(u64("format_version", ~uint64_t{0}, &format));
  if (format < 1 || format > kModelFormatVersion)
    return bad("has format_version " + std::to_string(format) + " (this build reads 1.." +
               std::to_string(kModelFormatVersion) + ")");
  m.format_version = static_cast<uint32_t>(format);
  RETURN_IF_ERROR(str("name", &m.name));
  RETURN_IF_ERROR(u64("version", 999'999'999, &version));
  if (version == 0) return bad("\"version\" must be at least 1");
  m.version = static_cast<uint32_t>(version);
  RETURN_IF_ERROR(str("model", &m.model));
  if (m.model != "popularity" && m.model != "bpr" && m.model != "two-tower" && m.model != "ranker")
    return bad("unknown model '" + m.model + "'");
  RETURN_IF_ERROR(u64("created_at_ms", uint64_t{1} << 62, &created));
  m.created_at_ms = static_cast<int64_t>(created);
  if (obj["train_seconds"].get(m.train_seconds) != simdjson::SUCCESS || !(m.train_seconds >= 0))
    return bad("\"train_seconds\" must be a number >= 0");
  RETURN_IF_ERROR(u64("users", uint64_t{1} << 32, &m.users));
  RETURN_IF_ERROR(u64("items", uint64_t{1} << 32, &m.items));
  RETURN_IF_ERROR(u64("dim", 1024, &dim));
  m.dim = static_cast<uint32_t>(dim);
  for (const auto& [key, into] : {std::pair{"config", &m.config}, std::pair{"data", &m.data}}) {
    simdjson::dom::object o;
    if (obj[key].get(o) != simdjson::SUCCESS) return bad(std::string("\"") + key + "\" must be an object");
    for (simdjson::dom::key_value_pair kv : o) {
      std::string_view v;
      if (kv.value.get(v) != simdjson::SUCCESS)
        return bad(std::string("\"") + key + "." + std::string(kv.key) + "\" must be a string");
      (*into)[std::string(kv.key)] = std::string(v);
    }
  }
  simdjson::dom::object metrics;
  if (obj["metrics"].get(metrics) != simdjson::SUCCESS) return bad("\"metrics\" must be an object");
  for (simdjson::dom::key_value_pair kv : metrics) {
    double v = 0;
    if (kv.value.get(v) != simdjson::SUCCESS || !std::isfinite(v))
      return bad("\"metrics." + std::string(kv.key) + "\" must be a number");
    m.metrics[std::string(kv.key)] = v;
  }
  simdjson::dom::object weights;
  std::string_view file;
  uint64_t bytes = 0, crc = 0;
  if (obj["weights"].get(weights) != simdjson::SUCCESS || weights["file"].get(file) != simdjson::SUCCESS ||
      file != kWeights || weights["bytes"].get(bytes) != simdjson::SUCCESS ||
      weights["crc32c"].get(crc) != simdjson::SUCCESS || crc > 0xFFFFFFFFu)
    return bad("\"weights\" must be {\"file\": \"weights.bin\", \"bytes\": N, \"crc32c\": C}");
  m.weights_bytes = bytes;
  m.weights_crc32c = static_cast<uint32_t>(crc);
  return m;
}

Result<ModelRef> ParseModelRef(std::string_view text) {
  ModelRef ref;
  const size_t at = text.find('@');
  ref.name = std::string(text.substr(0, at));
  RETURN_IF_ERROR(ModelRegistry::CheckName(ref.name));
  if (at != std::string_view::npos) {
    ref.version = ParseVersion(text.substr(at + 1));
    if (!ref.version || *ref.version == 0)
      return Status::InvalidArgument("'" + std::string(text) + "': the version after '@' must be a number >= 1");
  }
  return ref;
}

Status ModelRegistry::CheckName(std::string_view name) {
  const bool ok =
      !name.empty() && name.size() <= 64 && name[0] != '.' && std::all_of(name.begin(), name.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
               c == '.';
      });
  if (!ok)
    return Status::InvalidArgument("model name '" + std::string(name) +
                                   "' must be 1-64 letters, digits, '_', '-' or '.', not starting with '.'");
  return Status::Ok();
}

Result<std::vector<uint32_t>> ModelRegistry::ListVersions(const std::string& name) const {
  std::vector<uint32_t> versions;
  if (!fs_->FileExists(Dir(name))) return versions;
  ASSIGN_OR_RETURN(std::vector<std::string> entries, fs_->ListDir(Dir(name)));
  for (const std::string& e : entries)
    if (auto v = ParseVersion(e)) versions.push_back(*v);
  std::sort(versions.begin(), versions.end());
  return versions;
}

Result<uint32_t> ModelRegistry::Save(ModelManifest* m, const ArrayFile& weights) {
  RETURN_IF_ERROR(CheckName(m->name));
  const std::string dir = Dir(m->name);
  RETURN_IF_ERROR(CreateDirsDurably(fs_, dir));
  ASSIGN_OR_RETURN(auto lock, fs_->LockFile(JoinPath(dir, ".lock")));
  ASSIGN_OR_RETURN(std::vector<uint32_t> versions, ListVersions(m->name));
  m->version = versions.empty() ? 1 : versions.back() + 1;
  // A number Gc deleted is never given again (it may be named in logs and
  // metrics).
  if (fs_->FileExists(JoinPath(dir, kNextVersion))) {
    ASSIGN_OR_RETURN(std::string text, ReadWholeFile(fs_, JoinPath(dir, kNextVersion)));
    auto next = ParseVersion(text.substr(0, text.find('\n')));
    if (!next) return Status::Corruption(JoinPath(dir, kNextVersion) + ": is not a version number");
    m->version = std::max(m->version, *next);
  }
  if (m->created_at_ms == 0)
    m->created_at_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
            .count();
  const std::string bytes = EncodeArrayFile(weights);
  m->weights_bytes = bytes.size();
  m->weights_crc32c = crc32c::Value(bytes);
  // Built under a temporary name (a crashed writer's leftover is replaced),
  // then renamed into place whole.
  const std::string tmp = JoinPath(dir, ".writing-" + std::to_string(m->version));
  if (fs_->FileExists(tmp)) {
    for (const char* f : {kWeights, kManifest})
      if (fs_->FileExists(JoinPath(tmp, f))) RETURN_IF_ERROR(fs_->RemoveFile(JoinPath(tmp, f)));
  }
  RETURN_IF_ERROR(CreateDirsDurably(fs_, tmp));
  RETURN_IF_ERROR(WriteFileAtomically(fs_, JoinPath(tmp, kWeights), bytes));
  RETURN_IF_ERROR(WriteFileAtomically(fs_, JoinPath(tmp, kManifest), EncodeManifest(*m)));
  RETURN_IF_ERROR(fs_->RenameNoReplace(tmp, VersionDir(m->name, m->version)));
  RETURN_IF_ERROR(fs_->SyncDir(dir));
  ASSIGN_OR_RETURN(std::vector<uint32_t> history, CurrentHistory(m->name));
  if (history.empty()) RETURN_IF_ERROR(WriteCurrent(m->name, {m->version}));
  return m->version;
}

Result<std::vector<std::string>> ModelRegistry::Names() const {
  std::vector<std::string> names;
  if (!fs_->FileExists(root_)) return names;
  ASSIGN_OR_RETURN(std::vector<std::string> entries, fs_->ListDir(root_));
  for (const std::string& e : entries)
    if (CheckName(e).ok() && fs_->FileExists(JoinPath(Dir(e), "current"))) names.push_back(e);
  std::sort(names.begin(), names.end());
  return names;
}

Result<std::vector<ModelRegistry::VersionInfo>> ModelRegistry::Versions(const std::string& name) const {
  RETURN_IF_ERROR(CheckName(name));
  ASSIGN_OR_RETURN(std::vector<uint32_t> versions, ListVersions(name));
  if (versions.empty()) return Status::NotFound("no model named '" + name + "' under " + root_);
  ASSIGN_OR_RETURN(std::vector<uint32_t> history, CurrentHistory(name));
  std::vector<VersionInfo> out;
  for (uint32_t v : versions) {
    VersionInfo info;
    info.version = v;
    info.current = !history.empty() && history[0] == v;
    const std::string path = JoinPath(VersionDir(name, v), kManifest);
    auto text = ReadWholeFile(fs_, path);
    info.manifest = text.ok() ? DecodeManifest(*text, path) : Result<ModelManifest>(text.status());
    out.push_back(std::move(info));
  }
  return out;
}

Result<std::vector<uint32_t>> ModelRegistry::CurrentHistory(const std::string& name) const {
  const std::string path = JoinPath(Dir(name), "current");
  std::vector<uint32_t> history;
  if (!fs_->FileExists(path)) return history;
  ASSIGN_OR_RETURN(std::string text, ReadWholeFile(fs_, path));
  size_t start = 0, line = 1;
  while (start < text.size()) {
    const size_t end = text.find('\n', start);
    if (end == std::string::npos) return Status::Corruption(path + ":" + std::to_string(line) + ": no newline");
    auto v = ParseVersion(std::string_view(text).substr(start, end - start));
    if (!v || !fs_->FileExists(VersionDir(name, *v)))
      return Status::Corruption(path + ":" + std::to_string(line) + ": '" + text.substr(start, end - start) +
                                "' is not a version of " + name);
    history.push_back(*v);
    start = end + 1;
    ++line;
  }
  return history;
}

Status ModelRegistry::WriteCurrent(const std::string& name, const std::vector<uint32_t>& history) {
  std::string text;
  for (uint32_t v : history) text += std::to_string(v) + "\n";
  return WriteFileAtomically(fs_, JoinPath(Dir(name), "current"), text);
}

Status ModelRegistry::Promote(const std::string& name, uint32_t version) {
  RETURN_IF_ERROR(CheckName(name));
  if (!fs_->FileExists(Dir(name))) return Status::NotFound("no model named '" + name + "' under " + root_);
  ASSIGN_OR_RETURN(auto lock, fs_->LockFile(JoinPath(Dir(name), ".lock")));
  // Only a version that loads whole may become current.
  ASSIGN_OR_RETURN(Loaded loaded, Load({name, version}));
  ASSIGN_OR_RETURN(std::vector<uint32_t> history, CurrentHistory(name));
  if (!history.empty() && history[0] == version) return Status::Ok();
  history.insert(history.begin(), version);
  return WriteCurrent(name, history);
}

Result<uint32_t> ModelRegistry::Rollback(const std::string& name) {
  RETURN_IF_ERROR(CheckName(name));
  if (!fs_->FileExists(Dir(name))) return Status::NotFound("no model named '" + name + "' under " + root_);
  ASSIGN_OR_RETURN(auto lock, fs_->LockFile(JoinPath(Dir(name), ".lock")));
  ASSIGN_OR_RETURN(std::vector<uint32_t> history, CurrentHistory(name));
  if (history.size() < 2)
    return Status::FailedPrecondition("model '" + name + "' has no earlier current version to roll back to");
  history.erase(history.begin());
  RETURN_IF_ERROR(WriteCurrent(name, history));
  return history[0];
}

Result<ModelRegistry::GcPlan> ModelRegistry::Gc(const std::string& name, uint32_t keep_newest, bool dry_run) {
  RETURN_IF_ERROR(CheckName(name));
  if (!fs_->FileExists(Dir(name))) return Status::NotFound("no model named '" + name + "' under " + root_);
  ASSIGN_OR_RETURN(auto lock, fs_->LockFile(JoinPath(Dir(name), ".lock")));
  ASSIGN_OR_RETURN(std::vector<uint32_t> versions, ListVersions(name));
  ASSIGN_OR_RETURN(std::vector<uint32_t> history, CurrentHistory(name));
  std::set<uint32_t> keep(history.begin(),
                          history.begin() + static_cast<ptrdiff_t>(std::min<size_t>(2, history.size())));
  for (size_t k = 0; k < versions.size() && k < keep_newest; ++k) keep.insert(versions[versions.size() - 1 - k]);
  GcPlan plan;
  plan.name = name;
  for (uint32_t v : versions) (keep.count(v) ? plan.kept : plan.removed).push_back(v);
  if (dry_run) return plan;
  if (!history.empty() && !keep.count(history[0]))  // cannot happen: the guard of the contract
    return Status::Internal("gc of " + name + " would remove the current version " + std::to_string(history[0]));
  std::vector<uint32_t> still;
  for (uint32_t v : history)
    if (keep.count(v)) still.push_back(v);
  if (still != history) RETURN_IF_ERROR(WriteCurrent(name, still));
  if (!plan.removed.empty() && plan.removed.back() == versions.back()) {
    // Never lower: an earlier gc may have deleted higher numbers already.
    uint32_t next = versions.back() + 1;
    if (auto text = ReadWholeFile(fs_, JoinPath(Dir(name), kNextVersion)); text.ok())
      if (auto old = ParseVersion(text->substr(0, text->find('\n')))) next = std::max(next, *old);
    RETURN_IF_ERROR(WriteFileAtomically(fs_, JoinPath(Dir(name), kNextVersion), std::to_string(next) + "\n"));
  }
  for (uint32_t v : plan.removed) {
    const std::string gone = JoinPath(Dir(name), ".deleting-" + std::to_string(v));
    RETURN_IF_ERROR(fs_->RenameNoReplace(VersionDir(name, v), gone));
  }
  if (!plan.removed.empty()) RETURN_IF_ERROR(fs_->SyncDir(Dir(name)));
  // The renamed versions and any earlier collection's leftovers: files, then
  // the empty directory.
  ASSIGN_OR_RETURN(std::vector<std::string> entries, fs_->ListDir(Dir(name)));
  for (const std::string& e : entries) {
    if (e.rfind(".deleting-", 0) != 0) continue;
    const std::string dir = JoinPath(Dir(name), e);
    ASSIGN_OR_RETURN(std::vector<std::string> files, fs_->ListDir(dir));
    for (const std::string& file : files) RETURN_IF_ERROR(fs_->RemoveFile(JoinPath(dir, file)));
    // FileSystem has no directory removal (nothing else deletes directories);
    // the registry is on the local disk.
    if (::rmdir(dir.c_str()) != 0) return Status::IoError("rmdir " + dir + ": " + std::strerror(errno));
  }
  RETURN_IF_ERROR(fs_->SyncDir(Dir(name)));
  return plan;
}

Result<ModelRegistry::Loaded> ModelRegistry::Load(const ModelRef& ref) const {
  RETURN_IF_ERROR(CheckName(ref.name));
  uint32_t version = 0;
  if (ref.version) {
    version = *ref.version;
  } else {
    ASSIGN_OR_RETURN(std::vector<uint32_t> history, CurrentHistory(ref.name));
    if (history.empty()) return Status::NotFound("no current version of model '" + ref.name + "' under " + root_);
    version = history[0];
  }
  const std::string dir = VersionDir(ref.name, version);
  if (!fs_->FileExists(dir))
    return Status::NotFound("no version " + std::to_string(version) + " of model '" + ref.name + "' (" + dir + ")");
  const std::string manifest_path = JoinPath(dir, kManifest);
  ASSIGN_OR_RETURN(std::string text, ReadWholeFile(fs_, manifest_path));
  Loaded out;
  ASSIGN_OR_RETURN(out.manifest, DecodeManifest(text, manifest_path));
  if (out.manifest.name != ref.name || out.manifest.version != version)
    return Status::Corruption(manifest_path + ": names " + out.manifest.name + "@" +
                              std::to_string(out.manifest.version) + ", not " + ref.name + "@" +
                              std::to_string(version));
  const std::string weights_path = JoinPath(dir, kWeights);
  ASSIGN_OR_RETURN(std::string bytes, ReadWholeFile(fs_, weights_path));
  if (bytes.size() != out.manifest.weights_bytes)
    return Status::Corruption(weights_path + ": holds " + std::to_string(bytes.size()) + " bytes, the manifest says " +
                              std::to_string(out.manifest.weights_bytes));
  if (crc32c::Value(bytes) != out.manifest.weights_crc32c)
    return Status::Corruption(weights_path + ": its CRC-32C does not match the manifest's (damaged or replaced)");
  ASSIGN_OR_RETURN(out.weights, DecodeArrayFile(bytes, weights_path));
  RETURN_IF_ERROR(CheckModelArrays(out.manifest, out.weights));
  return out;
}

}  // namespace watershed::recs
