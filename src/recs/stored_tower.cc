#include "recs/stored_tower.h"

namespace watershed::recs {

Result<StoredItemTower> StoredItemTower::FromLoaded(const ModelRegistry::Loaded& loaded) {
  const ModelManifest& m = loaded.manifest;
  const ArrayFile& w = loaded.weights;
  const std::string model = m.name + "@" + std::to_string(m.version);
  if (m.model != "two-tower" && m.model != "ranker")
    return Status::FailedPrecondition("model " + model + " is " + m.model +
                                      ": only two-tower and ranker models have "
                                      "an item tower to embed new items");
  if (m.format_version < 2)
    return Status::FailedPrecondition("model " + model + " is of format " + std::to_string(m.format_version) +
                                      ", stored before the item tower's vocabulary: retrain it to embed new "
                                      "items");
  StoredItemTower t;
  t.d_ = m.dim;
  const size_t d = m.dim;
  // Shapes were checked by CheckModelArrays when the model was loaded.
  ASSIGN_OR_RETURN(const std::vector<float>* wi, w.F32("tower.wi", 2 * d * d));
  ASSIGN_OR_RETURN(const std::vector<float>* bi, w.F32("tower.bi", d));
  ASSIGN_OR_RETURN(const std::vector<float>* vb, w.F32("tower.v", 2 * d));
  ASSIGN_OR_RETURN(const std::vector<float>* cb, w.F32("tower.c", 1));
  ASSIGN_OR_RETURN(const std::vector<float>* feature, w.F32("tower.feature", ArrayFile::kAnyCount));
  ASSIGN_OR_RETURN(const std::vector<std::string>* names, w.Strings("tower.features", feature->size() / d));
  ASSIGN_OR_RETURN(const std::vector<float>* tau, w.F32("tower.temperature", 1));
  ASSIGN_OR_RETURN(const std::vector<std::string>* users, w.Strings("user_ids", m.users));
  ASSIGN_OR_RETURN(const std::vector<float>* user_vectors, w.F32("user_vectors", m.users * d));
  t.wi_ = *wi;
  t.bi_ = *bi;
  t.vb_ = *vb;
  t.cb_ = (*cb)[0];
  t.feature_ = *feature;
  t.temperature_ = (*tau)[0];
  t.vocabulary_ = FeatureVocabulary(*names);
  for (uint32_t u = 0; u < users->size(); ++u) t.users_.try_emplace((*users)[u], u);
  t.user_vectors_ = *user_vectors;
  return t;
}

TwoTowerModel::ItemEmbedding StoredItemTower::EmbedItem(const ItemDescription& item, size_t* unknown) const {
  const std::vector<uint32_t> ids = vocabulary_.Ids(item, unknown);
  // As TwoTowerModel::EmbedNewItem computes it: no id part, the pooled feature
  // embeddings, the bias head.
  std::vector<float> x(2 * size_t{d_});
  TwoTowerModel::ItemEmbedding out{std::vector<float>(d_), 0};
  TowerForward<float>(wi_.data(), bi_.data(), nullptr, feature_.data(), ids.data(), ids.size(), d_, x.data(),
                      out.vector.data());
  out.bias = ItemBias(vb_.data(), cb_, x.data(), d_) * temperature_;
  return out;
}

Result<std::span<const float>> StoredItemTower::UserVector(std::string_view user) const {
  auto it = users_.find(std::string(user));
  if (it == users_.end()) return Status::NotFound("the model has no user '" + std::string(user) + "'");
  return std::span<const float>(&user_vectors_[size_t{it->second} * d_], d_);
}

float StoredItemTower::Score(std::span<const float> user, const TwoTowerModel::ItemEmbedding& item) {
  float s = item.bias;
  for (size_t f = 0; f < user.size() && f < item.vector.size(); ++f) s += user[f] * item.vector[f];
  return s;
}

ItemDescription DescribeItem(const Dataset& data, uint32_t item) {
  ItemDescription out;
  if (item >= data.features.size()) return out;
  const ItemFeatures& f = data.features[item];
  for (uint32_t t : f.tags)
    if (t < data.tag_names.size()) out.tags.push_back(data.tag_names[t]);
  out.author = f.author;
  out.language = f.language;
  return out;
}

}  // namespace watershed::recs
