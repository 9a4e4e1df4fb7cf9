#pragma once
// The recommender's data model: interactions between users and items with
// dense internal ids (0..n-1, in order of first appearance), and the items'
// features. External ids (the file's) are kept as strings for output.

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace watershed::recs {

// One positive interaction: `user` engaged with `item`. `weight` is the
// source's rating or weight (kept for later weighted models; the models of
// this slice treat every interaction as one positive). `timestamp` is unix
// seconds (0 when the source has none).
struct Interaction {
  uint32_t user = 0;
  uint32_t item = 0;
  float weight = 1;
  int64_t timestamp = 0;
};

struct ItemFeatures {
  std::vector<uint32_t> tags;  // indexes into Dataset::tag_names (MovieLens genres)
  std::string title;           // bytes as in the file (MovieLens 100K/1M titles are latin-1)
  std::string author;          // empty when the source has none
  std::string language;        // empty when the source has none
  int64_t created_at = 0;      // unix seconds; 0 when unknown
};

// External id string -> dense id, assigned in order of first appearance.
class IdMap {
 public:
  uint32_t Intern(std::string_view external);
  // -1 when unknown.
  int64_t Find(std::string_view external) const;
  const std::string& Name(uint32_t id) const { return names_[id]; }
  size_t size() const { return names_.size(); }

 private:
  std::unordered_map<std::string, uint32_t> ids_;
  std::vector<std::string> names_;
};

struct Dataset {
  IdMap users;
  IdMap items;                         // every item of the ratings file and of the items file
  std::vector<ItemFeatures> features;  // one per item (empty features when the items file lacks it)
  std::vector<std::string> tag_names;
  std::vector<Interaction> interactions;  // positives only, in file order
  size_t below_threshold = 0;             // ratings read but below --positive-rating, dropped

  size_t num_users() const { return users.size(); }
  size_t num_items() const { return items.size(); }
};

}  // namespace watershed::recs
