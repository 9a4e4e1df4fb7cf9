#include "recs/two_tower_loss.h"

#include <algorithm>
#include <cmath>

namespace watershed::recs {

template <typename T>
void TowerBlock<T>::Resize(size_t dim, size_t users, size_t items, size_t histories, size_t features) {
  d = dim;
  user.assign(users * d, 0);
  item.assign(items * d, 0);
  history.assign(histories * d, 0);
  feature.assign(features * d, 0);
  wu.assign(2 * d * d, 0);
  wi.assign(2 * d * d, 0);
  bu.assign(d, 0);
  bi.assign(d, 0);
  vb.assign(2 * d, 0);
  cb.assign(1, 0);
}

template <typename T>
void TowerBlock<T>::Zero() {
  for (std::vector<T>* v : {&user, &item, &history, &feature, &wu, &bu, &wi, &bi, &vb, &cb})
    std::fill(v->begin(), v->end(), T(0));
}

void TowerBatch::Clear() {
  user.clear();
  history_offsets.assign(1, 0);
  history_rows.clear();
  positive.clear();
  item.clear();
  item_key.clear();
  feature_offsets.assign(1, 0);
  feature_rows.clear();
  log_q.clear();
}

template <typename T>
T TowerForward(const T* w, const T* bias, const T* id, const T* table, const uint32_t* pooled, size_t n, size_t d, T* x,
               T* e) {
  for (size_t f = 0; f < d; ++f) x[f] = id ? id[f] : T(0);
  T* mean = x + d;
  std::fill(mean, mean + d, T(0));
  for (size_t k = 0; k < n; ++k) {
    const T* row = table + static_cast<size_t>(pooled[k]) * d;
    for (size_t f = 0; f < d; ++f) mean[f] += row[f];
  }
  if (n > 0)
    for (size_t f = 0; f < d; ++f) mean[f] /= static_cast<T>(n);
  // h = bias + sum_k x[k] * w[k, :]: the inner loop runs along a row of w (vectorises without reassociation).
  std::copy(bias, bias + d, e);
  for (size_t k = 0; k < 2 * d; ++k) {
    const T xk = x[k];
    const T* wk = w + k * d;
    for (size_t r = 0; r < d; ++r) e[r] += xk * wk[r];
  }
  T norm2 = T(1e-12);
  for (size_t r = 0; r < d; ++r) norm2 += e[r] * e[r];
  const T norm = std::sqrt(norm2);
  for (size_t r = 0; r < d; ++r) e[r] /= norm;
  return norm;
}

template <typename T>
T ItemBias(const T* v, T c, const T* x, size_t d) {
  T beta = c;
  for (size_t k = 0; k < 2 * d; ++k) beta += v[k] * x[k];
  return beta;
}

namespace {

// The gradient of a tower's output e (and, for the item tower, of its bias head beta = v.x + c) into its
// parameters (accumulated), given g_e and g_beta. scratch: 3d. e = h / |h|, so dL/dh = (g_e - e (e . g_e)) / |h|.
template <typename T>
void TowerBackward(const T* w, const T* x, const T* e, T norm, const T* g_e, size_t d, T* g_w, T* g_bias, T* g_id,
                   T* g_table, const uint32_t* pooled, size_t n, T* scratch, const T* v = nullptr, T g_beta = 0,
                   T* g_v = nullptr, T* g_c = nullptr) {
  T* g_h = scratch;
  T* g_x = scratch + d;
  T eg = 0;
  for (size_t r = 0; r < d; ++r) eg += e[r] * g_e[r];
  for (size_t r = 0; r < d; ++r) g_h[r] = (g_e[r] - e[r] * eg) / norm;
  for (size_t r = 0; r < d; ++r) g_bias[r] += g_h[r];
  for (size_t k = 0; k < 2 * d; ++k) {
    const T xk = x[k];
    T* gwk = g_w + k * d;
    const T* wk = w + k * d;
    T s = 0;
    for (size_t r = 0; r < d; ++r) {
      gwk[r] += xk * g_h[r];
      s += wk[r] * g_h[r];
    }
    g_x[k] = s;
  }
  if (v) {
    for (size_t k = 0; k < 2 * d; ++k) {
      g_x[k] += g_beta * v[k];
      g_v[k] += g_beta * x[k];
    }
    *g_c += g_beta;
  }
  if (g_id)
    for (size_t f = 0; f < d; ++f) g_id[f] += g_x[f];
  for (size_t k = 0; k < n; ++k) {
    T* row = g_table + static_cast<size_t>(pooled[k]) * d;
    for (size_t f = 0; f < d; ++f) row[f] += g_x[d + f] / static_cast<T>(n);
  }
}

}  // namespace

template <typename T>
T TwoTowerBatchLoss(const TowerBlock<T>& p, const TowerBatch& batch, T tau, T l2, TowerBlock<T>* grad) {
  const size_t d = p.d, rows = batch.rows(), cols = batch.columns();
  std::vector<T> xu(rows * 2 * d), eu(rows * d), nu(rows), xi(cols * 2 * d), ei(cols * d), ni(cols);
  for (size_t b = 0; b < rows; ++b) {
    const uint32_t* hist = batch.history_rows.data() + batch.history_offsets[b];
    nu[b] = TowerForward(p.wu.data(), p.bu.data(), &p.user[batch.user[b] * d], p.history.data(), hist,
                         batch.history_offsets[b + 1] - batch.history_offsets[b], d, &xu[b * 2 * d], &eu[b * d]);
  }
  for (size_t c = 0; c < cols; ++c) {
    const uint32_t* feats = batch.feature_rows.data() + batch.feature_offsets[c];
    const T* id = batch.item[c] >= 0 ? &p.item[static_cast<size_t>(batch.item[c]) * d] : nullptr;
    ni[c] = TowerForward(p.wi.data(), p.bi.data(), id, p.feature.data(), feats,
                         batch.feature_offsets[c + 1] - batch.feature_offsets[c], d, &xi[c * 2 * d], &ei[c * d]);
  }
  std::vector<T> beta(cols);
  for (size_t c = 0; c < cols; ++c) beta[c] = ItemBias(p.vb.data(), p.cb[0], &xi[c * 2 * d], d);
  std::vector<T> ei_t(d * cols);  // factor-major, so a row of logits is a sum of axpys
  for (size_t c = 0; c < cols; ++c)
    for (size_t f = 0; f < d; ++f) ei_t[f * cols + c] = ei[c * d + f];

  std::vector<T> g_eu, g_ei, g_beta, s(cols), ex(cols);
  if (grad) g_eu.assign(rows * d, 0), g_ei.assign(cols * d, 0), g_beta.assign(cols, 0);
  T loss = 0;
  for (size_t b = 0; b < rows; ++b) {
    std::fill(s.begin(), s.end(), T(0));
    for (size_t f = 0; f < d; ++f) {
      const T a = eu[b * d + f];
      const T* col = &ei_t[f * cols];
      for (size_t c = 0; c < cols; ++c) s[c] += a * col[c];
    }
    const size_t pos = batch.positive[b];
    const uint32_t key = batch.item_key[pos];
    auto allowed = [&](size_t c) { return c == pos || batch.item_key[c] != key; };
    T max = s[pos] / tau + beta[pos] - static_cast<T>(batch.log_q[pos]);
    for (size_t c = 0; c < cols; ++c) {
      s[c] = s[c] / tau + beta[c] - static_cast<T>(batch.log_q[c]);
      if (allowed(c)) max = std::max(max, s[c]);
    }
    T sum = 0;
    for (size_t c = 0; c < cols; ++c) {
      ex[c] = allowed(c) ? std::exp(s[c] - max) : T(0);
      sum += ex[c];
    }
    loss += (max + std::log(sum) - s[pos]) / static_cast<T>(rows);
    if (!grad) continue;
    // dloss/ds_c = (softmax_c - [c == pos]) / B = dloss/dbeta_c; ds/d<e_u, e_i> = 1/tau.
    T* __restrict gu = &g_eu[b * d];
    const T* __restrict u = &eu[b * d];
    for (size_t c = 0; c < cols; ++c) {
      T g = ex[c] / sum;
      if (c == pos) g -= 1;
      g /= static_cast<T>(rows);
      if (g == 0) continue;
      g_beta[c] += g;
      g /= tau;
      const T* __restrict i = &ei[c * d];
      T* __restrict gi = &g_ei[c * d];
      for (size_t f = 0; f < d; ++f) gu[f] += g * i[f];
      for (size_t f = 0; f < d; ++f) gi[f] += g * u[f];
    }
  }

  T norm = 0;
  for (const std::vector<T>* v : {&p.user, &p.item, &p.history, &p.feature, &p.wu, &p.wi, &p.vb})
    for (T x : *v) norm += x * x;
  loss += l2 / 2 * norm;
  if (!grad) return loss;

  grad->Zero();
  std::vector<T> scratch(3 * d);  // g_h, g_x
  for (size_t b = 0; b < rows; ++b) {
    const size_t h0 = batch.history_offsets[b];
    TowerBackward(p.wu.data(), &xu[b * 2 * d], &eu[b * d], nu[b], &g_eu[b * d], d, grad->wu.data(), grad->bu.data(),
                  &grad->user[batch.user[b] * d], grad->history.data(), batch.history_rows.data() + h0,
                  batch.history_offsets[b + 1] - h0, scratch.data());
  }
  for (size_t c = 0; c < cols; ++c) {
    const size_t f0 = batch.feature_offsets[c];
    T* g_id = batch.item[c] >= 0 ? &grad->item[static_cast<size_t>(batch.item[c]) * d] : nullptr;
    TowerBackward(p.wi.data(), &xi[c * 2 * d], &ei[c * d], ni[c], &g_ei[c * d], d, grad->wi.data(), grad->bi.data(),
                  g_id, grad->feature.data(), batch.feature_rows.data() + f0, batch.feature_offsets[c + 1] - f0,
                  scratch.data(), p.vb.data(), g_beta[c], grad->vb.data(), grad->cb.data());
  }
  auto add_l2 = [&](const std::vector<T>& v, std::vector<T>& g) {
    for (size_t k = 0; k < v.size(); ++k) g[k] += l2 * v[k];
  };
  add_l2(p.user, grad->user);
  add_l2(p.item, grad->item);
  add_l2(p.history, grad->history);
  add_l2(p.feature, grad->feature);
  add_l2(p.wu, grad->wu);
  add_l2(p.wi, grad->wi);
  add_l2(p.vb, grad->vb);
  return loss;
}

template float ItemBias(const float*, float, const float*, size_t);
template double ItemBias(const double*, double, const double*, size_t);
template struct TowerBlock<float>;
template struct TowerBlock<double>;
template float TowerForward(const float*, const float*, const float*, const float*, const uint32_t*, size_t, size_t,
                            float*, float*);
template double TowerForward(const double*, const double*, const double*, const double*, const uint32_t*, size_t,
                             size_t, double*, double*);
template float TwoTowerBatchLoss(const TowerBlock<float>&, const TowerBatch&, float, float, TowerBlock<float>*);
template double TwoTowerBatchLoss(const TowerBlock<double>&, const TowerBatch&, double, double, TowerBlock<double>*);

}  // namespace watershed::recs
