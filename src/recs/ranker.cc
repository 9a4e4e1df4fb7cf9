#include "recs/ranker.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <unordered_map>

#include "recs/rng.h"

namespace watershed::recs {
namespace {

constexpr size_t F = kRankerFeatures;

template <typename T>
T Softplus(T z) {
  return z > 0 ? z + std::log1p(std::exp(-z)) : std::log1p(std::exp(z));
}

// Solves a x = b (n x n, row-major) by Gaussian elimination with partial
// pivoting; a and b are overwritten.
void Solve(std::vector<double>& a, std::vector<double>& b, size_t n) {
  for (size_t c = 0; c < n; ++c) {
    size_t p = c;
    for (size_t r = c + 1; r < n; ++r)
      if (std::fabs(a[r * n + c]) > std::fabs(a[p * n + c])) p = r;
    for (size_t k = 0; k < n; ++k) std::swap(a[c * n + k], a[p * n + k]);
    std::swap(b[c], b[p]);
    for (size_t r = c + 1; r < n; ++r) {
      const double m = a[r * n + c] / a[c * n + c];
      for (size_t k = c; k < n; ++k) a[r * n + k] -= m * a[c * n + k];
      b[r] -= m * b[c];
    }
  }
  for (size_t c = n; c-- > 0;) {
    for (size_t k = c + 1; k < n; ++k) b[c] -= a[c * n + k] * b[k];
    b[c] /= a[c * n + c];
  }
}

// The items of `scores` not in `seen`, best `n` first (ties: the lower id), as
// Evaluate ranks.
std::vector<uint32_t> TopCandidates(std::span<const float> scores, std::span<const uint32_t> seen, size_t n) {
  std::vector<uint32_t> c;
  c.reserve(scores.size());
  size_t s = 0;
  for (uint32_t i = 0; i < scores.size(); ++i) {
    while (s < seen.size() && seen[s] < i) ++s;
    if (s < seen.size() && seen[s] == i) continue;
    c.push_back(i);
  }
  auto better = [&](uint32_t a, uint32_t b) { return scores[a] > scores[b] || (scores[a] == scores[b] && a < b); };
  if (c.size() > n) {
    std::nth_element(c.begin(), c.begin() + static_cast<ptrdiff_t>(n), c.end(), better);
    c.resize(n);
  }
  std::sort(c.begin(), c.end(), better);
  return c;
}

double Linear(const RankerWeights& w, const double* x) {
  double z = w.bias;
  for (size_t f = 0; f < F; ++f) z += static_cast<double>(w.w[f]) * ((x[f] - w.mean[f]) / w.scale[f]);
  return z;
}

}  // namespace

template <typename T>
T RankerLoss(std::span<const T> params, std::span<const double> x, std::span<const uint8_t> y, double l2, T* grad) {
  const size_t n = y.size();
  if (grad) std::fill(grad, grad + F + 1, T(0));
  T loss = 0;
  for (size_t e = 0; e < n; ++e) {
    const double* xe = &x[e * F];
    T z = params[F];
    for (size_t f = 0; f < F; ++f) z += params[f] * xe[f];
    loss += Softplus(z) - (y[e] ? z : T(0));
    if (grad) {
      const T p = T(1) / (T(1) + std::exp(-z));
      const T d = p - T(y[e] ? 1 : 0);
      for (size_t f = 0; f < F; ++f) grad[f] += d * xe[f];
      grad[F] += d;
    }
  }
  const T inv = n ? T(1) / T(n) : T(0);
  loss *= inv;
  for (size_t f = 0; f < F; ++f) loss += T(l2 / 2) * params[f] * params[f];
  if (grad) {
    for (size_t f = 0; f <= F; ++f) grad[f] *= inv;
    for (size_t f = 0; f < F; ++f) grad[f] += T(l2) * params[f];
  }
  return loss;
}
template double RankerLoss<double>(std::span<const double>, std::span<const double>, std::span<const uint8_t>, double,
                                   double*);

std::unique_ptr<EmbeddedFeatureStore> RankerContext::ItemsOnly(const Dataset& data) {
  auto store = EmbeddedFeatureStore::Create(FeatureStoreConfig{}).value();  // the defaults are valid
  std::unordered_map<std::string, uint64_t> authors;                        // numbered from 1 (0: none)
  for (uint32_t i = 0; i < data.num_items() && i < data.features.size(); ++i) {
    const ItemFeatures& f = data.features[i];
    ItemInfo info;
    info.created_at_ms = f.created_at * 1000;
    info.tags = f.tags;
    if (!f.author.empty()) info.author = authors.emplace(f.author, authors.size() + 1).first->second;
    (void)store->PutItem(i, info);  // the embedded store's PutItem does not fail
  }
  return store;
}

std::vector<FeatureEvent> RankerContext::Events(const std::vector<Interaction>& known) {
  std::vector<FeatureEvent> events;
  events.reserve(known.size());
  for (const Interaction& x : known) events.push_back(ToFeatureEvent(x));
  std::stable_sort(events.begin(), events.end(),
                   [](const FeatureEvent& a, const FeatureEvent& b) { return a.time_ms < b.time_ms; });
  return events;
}

RankerContext::RankerContext(const Dataset& data, const std::vector<Interaction>& known) {
  std::unique_ptr<EmbeddedFeatureStore> store = ItemsOnly(data);
  const std::vector<FeatureEvent> events = Events(known);
  for (const FeatureEvent& e : events) (void)store->Apply(e);  // sorted, weights >= 0: Apply accepts them
  now_ms_ = events.empty() ? 0 : events.back().time_ms + 1;
  store_ = std::move(store);
}

void RankerContext::Features(uint32_t user, std::span<const uint32_t> items, std::span<const float> two_tower,
                             std::vector<double>* out) const {
  const std::vector<uint64_t> ids(items.begin(), items.end());
  // now_ms() is past every applied event, so the store answers.
  const std::vector<RankerFeatureVector> x = ServingRankerFeatures(*store_, user, ids, two_tower, now_ms_).value();
  out->resize(items.size() * F);
  for (size_t k = 0; k < x.size(); ++k) std::copy(x[k].begin(), x[k].end(), out->begin() + k * F);
}

RankerModel RankerModel::Train(const Dataset& data, const std::vector<Interaction>& train, const RankerConfig& config,
                               const std::function<void(const EpochReport&)>& epochs,
                               const std::function<void(const std::string&)>& note) {
  const size_t users = data.num_users(), items = data.num_items();
  const uint64_t seed = config.two_tower.training.seed;
  // The held-out positives: the latest share of each user's training
  // interactions (time, then file order).
  std::vector<std::vector<size_t>> by_user(users);
  for (size_t k = 0; k < train.size(); ++k) by_user[train[k].user].push_back(k);
  std::vector<uint8_t> held(train.size(), 0);
  for (auto& ks : by_user) {
    if (ks.size() < 3) continue;
    if (config.holdout_latest) {
      std::stable_sort(ks.begin(), ks.end(),
                       [&](size_t a, size_t b) { return train[a].timestamp < train[b].timestamp; });
    } else {  // a random share, per user its own stream (Fisher-Yates)
      Rng rng(MixSeed(seed, 0x484F4C44ull + train[ks[0]].user));
      for (size_t j = ks.size(); j > 1; --j) std::swap(ks[j - 1], ks[rng.Below(static_cast<uint32_t>(j))]);
    }
    const size_t h = std::clamp<size_t>(static_cast<size_t>(std::ceil(config.holdout * static_cast<double>(ks.size()))),
                                        1, ks.size() - 2);
    for (size_t j = ks.size() - h; j < ks.size(); ++j) held[ks[j]] = 1;
  }
  std::vector<Interaction> base, holdout;
  for (size_t k = 0; k < train.size(); ++k) (held[k] ? holdout : base).push_back(train[k]);
  if (note)
    note("ranker: two-tower on " + std::to_string(base.size()) + " base interactions, " +
         std::to_string(holdout.size()) + " held out");
  const ItemFeatureIds features = TwoTowerFeatures(data);
  auto base_model =
      std::make_shared<TwoTowerModel>(TwoTowerModel::Train(users, items, base, features, config.two_tower, epochs));

  // The examples: their keys now, their features below in one point-in-time
  // pass over the base interactions.
  const UserItems base_items(users, base), train_items(users, train);
  std::vector<std::vector<const Interaction*>> positives(users);
  for (const Interaction& x : holdout) positives[x.user].push_back(&x);
  std::vector<RankerQuery> queries;
  std::vector<uint8_t> y;
  std::vector<float> scores(items);
  for (uint32_t u = 0; u < users; ++u) {
    if (positives[u].empty()) continue;
    base_model->Score(u, scores);
    // Candidates: the base model's top N among items the user has no training
    // interaction with.
    const std::vector<uint32_t> top = TopCandidates(scores, base_items.Of(u), config.candidates);
    Rng rng(MixSeed(seed, 0x52414E4Bull + u));
    std::vector<uint8_t> in_top(items, 0);
    for (uint32_t i : top) in_top[i] = 1;
    for (const Interaction* p : positives[u]) {
      // Only positives among the candidates: the ranker learns to order what it will be given to order (a
      // positive from elsewhere would teach it what tells candidates from the rest of the catalogue instead).
      if (!in_top[p->item]) continue;
      std::vector<uint32_t> picked = {p->item};
      std::vector<uint32_t> pool;  // negatives: candidates the user has no training interaction with
      for (uint32_t i : top)
        if (!train_items.Has(u, i)) pool.push_back(i);
      for (uint32_t k = 0; k < config.negatives && !pool.empty(); ++k) {
        const uint32_t j = rng.Below(static_cast<uint32_t>(pool.size()));
        picked.push_back(pool[j]);
        pool[j] = pool.back();
        pool.pop_back();
      }
      for (uint32_t i : picked) queries.push_back({u, i, ToFeatureEvent(*p).time_ms, scores[i]});
      y.push_back(1);
      y.insert(y.end(), picked.size() - 1, 0);
    }
  }
  std::vector<RankerFeatureVector> fx;
  {
    std::unique_ptr<EmbeddedFeatureStore> store = RankerContext::ItemsOnly(data);
    (void)PointInTimeRankerFeatures(store.get(), RankerContext::Events(base), queries, &fx);  // sorted: no error
  }
  std::vector<double> x;
  x.reserve(fx.size() * F);
  for (const RankerFeatureVector& v : fx) x.insert(x.end(), v.begin(), v.end());
  const size_t n = y.size();

  // Standardise, then Newton's method on the log loss.
  RankerWeights w;
  for (size_t f = 0; f < F; ++f) {
    double mean = 0, var = 0;
    for (size_t e = 0; e < n; ++e) mean += x[e * F + f];
    mean = n ? mean / static_cast<double>(n) : 0;
    for (size_t e = 0; e < n; ++e) var += (x[e * F + f] - mean) * (x[e * F + f] - mean);
    const double sd = n ? std::sqrt(var / static_cast<double>(n)) : 0;
    w.mean[f] = static_cast<float>(mean);
    w.scale[f] = sd > 1e-6 ? static_cast<float>(sd) : 1.0f;
  }
  for (size_t e = 0; e < n; ++e)
    for (size_t f = 0; f < F; ++f) x[e * F + f] = (x[e * F + f] - w.mean[f]) / w.scale[f];
  std::vector<double> params(F + 1, 0), grad(F + 1);
  double loss = 0;
  for (uint32_t it = 0; it < config.iterations && n > 0; ++it) {
    loss = RankerLoss<double>(params, x, y, config.l2, grad.data());
    std::vector<double> h((F + 1) * (F + 1), 0);
    for (size_t e = 0; e < n; ++e) {
      const double* xe = &x[e * F];
      double z = params[F];
      for (size_t f = 0; f < F; ++f) z += params[f] * xe[f];
      const double p = 1 / (1 + std::exp(-z)), s = p * (1 - p);
      for (size_t a = 0; a <= F; ++a)
        for (size_t b = 0; b <= F; ++b) h[a * (F + 1) + b] += s * (a < F ? xe[a] : 1) * (b < F ? xe[b] : 1);
    }
    for (double& v : h) v /= static_cast<double>(n);
    for (size_t f = 0; f <= F; ++f) h[f * (F + 1) + f] += f < F ? config.l2 : 1e-9;
    std::vector<double> step = grad;
    Solve(h, step, F + 1);
    double largest = 0;
    for (size_t f = 0; f <= F; ++f) {
      params[f] -= step[f];
      largest = std::max(largest, std::fabs(step[f]));
    }
    if (note)
      note("ranker: newton step " + std::to_string(it + 1) + "  loss " + std::to_string(loss) + "  step " +
           std::to_string(largest));
    if (largest < 1e-9) break;
  }
  for (size_t f = 0; f < F; ++f) w.w[f] = static_cast<float>(params[f]);
  w.bias = static_cast<float>(params[F]);

  std::shared_ptr<const TwoTowerModel> serving = base_model;
  if (config.refit) {
    if (note) note("ranker: two-tower refit on all " + std::to_string(train.size()) + " training interactions");
    serving =
        std::make_shared<TwoTowerModel>(TwoTowerModel::Train(users, items, train, features, config.two_tower, epochs));
  } else {
    base_model->SetHistories(train);
  }
  RankerModel m = FromParts(serving, w, data, train, config.candidates);
  m.two_tower_ = serving;
  m.examples_ = n;
  m.train_loss_ = n ? RankerLoss<double>(params, x, y, config.l2, nullptr) : 0;
  return m;
}

RankerModel RankerModel::FromParts(std::shared_ptr<const Scorer> retrieval, const RankerWeights& weights,
                                   const Dataset& data, const std::vector<Interaction>& train, uint32_t candidates) {
  RankerModel m(data, train);
  m.retrieval_ = std::move(retrieval);
  m.w_ = weights;
  m.candidates_ = candidates;
  m.seen_ = std::make_shared<UserItems>(data.num_users(), train);
  return m;
}

void RankerModel::Score(uint32_t user, std::span<float> out) const {
  retrieval_->Score(user, out);
  const std::vector<uint32_t> top = TopCandidates(out, seen_->Of(user), candidates_);
  if (top.empty()) return;
  std::vector<float> tt(top.size());
  for (size_t k = 0; k < top.size(); ++k) tt[k] = out[top[k]];
  std::vector<double> fx;
  context_.Features(user, top, tt, &fx);
  // The candidates rank above every other item, by the ranker: z + shift, with
  // the shift putting the lowest z one above the best score outside the
  // candidates.
  std::vector<double> z(top.size());
  for (size_t k = 0; k < top.size(); ++k) z[k] = Linear(w_, &fx[k * F]);
  std::vector<uint8_t> is_top(out.size(), 0);
  for (uint32_t i : top) is_top[i] = 1;
  double rest = -std::numeric_limits<double>::infinity();
  for (size_t i = 0; i < out.size(); ++i)
    if (!is_top[i]) rest = std::max(rest, static_cast<double>(out[i]));
  const double low = *std::min_element(z.begin(), z.end());
  const double shift = std::isfinite(rest) ? rest - low + 1 : 0;
  for (size_t k = 0; k < top.size(); ++k) out[top[k]] = static_cast<float>(z[k] + shift);
}

}  // namespace watershed::recs
