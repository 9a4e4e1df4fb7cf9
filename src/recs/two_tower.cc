#include "recs/two_tower.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <unordered_map>

#include "recs/rng.h"
#include "recs/split.h"

namespace watershed::recs {
namespace {

// Global row id -> the batch's local row id, in order of first use.
class Gatherer {
 public:
  explicit Gatherer(size_t n) : slot_(n, -1) {}
  uint32_t Local(uint32_t global) {
    int32_t& s = slot_[global];
    if (s < 0) {
      s = static_cast<int32_t>(globals_.size());
      globals_.push_back(global);
    }
    return static_cast<uint32_t>(s);
  }
  const std::vector<uint32_t>& globals() const { return globals_; }
  void Reset() {
    for (uint32_t g : globals_) slot_[g] = -1;
    globals_.clear();
  }

 private:
  std::vector<int32_t> slot_;
  std::vector<uint32_t> globals_;
};

// Per user, the last `n` items by time (ties: the later in `xs`), oldest first, as compressed rows.
struct Histories {
  std::vector<uint32_t> offsets, items;
  std::span<const uint32_t> Of(uint32_t u) const { return {items.data() + offsets[u], items.data() + offsets[u + 1]}; }
};
Histories LastItems(size_t num_users, const std::vector<Interaction>& xs, uint32_t n) {
  std::vector<std::vector<size_t>> by(num_users);
  for (size_t k = 0; k < xs.size(); ++k) by[xs[k].user].push_back(k);
  Histories h;
  h.offsets.push_back(0);
  for (auto& mine : by) {
    std::stable_sort(mine.begin(), mine.end(), [&](size_t a, size_t b) { return xs[a].timestamp < xs[b].timestamp; });
    for (size_t k = mine.size() > n ? mine.size() - n : 0; k < mine.size(); ++k) h.items.push_back(xs[mine[k]].item);
    h.offsets.push_back(static_cast<uint32_t>(h.items.size()));
  }
  return h;
}

void LoadRows(std::vector<float>& table, const std::vector<uint32_t>& rows, size_t d, std::vector<float>& local) {
  local.resize(rows.size() * d);
  for (size_t r = 0; r < rows.size(); ++r) HogwildLoad(&table[rows[r] * d], &local[r * d], d);
}

// Adagrad on n shared parameters: acc += g^2; param -= lr g / sqrt(acc).
void Adagrad(float* param, float* acc, const float* g, size_t n, float lr) {
  for (size_t k = 0; k < n; ++k) {
    if (g[k] == 0) continue;
    std::atomic_ref<float> a(acc[k]), p(param[k]);
    const float sum = a.load(std::memory_order_relaxed) + g[k] * g[k];
    a.store(sum, std::memory_order_relaxed);
    p.store(p.load(std::memory_order_relaxed) - lr * g[k] / std::sqrt(sum), std::memory_order_relaxed);
  }
}
void AdagradRows(std::vector<float>& table, std::vector<float>& acc, const std::vector<uint32_t>& rows, size_t d,
                 const std::vector<float>& g, float lr) {
  for (size_t r = 0; r < rows.size(); ++r) Adagrad(&table[rows[r] * d], &acc[rows[r] * d], &g[r * d], d, lr);
}

constexpr float kAdagradInitial = 0.1f;  // the accumulators' start (bounds the first steps)

}  // namespace

ItemFeatureIds TwoTowerFeatures(const Dataset& data) {
  ItemFeatureIds ids;
  ids.count = data.tag_names.size();
  for (const std::string& tag : data.tag_names) ids.names.push_back(FeatureName(FeatureKind::kTag, tag));
  std::unordered_map<std::string, uint32_t> others;  // "author:..." and "language:..." -> id
  const auto intern = [&](const std::string& name) {
    auto [it, fresh] = others.try_emplace(name, static_cast<uint32_t>(ids.count));
    if (fresh) {
      ++ids.count;
      ids.names.push_back(name);
    }
    return it->second;
  };
  ids.of.resize(data.num_items());
  for (size_t i = 0; i < data.features.size() && i < ids.of.size(); ++i) {
    const ItemFeatures& f = data.features[i];
    ids.of[i] = f.tags;
    if (!f.author.empty()) ids.of[i].push_back(intern(FeatureName(FeatureKind::kAuthor, f.author)));
    if (!f.language.empty()) ids.of[i].push_back(intern(FeatureName(FeatureKind::kLanguage, f.language)));
  }
  return ids;
}

void TwoTowerModel::EmbedItems() {
  std::vector<float> x(2 * d_);
  item_vectors_.assign(num_items_ * d_, 0);
  item_bias_.resize(num_items_);
  for (size_t i = 0; i < num_items_; ++i) {
    TowerForward(p_.wi.data(), p_.bi.data(), has_id_[i] ? &p_.item[i * d_] : nullptr, p_.feature.data(),
                 features_[i].data(), features_[i].size(), d_, x.data(), &item_vectors_[i * d_]);
    item_bias_[i] = ItemBias(p_.vb.data(), p_.cb[0], x.data(), d_) * temperature_;
  }
  item_by_factor_.assign(size_t{d_} * num_items_, 0);
  for (size_t i = 0; i < num_items_; ++i)
    for (size_t f = 0; f < d_; ++f) item_by_factor_[f * num_items_ + i] = item_vectors_[i * d_ + f];
}

void TwoTowerModel::SetHistories(const std::vector<Interaction>& known) {
  const Histories h = LastItems(num_users_, known, history_);
  std::vector<float> x(2 * d_);
  user_vectors_.assign(num_users_ * d_, 0);
  for (uint32_t u = 0; u < num_users_; ++u) {
    const auto mine = h.Of(u);
    TowerForward(p_.wu.data(), p_.bu.data(), &p_.user[size_t{u} * d_], p_.history.data(), mine.data(), mine.size(), d_,
                 x.data(), &user_vectors_[size_t{u} * d_]);
  }
}

TwoTowerModel::ItemEmbedding TwoTowerModel::EmbedNewItem(std::span<const uint32_t> features) const {
  std::vector<uint32_t> known;
  for (uint32_t f : features)
    if (size_t{f} * d_ < p_.feature.size()) known.push_back(f);  // a feature never seen in training has no vector
  std::vector<float> x(2 * d_);
  ItemEmbedding out{std::vector<float>(d_), 0};
  TowerForward<float>(p_.wi.data(), p_.bi.data(), nullptr, p_.feature.data(), known.data(), known.size(), d_, x.data(),
                      out.vector.data());
  out.bias = ItemBias(p_.vb.data(), p_.cb[0], x.data(), d_) * temperature_;
  return out;
}

void TwoTowerModel::Score(uint32_t user, std::span<float> out) const {
  ScoreFactorMajor(&user_vectors_[size_t{user} * d_], d_, item_bias_, item_by_factor_, out);
}

TwoTowerModel TwoTowerModel::Train(size_t num_users, size_t num_items, const std::vector<Interaction>& all_train,
                                   const ItemFeatureIds& features, const TwoTowerConfig& c,
                                   const std::function<void(const EpochReport&)>& progress) {
  const Split val = HoldOutValidation(all_train, num_users, c.training.validation_users, c.training.seed);
  const std::vector<Interaction>& train = val.train;
  const size_t d = c.dim;

  TwoTowerModel m;
  m.num_users_ = num_users;
  m.num_items_ = num_items;
  m.d_ = c.dim;
  m.history_ = c.history;
  m.temperature_ = c.temperature;
  m.features_ = features.of;
  m.features_.resize(num_items);
  std::vector<uint32_t> count(num_items, 0);
  for (const Interaction& x : train) ++count[x.item];
  m.has_id_.resize(num_items);
  for (size_t i = 0; i < num_items; ++i) m.has_id_[i] = count[i] > 0;
  m.p_.Resize(d, num_users, num_items, num_items, features.count);
  Rng init(MixSeed(c.training.seed, 1));
  for (std::vector<float>* v : {&m.p_.user, &m.p_.item, &m.p_.history, &m.p_.feature})
    for (float& x : *v) x = static_cast<float>((init.Unit() - 0.5) * 0.2);
  const double glorot = std::sqrt(6.0 / (3.0 * static_cast<double>(d)));  // fan in 2d, fan out d
  for (std::vector<float>* v : {&m.p_.wu, &m.p_.wi})
    for (float& x : *v) x = static_cast<float>((init.Unit() - 0.5) * 2 * glorot);
  TowerBlock<float> acc = m.p_;
  for (std::vector<float>* v :
       {&acc.user, &acc.item, &acc.history, &acc.feature, &acc.wu, &acc.bu, &acc.wi, &acc.bi, &acc.vb, &acc.cb})
    std::fill(v->begin(), v->end(), kAdagradInitial);

  // log Q: an item's expected count among a batch's candidates = B * its share of the positives + M / catalogue.
  const size_t batch = std::max<size_t>(1, std::min<size_t>(c.batch, train.size()));
  std::vector<double> log_q(num_items);
  for (size_t i = 0; i < num_items; ++i)
    log_q[i] = std::log(static_cast<double>(batch) * count[i] / std::max<size_t>(1, train.size()) +
                        static_cast<double>(c.negatives) / static_cast<double>(num_items) + 1e-12);
  const Histories hist = LastItems(num_users, train, c.history);

  TwoTowerModel best = m;
  const unsigned threads = c.training.Threads();
  const size_t num_batches = (train.size() + batch - 1) / batch;
  std::vector<size_t> order(train.size());
  auto shuffle = [&](uint32_t epoch) {
    std::iota(order.begin(), order.end(), size_t{0});
    Rng rng(MixSeed(c.training.seed, uint64_t{2} << 32 | epoch));
    for (size_t k = order.size(); k > 1; --k) std::swap(order[k - 1], order[rng.Below(static_cast<uint32_t>(k))]);
  };
  auto run = [&](uint32_t epoch, unsigned t) {
    Gatherer users(num_users), items(num_items), history(num_items), feats(features.count);
    TowerBatch b;
    TowerBlock<float> local, grad;
    local.d = d;
    double loss = 0;
    for (size_t k = t; k < num_batches; k += threads) {
      b.Clear();
      users.Reset(), items.Reset(), history.Reset(), feats.Reset();
      const size_t begin = k * batch, end = std::min(train.size(), begin + batch);
      std::vector<uint32_t> column_items;
      for (size_t r = begin; r < end; ++r) {
        const Interaction& x = train[order[r]];
        b.user.push_back(users.Local(x.user));
        for (uint32_t h : hist.Of(x.user))
          if (h != x.item) b.history_rows.push_back(history.Local(h));  // the row's own item is not its history
        b.history_offsets.push_back(static_cast<uint32_t>(b.history_rows.size()));
        b.positive.push_back(static_cast<uint32_t>(r - begin));
        column_items.push_back(x.item);
      }
      Rng negatives(MixSeed(c.training.seed, uint64_t{epoch} << 32 | k));
      for (uint32_t n = 0; n < c.negatives; ++n)
        column_items.push_back(negatives.Below(static_cast<uint32_t>(num_items)));
      for (uint32_t i : column_items) {
        b.item.push_back(m.has_id_[i] ? int64_t{items.Local(i)} : -1);
        b.item_key.push_back(i);
        for (uint32_t f : m.features_[i]) b.feature_rows.push_back(feats.Local(f));
        b.feature_offsets.push_back(static_cast<uint32_t>(b.feature_rows.size()));
        b.log_q.push_back(c.log_q_correction ? log_q[i] : 0.0);
      }
      LoadRows(m.p_.user, users.globals(), d, local.user);
      LoadRows(m.p_.item, items.globals(), d, local.item);
      LoadRows(m.p_.history, history.globals(), d, local.history);
      LoadRows(m.p_.feature, feats.globals(), d, local.feature);
      for (auto [from, to] :
           {std::pair{&m.p_.wu, &local.wu}, std::pair{&m.p_.bu, &local.bu}, std::pair{&m.p_.wi, &local.wi},
            std::pair{&m.p_.bi, &local.bi}, std::pair{&m.p_.vb, &local.vb}, std::pair{&m.p_.cb, &local.cb}}) {
        to->resize(from->size());
        HogwildLoad(from->data(), to->data(), from->size());
      }
      grad = local;
      loss += TwoTowerBatchLoss(local, b, c.temperature, c.l2, &grad) * static_cast<double>(end - begin);
      AdagradRows(m.p_.user, acc.user, users.globals(), d, grad.user, c.learning_rate);
      AdagradRows(m.p_.item, acc.item, items.globals(), d, grad.item, c.learning_rate);
      AdagradRows(m.p_.history, acc.history, history.globals(), d, grad.history, c.learning_rate);
      AdagradRows(m.p_.feature, acc.feature, feats.globals(), d, grad.feature, c.learning_rate);
      Adagrad(m.p_.wu.data(), acc.wu.data(), grad.wu.data(), grad.wu.size(), c.learning_rate);
      Adagrad(m.p_.bu.data(), acc.bu.data(), grad.bu.data(), grad.bu.size(), c.learning_rate);
      Adagrad(m.p_.wi.data(), acc.wi.data(), grad.wi.data(), grad.wi.size(), c.learning_rate);
      Adagrad(m.p_.bi.data(), acc.bi.data(), grad.bi.data(), grad.bi.size(), c.learning_rate);
      Adagrad(m.p_.vb.data(), acc.vb.data(), grad.vb.data(), grad.vb.size(), c.learning_rate);
      Adagrad(m.p_.cb.data(), acc.cb.data(), grad.cb.data(), grad.cb.size(), c.learning_rate);
    }
    return loss;
  };
  const EpochCounts n =
      RunEpochs(m, &best, val, num_users, num_items, c.training, progress, shuffle, run, [&](TwoTowerModel& model) {
        model.EmbedItems();
        model.SetHistories(train);  // the validation items are not in any history
      });
  best.epochs_run_ = n.run;
  best.best_epoch_ = n.best;
  if (best.item_by_factor_.empty()) best.EmbedItems();
  best.SetHistories(all_train);  // rank with every training item known, validation ones included
  return best;
}

}  // namespace watershed::recs
