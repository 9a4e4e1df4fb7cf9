#include "recs/stored_model.h"

#include <cmath>

namespace watershed::recs {
namespace {

template <typename T>
Status Present(const Result<T>& r) {
  return r.ok() ? Status::Ok() : r.status();
}

void PutIds(const Dataset& data, ArrayFile* f) {
  std::vector<std::string> users(data.num_users()), items(data.num_items());
  for (uint32_t u = 0; u < users.size(); ++u) users[u] = data.users.Name(u);
  for (uint32_t i = 0; i < items.size(); ++i) items[i] = data.items.Name(i);
  f->Put("user_ids", std::move(users));
  f->Put("item_ids", std::move(items));
}

ArrayFile Factors(const Dataset& data, std::vector<float> users, std::vector<float> items, std::vector<float> bias) {
  ArrayFile f;
  f.kind = "model";
  PutIds(data, &f);
  f.Put("user_vectors", std::move(users));
  f.Put("item_vectors", std::move(items));
  f.Put("item_bias", std::move(bias));
  return f;
}

void PutTower(const TowerBlock<float>& p, ArrayFile* f) {
  const std::pair<const char*, const std::vector<float>*> parts[] = {
      {"user", &p.user}, {"item", &p.item}, {"history", &p.history}, {"feature", &p.feature},
      {"wu", &p.wu},     {"bu", &p.bu},     {"wi", &p.wi},           {"bi", &p.bi},
      {"v", &p.vb},      {"c", &p.cb}};
  for (const auto& [name, v] : parts) f->Put(std::string("tower.") + name, *v);
}

}  // namespace

ArrayFile ExportPopularity(const Dataset& data, const PopularityModel& m) {
  std::vector<float> counts(data.num_items());
  m.Score(0, counts);
  return Factors(data, {}, {}, std::move(counts));
}

ArrayFile ExportBpr(const Dataset& data, const BprModel& m) {
  return Factors(data, m.user_factors(), m.item_factors(), m.item_bias());
}

ArrayFile ExportTwoTower(const Dataset& data, const TwoTowerModel& m) {
  const size_t d = m.dim();
  std::vector<float> users(m.num_users() * d), items(m.num_items() * d), bias(m.num_items());
  for (uint32_t u = 0; u < m.num_users(); ++u) std::copy_n(m.UserVector(u).data(), d, &users[u * d]);
  for (uint32_t i = 0; i < m.num_items(); ++i) {
    std::copy_n(m.ItemVector(i).data(), d, &items[i * d]);
    bias[i] = m.ItemScoreBias(i);
  }
  ArrayFile f = Factors(data, std::move(users), std::move(items), std::move(bias));
  PutTower(m.parameters(), &f);
  // What a new item's embedding needs besides the weights (format 2): the
  // feature vocabulary the model was trained with (TwoTowerFeatures of the same
  // data) and the temperature its bias is scaled by.
  f.Put("tower.features", TwoTowerFeatures(data).names);
  f.Put("tower.temperature", std::vector<float>{m.temperature()});
  return f;
}

ArrayFile ExportRanker(const Dataset& data, const RankerModel& m) {
  ArrayFile f = ExportTwoTower(data, *m.two_tower());
  const RankerWeights& w = m.weights();
  std::vector<float> weights(w.w.begin(), w.w.end());
  weights.push_back(w.bias);
  f.Put("ranker.weights", std::move(weights));
  f.Put("ranker.mean", std::vector<float>(w.mean.begin(), w.mean.end()));
  f.Put("ranker.scale", std::vector<float>(w.scale.begin(), w.scale.end()));
  return f;
}

FactorScorer::FactorScorer(size_t dim, std::vector<float> user_vectors, const std::vector<float>& item_vectors,
                           std::vector<float> item_bias)
    : d_(dim), users_(std::move(user_vectors)), bias_(std::move(item_bias)) {
  const size_t n = bias_.size();
  item_by_factor_.resize(d_ * n);
  for (size_t i = 0; i < n; ++i)
    for (size_t f = 0; f < d_; ++f) item_by_factor_[f * n + i] = item_vectors[i * d_ + f];
}

void FactorScorer::Score(uint32_t user, std::span<float> out) const {
  ScoreFactorMajor(d_ ? &users_[size_t{user} * d_] : nullptr, d_, bias_, item_by_factor_, out);
}

Status CheckModelArrays(const ModelManifest& m, const ArrayFile& w) {
  if (w.kind != "model") return Status::Corruption(w.path + ": holds a '" + w.kind + "', not a model");
  const size_t users = m.users, items = m.items, d = m.dim;
  if (m.model == "popularity" && d != 0)
    return Status::Corruption(w.path + ": popularity with dim " + std::to_string(d));
  if (m.model != "popularity" && d == 0) return Status::Corruption(w.path + ": " + m.model + " with dim 0");
  RETURN_IF_ERROR(Present(w.Strings("user_ids", users)));
  RETURN_IF_ERROR(Present(w.Strings("item_ids", items)));
  RETURN_IF_ERROR(Present(w.F32("user_vectors", m.model == "popularity" ? 0 : users * d)));
  RETURN_IF_ERROR(Present(w.F32("item_vectors", m.model == "popularity" ? 0 : items * d)));
  RETURN_IF_ERROR(Present(w.F32("item_bias", items)));
  if (m.model == "two-tower" || m.model == "ranker") {
    for (const auto& [name, count] : std::vector<std::pair<const char*, size_t>>{{"tower.wu", 2 * d * d},
                                                                                 {"tower.bu", d},
                                                                                 {"tower.wi", 2 * d * d},
                                                                                 {"tower.bi", d},
                                                                                 {"tower.v", 2 * d},
                                                                                 {"tower.c", 1}})
      RETURN_IF_ERROR(Present(w.F32(name, count)));
    for (const char* name : {"tower.user", "tower.item", "tower.history", "tower.feature"}) {
      ASSIGN_OR_RETURN(const std::vector<float>* v, w.F32(name, ArrayFile::kAnyCount));
      if (v->size() % d != 0)
        return Status::Corruption(w.path + ": array '" + std::string(name) + "' is not a whole number of rows");
    }
    if (m.format_version >= 2) {  // the item tower's vocabulary: one name per feature row
      const size_t rows = w.F32("tower.feature", ArrayFile::kAnyCount).value()->size() / d;
      RETURN_IF_ERROR(Present(w.Strings("tower.features", rows)));
      ASSIGN_OR_RETURN(const std::vector<float>* tau, w.F32("tower.temperature", 1));
      if (!((*tau)[0] > 0)) return Status::Corruption(w.path + ": array 'tower.temperature' must be > 0");
    }
  }
  if (m.model == "ranker") {
    RETURN_IF_ERROR(Present(w.F32("ranker.weights", kRankerFeatures + 1)));
    RETURN_IF_ERROR(Present(w.F32("ranker.mean", kRankerFeatures)));
    ASSIGN_OR_RETURN(const std::vector<float>* scale, w.F32("ranker.scale", kRankerFeatures));
    for (float s : *scale)
      if (!(s > 0)) return Status::Corruption(w.path + ": array 'ranker.scale' holds a scale <= 0");
    if (m.config.count("candidates") == 0)
      return Status::Corruption(w.path + ": the ranker's manifest has no config \"candidates\"");
  }
  for (const auto& [name, a] : w.arrays)
    for (float v : a.f32)
      if (!std::isfinite(v)) return Status::Corruption(w.path + ": array '" + name + "' holds a non-finite value");
  return Status::Ok();
}

Result<std::unique_ptr<Scorer>> ScorerFromStored(const ModelRegistry::Loaded& loaded, const Dataset& data,
                                                 const std::vector<Interaction>& train) {
  const ModelManifest& m = loaded.manifest;
  const ArrayFile& w = loaded.weights;
  if (m.users != data.num_users() || m.items != data.num_items())
    return Status::FailedPrecondition("model " + m.name + "@" + std::to_string(m.version) + " has " +
                                      std::to_string(m.users) + " users and " + std::to_string(m.items) +
                                      " items, the data " + std::to_string(data.num_users()) + " and " +
                                      std::to_string(data.num_items()));
  ASSIGN_OR_RETURN(const std::vector<std::string>* item_ids, w.Strings("item_ids", m.items));
  for (uint32_t i = 0; i < m.items; ++i)
    if ((*item_ids)[i] != data.items.Name(i))
      return Status::FailedPrecondition("model " + m.name + ": item " + std::to_string(i) + " is '" + (*item_ids)[i] +
                                        "', in the data '" + data.items.Name(i) + "'");
  ASSIGN_OR_RETURN(const std::vector<float>* users, w.F32("user_vectors", ArrayFile::kAnyCount));
  ASSIGN_OR_RETURN(const std::vector<float>* items, w.F32("item_vectors", ArrayFile::kAnyCount));
  ASSIGN_OR_RETURN(const std::vector<float>* bias, w.F32("item_bias", m.items));
  auto factors = std::make_shared<FactorScorer>(m.dim, *users, *items, *bias);
  if (m.model != "ranker") return std::unique_ptr<Scorer>(std::make_unique<FactorScorer>(std::move(*factors)));
  RankerWeights rw;
  const std::vector<float>& weights = *w.F32("ranker.weights", kRankerFeatures + 1).value();
  const std::vector<float>& mean = *w.F32("ranker.mean", kRankerFeatures).value();
  const std::vector<float>& scale = *w.F32("ranker.scale", kRankerFeatures).value();
  for (size_t f = 0; f < kRankerFeatures; ++f) {
    rw.w[f] = weights[f];
    rw.mean[f] = mean[f];
    rw.scale[f] = scale[f];
  }
  rw.bias = weights[kRankerFeatures];
  uint32_t candidates = 0;
  try {
    candidates = static_cast<uint32_t>(std::stoul(m.config.at("candidates")));
  } catch (...) {
  }
  if (candidates == 0) return Status::Corruption(m.name + ": the ranker's config \"candidates\" must be a number >= 1");
  return std::unique_ptr<Scorer>(
      std::make_unique<RankerModel>(RankerModel::FromParts(factors, rw, data, train, candidates)));
}

}  // namespace watershed::recs
