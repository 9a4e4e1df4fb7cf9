#pragma once
// The two-tower item tower's feature vocabulary (docs/recs.md, "New items from
// a stored model"): each feature id of the tower's feature table has a name —
// "tag:<tag>", "author:<author id>", "language:<code>" — stored with the model,
// so an item described by its catalogue features maps to the ids the model was
// trained with, in any process, whatever the numbering of the data it is
// described in.

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace watershed::recs {

enum class FeatureKind { kTag, kAuthor, kLanguage };

inline std::string FeatureName(FeatureKind kind, std::string_view value) {
  const char* prefix = kind == FeatureKind::kTag ? "tag:" : kind == FeatureKind::kAuthor ? "author:" : "language:";
  return prefix + std::string(value);
}

// An item as its catalogue describes it: tag texts, the author's id, the
// language.
struct ItemDescription {
  std::vector<std::string> tags;
  std::string author;    // empty: none
  std::string language;  // empty: none
};

class FeatureVocabulary {
 public:
  FeatureVocabulary() = default;
  // names[id] is feature id's name; a repeated name keeps its first id.
  explicit FeatureVocabulary(const std::vector<std::string>& names) {
    for (uint32_t id = 0; id < names.size(); ++id) ids_.try_emplace(names[id], id);
  }
  // The ids of the item's features the vocabulary knows, in tag, author,
  // language order; features the model never saw have no embedding and are left
  // out (counted in *unknown when given).
  std::vector<uint32_t> Ids(const ItemDescription& item, size_t* unknown = nullptr) const {
    std::vector<uint32_t> out;
    size_t missing = 0;
    const auto add = [&](FeatureKind kind, std::string_view value) {
      auto it = ids_.find(FeatureName(kind, value));
      if (it == ids_.end()) {
        ++missing;
      } else {
        out.push_back(it->second);
      }
    };
    for (const std::string& t : item.tags) add(FeatureKind::kTag, t);
    if (!item.author.empty()) add(FeatureKind::kAuthor, item.author);
    if (!item.language.empty()) add(FeatureKind::kLanguage, item.language);
    if (unknown) *unknown = missing;
    return out;
  }
  size_t size() const { return ids_.size(); }

 private:
  std::unordered_map<std::string, uint32_t> ids_;
};

}  // namespace watershed::recs
