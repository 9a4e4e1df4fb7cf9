#pragma once
// An HNSW index over a model's item embeddings (docs/recs.md, "Candidates"),
// for the `ann` candidates: the items with the highest score(u, i) = bias_i +
// <user_u, item_i> — the ranking form every stored model has (stored_model.h).
// Each item is indexed as the (dim + 2)-vector [item_i, bias_i, sqrt(B² −
// |item_i|² − bias_i²)] in L2 space and queried with [user_u, 1, 0]: the L2
// nearest is the highest score, so the index ranks as the model does. Backed by
// Debian's hnswlib (0.6.2), kept out of this header.
//
// Persisted next to a model version as <registry>/<name>/<version>/ann.hnsw
// (AnnIndexPath): a 24-byte header (magic "WSANNIDX", format version u32,
// CRC-32C of the body u32, body length u64), then the body: dim, M,
// ef_construction, the model's fingerprint (its weights.bin CRC-32C), the norm
// bound B, element count, top level, entry point, the graph's level-0 block and
// each element's upper-level links (hnswlib's own memory layout,
// little-endian). Decode checks the header and CRC, then every count, level and
// link (a link to an element that does not exist at that level would make
// hnswlib read out of bounds), every label unique and every float finite — so
// no file, however damaged or crafted, reaches hnswlib unchecked (fuzzed:
// fuzz/recs_ann_index_fuzz.cc).
//
// Thread safety: Query and the accessors may run from any number of threads at
// once; Add (online insertion of a new item, no rebuild) and SetEf take an
// exclusive lock, so a query sees the index before or after an insertion.

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/file_system.h"
#include "core/status.h"
#include "recs/registry.h"

namespace watershed::recs {

struct AnnConfig {
  uint32_t m = 16;                 // links per element and level (level 0: 2·m); 2..512
  uint32_t ef_construction = 200;  // candidate list while inserting
  uint32_t ef_search = 128;        // candidate list while querying (at least k is used)
  uint32_t build_threads = 1;      // 1: the same input gives the same graph (and the same bytes)
  uint64_t seed = 100;             // of the level generator
  // Every point is lifted to one norm, the bound: the longest item at Build
  // times this (see ann_index.cc, ToPoint). An item added online may be at most
  // that long (else kFailedPrecondition: rebuild).
  float norm_headroom = 1.25f;
};

struct AnnHit {
  uint64_t item = 0;  // the id given at Build/Add
  float score = 0;    // bias + <user, item>
};

class AnnIndex {
 public:
  ~AnnIndex();
  AnnIndex(const AnnIndex&) = delete;
  AnnIndex& operator=(const AnnIndex&) = delete;

  // `vectors` holds ids.size() rows of `dim` floats; `bias` ids.size() values
  // (empty: all 0). Ids must be unique, floats finite (kInvalidArgument
  // otherwise). `fingerprint` binds the index to the model it was built from.
  static Result<std::unique_ptr<AnnIndex>> Build(uint32_t dim, std::span<const uint64_t> ids,
                                                 std::span<const float> vectors, std::span<const float> bias,
                                                 uint32_t fingerprint, const AnnConfig& config = {});

  // The file's bytes (deterministic for a graph). Holds the items added online
  // too.
  std::string Encode() const;
  // kCorruption "NAME: ann index ..." saying what is wrong. config.ef_search is
  // the query setting of the result (the graph's m and ef_construction come
  // from the file).
  static Result<std::unique_ptr<AnnIndex>> Decode(std::string_view bytes, std::string_view name,
                                                  const AnnConfig& config = {});
  Status Save(FileSystem* fs,
              const std::string& path) const;  // WriteFileAtomically
  // kNotFound without a file; Decode's errors; kFailedPrecondition "PATH: ann
  // index was built from model fingerprint X, not Y" for an index of another
  // model (e.g. a file copied from another version).
  static Result<std::unique_ptr<AnnIndex>> Load(FileSystem* fs, const std::string& path, uint32_t fingerprint,
                                                const AnnConfig& config = {});

  // Inserts an item online (no rebuild; grows the graph's capacity as needed).
  // kInvalidArgument for an id already present (items are immutable once
  // indexed: hnswlib's in-place update repairs its neighbours' links, a path
  // serving never needs and UBSan faults in), for a vector of another size or
  // a float that is not finite; kFailedPrecondition for an item longer than
  // the index's norm bound (AnnConfig::norm_headroom).
  Status Add(uint64_t id, std::span<const float> vector, float bias = 0);
  // The k items of highest score, best first (fewer when the index holds
  // fewer). `user` has dim() floats (kInvalidArgument otherwise). Cost: O(ef ·
  // m · log n) distance computations of dim + 2 floats.
  Result<std::vector<AnnHit>> Query(std::span<const float> user, size_t k) const;
  void SetEf(uint32_t ef);

  uint32_t dim() const { return dim_; }
  uint32_t fingerprint() const { return fingerprint_; }
  size_t size() const;
  bool Contains(uint64_t id) const;

 private:
  struct Graph;  // the hnswlib index and its space (ann_index.cc)
  AnnIndex(uint32_t dim, uint32_t fingerprint);

  uint32_t dim_;
  uint32_t fingerprint_;
  std::unique_ptr<Graph> g_;
};

inline constexpr uint32_t kAnnIndexFormatVersion = 1;
inline constexpr char kAnnIndexFile[] = "ann.hnsw";

// <root>/<name>/<version>/ann.hnsw: the registry's version directory of that
// model.
std::string AnnIndexPath(const std::string& registry_root, const std::string& name, uint32_t version);

// A loaded model version's item embeddings (item_ids parsed as decimal ids,
// item_vectors, item_bias) in an index: the version's ann.hnsw when it loads
// and is this model's; otherwise the index is built and saved there. `rebuilt`
// says whether it was built and `reason` why (the load error; empty when there
// was no file).
struct OpenedAnnIndex {
  std::unique_ptr<AnnIndex> index;
  bool rebuilt = false;
  std::string reason;
};
Result<OpenedAnnIndex> OpenOrBuildAnnIndex(FileSystem* fs, const std::string& registry_root,
                                           const ModelRegistry::Loaded& model, const AnnConfig& config = {});

}  // namespace watershed::recs
