#include "recs/ann_index.h"

// hnswlib 0.6.2 prefetches the element named by the slot after a link list's last link, reading one slot past the
// list — past its allocation for an upper level, and an arbitrary word after a full level-0 list, which it turns
// into a pointer. On hardware that is a harmless read within malloc's chunk and a prefetch; AddressSanitizer and
// UBSan report it. Sanitized builds (the tests, the fuzzers) therefore compile hnswlib without its manual SIMD and
// prefetches; release builds keep them.
#if defined(__SANITIZE_ADDRESS__)
#define NO_MANUAL_VECTORIZATION
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define NO_MANUAL_VECTORIZATION
#endif
#endif
#include <hnswlib/hnswlib.h>

#include <algorithm>
#include <bit>
#include <charconv>
#include <cmath>
#include <cstring>
#include <exception>
#include <mutex>
#include <shared_mutex>
#include <thread>
#include <unordered_set>

#include "core/crc32c.h"
#include "core/endian.h"

namespace watershed::recs {

static_assert(std::endian::native == std::endian::little, "the index file is hnswlib's memory, little-endian");
static_assert(sizeof(hnswlib::labeltype) == 8 && sizeof(hnswlib::tableint) == 4);

namespace {

constexpr char kMagic[8] = {'W', 'S', 'A', 'N', 'N', 'I', 'D', 'X'};
constexpr size_t kHeaderBytes = 24;
constexpr size_t kBodyFixedBytes = 4 * 4 + 8 + 4 + 4 + 4;
constexpr uint32_t kMaxDim = 4096;
constexpr uint32_t kMaxM = 512;
constexpr uint32_t kMaxLevel = 64;
constexpr uint32_t kNoEntry = 0xFFFFFFFFu;  // hnswlib's enterpoint_node_ of an empty graph (-1)

// hnswlib's per-element sizes for (dim, M): level 0 holds [count u32][2M
// links][dim + 2 floats][label u64]; an upper level [count u32][M links].
size_t Level0Bytes(uint32_t dim, uint32_t m) { return 4 + 8 * size_t{m} + 4 * (size_t{dim} + 2) + 8; }

// The point of an item: [vector, bias, sqrt(bound² − |vector|² − bias²)], so
// that every point has the norm `bound` and |query' − point|² = |query'|² +
// bound² − 2 (bias + <query, vector>) for query' = [query, 1, 0]: the nearest
// point in L2 is the item of the highest score (maximum inner product search
// reduced to nearest neighbours, Bachrach et al. 2014). HNSW's graph works far
// better in L2 than on raw inner products, whose "neighbourhoods" are dominated
// by the longest vectors. kFailedPrecondition when the item is longer than the
// bound.
Status ToPoint(std::span<const float> vector, float bias, float bound, float* out) {
  double norm2 = double{bias} * bias;
  for (size_t f = 0; f < vector.size(); ++f) {
    out[f] = vector[f];
    norm2 += double{vector[f]} * vector[f];
  }
  out[vector.size()] = bias;
  const double rest = double{bound} * bound - norm2;
  if (rest < -1e-4 * double{bound} * bound)
    return Status::FailedPrecondition("ann index: an item of norm " + std::to_string(std::sqrt(norm2)) +
                                      " exceeds the index's bound " + std::to_string(bound) + " (rebuild the index)");
  out[vector.size() + 1] = static_cast<float>(std::sqrt(std::max(0.0, rest)));
  return Status::Ok();
}
size_t UpperBytes(uint32_t m) { return 4 + 4 * size_t{m}; }

bool AllFinite(std::span<const float> v) {
  return std::all_of(v.begin(), v.end(), [](float x) { return std::isfinite(x); });
}

Status Corrupt(std::string_view name, const std::string& what) {
  return Status::Corruption(std::string(name) + ": ann index " + what);
}

// The checks of one link list: at most `max` links, each to another element
// that exists at `level`.
bool LinksValid(const char* list, size_t max, uint32_t self, int level, const std::vector<int>& levels) {
  const uint32_t count = GetFixed32(list);  // the whole word: no delete mark, no stray bits
  if (count > max) return false;
  for (uint32_t j = 0; j < count; ++j) {
    const uint32_t to = GetFixed32(list + 4 + 4 * size_t{j});
    if (to >= levels.size() || to == self || levels[to] < level) return false;
  }
  return true;
}

}  // namespace

struct AnnIndex::Graph {
  explicit Graph(uint32_t dim) : space(size_t{dim} + 2) {}
  hnswlib::L2Space space;
  std::unique_ptr<hnswlib::HierarchicalNSW<float>> hnsw;
  float bound = 1;  // every point's norm (ToPoint)
  // Readers hold `mu` shared; a writer exclusive. glibc's rwlock prefers
  // readers, so a steady stream of queries would starve an insertion: a writer
  // holds `turnstile` while it waits, and readers pass the turnstile first.
  mutable std::shared_mutex mu;
  mutable std::mutex turnstile;
  std::shared_lock<std::shared_mutex> Read() const {
    { std::lock_guard pass(turnstile); }
    return std::shared_lock(mu);
  }
  std::unique_lock<std::shared_mutex> Write() const {
    std::lock_guard hold(turnstile);
    return std::unique_lock(mu);
  }
};

AnnIndex::AnnIndex(uint32_t dim, uint32_t fingerprint)
    : dim_(dim), fingerprint_(fingerprint), g_(std::make_unique<Graph>(dim)) {}
AnnIndex::~AnnIndex() = default;

Result<std::unique_ptr<AnnIndex>> AnnIndex::Build(uint32_t dim, std::span<const uint64_t> ids,
                                                  std::span<const float> vectors, std::span<const float> bias,
                                                  uint32_t fingerprint, const AnnConfig& config) {
  const size_t n = ids.size();
  if (dim == 0 || dim > kMaxDim) return Status::InvalidArgument("ann index: dim must be 1.." + std::to_string(kMaxDim));
  if (config.m < 2 || config.m > kMaxM) return Status::InvalidArgument("ann index: m must be 2..512");
  if (vectors.size() != n * dim) return Status::InvalidArgument("ann index: vectors must hold ids x dim floats");
  if (!bias.empty() && bias.size() != n) return Status::InvalidArgument("ann index: bias must hold one per id");
  if (!AllFinite(vectors) || !AllFinite(bias)) return Status::InvalidArgument("ann index: a float is not finite");
  if (!(config.norm_headroom >= 1) || !std::isfinite(config.norm_headroom))
    return Status::InvalidArgument("ann index: norm_headroom must be at least 1");
  if (std::unordered_set<uint64_t>(ids.begin(), ids.end()).size() != n)
    return Status::InvalidArgument("ann index: ids must be unique");

  std::unique_ptr<AnnIndex> index(new AnnIndex(dim, fingerprint));
  double max_norm2 = 0;
  for (size_t i = 0; i < n; ++i) {
    double norm2 = bias.empty() ? 0.0 : double{bias[i]} * bias[i];
    for (uint32_t f = 0; f < dim; ++f) norm2 += double{vectors[i * dim + f]} * vectors[i * dim + f];
    max_norm2 = std::max(max_norm2, norm2);
  }
  const float bound = static_cast<float>(std::max(1e-3, std::sqrt(max_norm2)) * config.norm_headroom);
  index->g_->bound = bound;
  auto& hnsw = index->g_->hnsw;
  hnsw = std::make_unique<hnswlib::HierarchicalNSW<float>>(&index->g_->space, std::max<size_t>(n, 16), config.m,
                                                           config.ef_construction, config.seed);
  hnsw->setEf(config.ef_search);
  const unsigned threads = std::max(1u, config.build_threads);
  std::exception_ptr failure;
  std::mutex failure_mu;
  auto insert = [&](unsigned t) {
    std::vector<float> point(size_t{dim} + 2);
    try {
      for (size_t i = t; i < n; i += threads) {
        (void)ToPoint(vectors.subspan(i * dim, dim), bias.empty() ? 0.f : bias[i], bound,
                      point.data());  // fits
        hnsw->addPoint(point.data(), ids[i]);
      }
    } catch (...) {
      std::lock_guard lock(failure_mu);
      failure = std::current_exception();
    }
  };
  if (threads == 1) {
    insert(0);
  } else {
    // hnswlib's insertions lock per element, so they may run at once (the graph
    // then depends on the interleaving).
    std::vector<std::thread> pool;
    for (unsigned t = 0; t < threads; ++t) pool.emplace_back(insert, t);
    for (auto& th : pool) th.join();
  }
  if (failure) {
    try {
      std::rethrow_exception(failure);
    } catch (const std::exception& e) {
      return Status::Internal(std::string("ann index: hnswlib: ") + e.what());
    }
  }
  return index;
}

std::string AnnIndex::Encode() const {
  auto lock = g_->Read();
  const auto& h = *g_->hnsw;
  const size_t count = h.cur_element_count;
  std::string body(kBodyFixedBytes, '\0');
  char* p = body.data();
  p = PutFixed32(p, dim_);
  p = PutFixed32(p, static_cast<uint32_t>(h.M_));
  p = PutFixed32(p, static_cast<uint32_t>(h.ef_construction_));
  p = PutFixed32(p, fingerprint_);
  p = PutFixed32(p, std::bit_cast<uint32_t>(g_->bound));
  p = PutFixed64(p, count);
  p = PutFixed32(p, static_cast<uint32_t>(h.maxlevel_));
  PutFixed32(p, h.enterpoint_node_);
  body.append(h.data_level0_memory_, count * h.size_data_per_element_);
  for (size_t i = 0; i < count; ++i) {
    const int level = h.element_levels_[i];
    char word[4];
    PutFixed32(word, static_cast<uint32_t>(level));
    body.append(word, 4);
    if (level > 0) body.append(h.linkLists_[i], h.size_links_per_element_ * level);
  }
  std::string out(kHeaderBytes, '\0');
  std::memcpy(out.data(), kMagic, 8);
  PutFixed32(out.data() + 8, kAnnIndexFormatVersion);
  PutFixed32(out.data() + 12, crc32c::Value(body));
  PutFixed64(out.data() + 16, body.size());
  return out + body;
}

Result<std::unique_ptr<AnnIndex>> AnnIndex::Decode(std::string_view bytes, std::string_view name,
                                                   const AnnConfig& config) {
  if (bytes.size() < kHeaderBytes) return Corrupt(name, "is truncated: " + std::to_string(bytes.size()) + " bytes");
  if (std::memcmp(bytes.data(), kMagic, 8) != 0) return Corrupt(name, "has the wrong magic (not an ann index file)");
  if (const uint32_t v = GetFixed32(bytes.data() + 8); v != kAnnIndexFormatVersion)
    return Corrupt(name, "has format version " + std::to_string(v) + ", this build reads " +
                             std::to_string(kAnnIndexFormatVersion));
  const uint64_t body_len = GetFixed64(bytes.data() + 16);
  const std::string_view body = bytes.substr(kHeaderBytes);
  if (body_len != body.size())
    return Corrupt(name, "is truncated: the header announces " + std::to_string(body_len) +
                             " body bytes, the file holds " + std::to_string(body.size()));
  if (crc32c::Value(body) != GetFixed32(bytes.data() + 12))
    return Corrupt(name, "is damaged: the body's CRC does not match");
  if (body.size() < kBodyFixedBytes) return Corrupt(name, "is inconsistent: the body is too short");

  const char* p = body.data();
  const uint32_t dim = GetFixed32(p), m = GetFixed32(p + 4), efc = GetFixed32(p + 8), fingerprint = GetFixed32(p + 12);
  const float bound = std::bit_cast<float>(GetFixed32(p + 16));
  const uint64_t count = GetFixed64(p + 20);
  const uint32_t max_level = GetFixed32(p + 28), entry = GetFixed32(p + 32);
  if (!(bound > 0) || !std::isfinite(bound))
    return Corrupt(name, "is inconsistent: norm bound " + std::to_string(bound));
  if (dim == 0 || dim > kMaxDim) return Corrupt(name, "is inconsistent: dim " + std::to_string(dim));
  if (m < 2 || m > kMaxM || efc < m || efc > 100'000)
    return Corrupt(name, "is inconsistent: m " + std::to_string(m) + ", ef_construction " + std::to_string(efc));
  const size_t s0 = Level0Bytes(dim, m), su = UpperBytes(m);
  size_t pos = kBodyFixedBytes;
  if (count > (body.size() - pos) / s0)
    return Corrupt(name, "is inconsistent: " + std::to_string(count) + " elements do not fit");
  const char* level0 = p + pos;
  pos += count * s0;

  // Every element's levels and upper links first: the level-0 and upper checks
  // need every element's level.
  std::vector<int> levels(count);
  std::vector<const char*> upper(count, nullptr);
  uint32_t top = 0;
  for (size_t i = 0; i < count; ++i) {
    if (body.size() - pos < 4) return Corrupt(name, "is truncated at element " + std::to_string(i));
    const uint32_t level = GetFixed32(p + pos);
    pos += 4;
    if (level > kMaxLevel)
      return Corrupt(name, "is inconsistent: element " + std::to_string(i) + " has level " + std::to_string(level));
    if ((body.size() - pos) / su < level) return Corrupt(name, "is truncated at element " + std::to_string(i));
    levels[i] = static_cast<int>(level);
    upper[i] = p + pos;
    pos += level * su;
    top = std::max(top, level);
  }
  if (pos != body.size())
    return Corrupt(name, "is inconsistent: " + std::to_string(body.size() - pos) + " bytes follow the graph");
  if (count == 0 ? (entry != kNoEntry || max_level != kNoEntry)
                 : (entry >= count || max_level != top || static_cast<uint32_t>(levels[entry]) != top))
    return Corrupt(name,
                   "is inconsistent: entry point " + std::to_string(entry) + " at level " + std::to_string(max_level));
  std::unordered_set<uint64_t> labels;
  const size_t vector_off = 4 + 8 * size_t{m};
  for (size_t i = 0; i < count; ++i) {
    const char* e = level0 + i * s0;
    const auto self = static_cast<uint32_t>(i);
    if (!LinksValid(e, 2 * size_t{m}, self, 0, levels))
      return Corrupt(name, "is inconsistent: element " + std::to_string(i) + " has a bad level-0 link list");
    for (int l = 1; l <= levels[i]; ++l)
      if (!LinksValid(upper[i] + (l - 1) * su, m, self, l, levels))
        return Corrupt(name, "is inconsistent: element " + std::to_string(i) + " has a bad level-" + std::to_string(l) +
                                 " link list");
    std::vector<float> v(size_t{dim} + 2);
    std::memcpy(v.data(), e + vector_off, v.size() * 4);
    if (!AllFinite(v))
      return Corrupt(name, "is inconsistent: element " + std::to_string(i) + " has a float that is not finite");
    if (!labels.insert(GetFixed64(e + vector_off + v.size() * 4)).second)
      return Corrupt(name, "is inconsistent: element " + std::to_string(i) + " repeats an id");
  }

  std::unique_ptr<AnnIndex> index(new AnnIndex(dim, fingerprint));
  index->g_->bound = bound;
  auto& h = index->g_->hnsw;
  h = std::make_unique<hnswlib::HierarchicalNSW<float>>(&index->g_->space, std::max<size_t>(count, 16), m, efc);
  if (h->size_data_per_element_ != s0 || h->size_links_per_element_ != su || h->ef_construction_ != efc)
    return Status::Internal(
        "ann index: hnswlib's layout differs from the "
        "file's (another hnswlib version?)");
  std::memcpy(h->data_level0_memory_, level0, count * s0);
  for (size_t i = 0; i < count; ++i) {
    h->element_levels_[i] = levels[i];
    h->linkLists_[i] = nullptr;
    if (levels[i] > 0) {
      h->linkLists_[i] = static_cast<char*>(std::malloc(su * levels[i]));
      if (h->linkLists_[i] == nullptr) return Status::Internal("ann index: out of memory");
      std::memcpy(h->linkLists_[i], upper[i], su * levels[i]);
    }
    h->label_lookup_[h->getExternalLabel(static_cast<hnswlib::tableint>(i))] = static_cast<hnswlib::tableint>(i);
    h->cur_element_count = i + 1;  // the destructor frees the lists of the elements counted so far
  }
  h->cur_element_count = count;
  h->maxlevel_ = static_cast<int>(max_level);
  h->enterpoint_node_ = entry;
  h->setEf(config.ef_search);
  return index;
}

Status AnnIndex::Save(FileSystem* fs, const std::string& path) const {
  return WriteFileAtomically(fs, path, Encode(), {}, ".ann.tmp");
}

Result<std::unique_ptr<AnnIndex>> AnnIndex::Load(FileSystem* fs, const std::string& path, uint32_t fingerprint,
                                                 const AnnConfig& config) {
  if (!fs->FileExists(path)) return Status::NotFound(path + ": no ann index");
  ASSIGN_OR_RETURN(std::string bytes, ReadWholeFile(fs, path));
  ASSIGN_OR_RETURN(auto index, Decode(bytes, path, config));
  if (index->fingerprint() != fingerprint)
    return Status::FailedPrecondition(path + ": ann index was built from model fingerprint " +
                                      std::to_string(index->fingerprint()) + ", not " + std::to_string(fingerprint));
  return index;
}

Status AnnIndex::Add(uint64_t id, std::span<const float> vector, float bias) {
  if (vector.size() != dim_)
    return Status::InvalidArgument("ann index: a vector of " + std::to_string(vector.size()) + " floats, not " +
                                   std::to_string(dim_));
  if (!AllFinite(vector) || !std::isfinite(bias)) return Status::InvalidArgument("ann index: a float is not finite");
  std::vector<float> point(size_t{dim_} + 2);
  RETURN_IF_ERROR(ToPoint(vector, bias, g_->bound, point.data()));
  auto lock = g_->Write();
  auto& h = *g_->hnsw;
  try {
    if (h.label_lookup_.count(id) != 0)
      return Status::InvalidArgument("ann index: item " + std::to_string(id) + " is already indexed");
    if (h.cur_element_count == h.max_elements_) h.resizeIndex(h.max_elements_ * 2);
    h.addPoint(point.data(), id);
  } catch (const std::exception& e) {
    return Status::Internal(std::string("ann index: hnswlib: ") + e.what());
  }
  return Status::Ok();
}

Result<std::vector<AnnHit>> AnnIndex::Query(std::span<const float> user, size_t k) const {
  if (user.size() != dim_)
    return Status::InvalidArgument("ann index: a query of " + std::to_string(user.size()) + " floats, not " +
                                   std::to_string(dim_));
  std::vector<float> q(user.begin(), user.end());
  q.push_back(1.f);
  q.push_back(0.f);
  double q2 = 0;
  for (float x : q) q2 += double{x} * x;
  // |q' − p|² = |q'|² + bound² − 2 score.
  const double offset = q2 + double{g_->bound} * g_->bound;
  std::vector<AnnHit> hits;
  auto lock = g_->Read();
  auto top = g_->hnsw->searchKnn(q.data(), std::min(k, g_->hnsw->cur_element_count));
  hits.resize(top.size());
  for (size_t i = hits.size(); i-- > 0; top.pop())
    hits[i] = {top.top().second, static_cast<float>((offset - top.top().first) / 2)};
  return hits;
}

void AnnIndex::SetEf(uint32_t ef) {
  auto lock = g_->Write();
  g_->hnsw->setEf(ef);
}

size_t AnnIndex::size() const {
  auto lock = g_->Read();
  return g_->hnsw->cur_element_count;
}

bool AnnIndex::Contains(uint64_t id) const {
  auto lock = g_->Read();
  return g_->hnsw->label_lookup_.count(id) > 0;
}

std::string AnnIndexPath(const std::string& registry_root, const std::string& name, uint32_t version) {
  return JoinPath(JoinPath(JoinPath(registry_root, name), std::to_string(version)), kAnnIndexFile);
}

Result<OpenedAnnIndex> OpenOrBuildAnnIndex(FileSystem* fs, const std::string& registry_root,
                                           const ModelRegistry::Loaded& model, const AnnConfig& config) {
  const ModelManifest& m = model.manifest;
  if (m.dim == 0)
    return Status::FailedPrecondition("model " + m.name + "@" + std::to_string(m.version) + " (" + m.model +
                                      ") has no item embeddings to index");
  const std::string path = AnnIndexPath(registry_root, m.name, m.version);
  OpenedAnnIndex out;
  auto loaded = AnnIndex::Load(fs, path, m.weights_crc32c, config);
  if (loaded.ok() && (*loaded)->size() >= m.items) {
    out.index = std::move(*loaded);
    return out;
  }
  if (!loaded.ok() && loaded.status().code() != StatusCode::kNotFound) out.reason = loaded.status().message();
  if (loaded.ok()) out.reason = path + ": ann index holds fewer items than the model";

  ASSIGN_OR_RETURN(const auto* names, model.weights.Strings("item_ids", m.items));
  ASSIGN_OR_RETURN(const auto* vectors, model.weights.F32("item_vectors", m.items * m.dim));
  ASSIGN_OR_RETURN(const auto* bias, model.weights.F32("item_bias", m.items));
  std::vector<uint64_t> ids(names->size());
  for (size_t i = 0; i < ids.size(); ++i) {
    const std::string& s = (*names)[i];
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), ids[i]);
    if (ec != std::errc() || end != s.data() + s.size() || s.empty())
      return Status::InvalidArgument("model " + m.name + "@" + std::to_string(m.version) + ": item id '" + s +
                                     "' is not a decimal id");
  }
  ASSIGN_OR_RETURN(out.index, AnnIndex::Build(m.dim, ids, *vectors, *bias, m.weights_crc32c, config));
  out.rebuilt = true;
  if (Status s = out.index->Save(fs, path); !s.ok())
    out.reason += (out.reason.empty() ? "" : "; ") + std::string("not saved: ") + s.message();
  return out;
}

}  // namespace watershed::recs
