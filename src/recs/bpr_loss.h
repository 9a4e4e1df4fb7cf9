#pragma once
// BPR's loss for one (user u, positive i, negative j) triple and its
// gradient, written once for float (training) and double (the
// finite-difference check in bpr_test.cc):
//   x = b_i - b_j + <p_u, q_i - q_j>
//   loss = ln(1 + e^-x) + l2/2 (|p_u|^2 + |q_i|^2 + |q_j|^2 + b_i^2 + b_j^2)

#include <cmath>
#include <cstddef>

namespace watershed::recs {

template <typename T>
T BprScoreDifference(const T* pu, const T* qi, const T* qj, T bi, T bj, size_t d) {
  T x = bi - bj;
  for (size_t f = 0; f < d; ++f) x += pu[f] * (qi[f] - qj[f]);
  return x;
}

// ln(1 + e^-x) without overflow.
template <typename T>
T SoftplusOfMinus(T x) {
  return x > 0 ? std::log1p(std::exp(-x)) : -x + std::log1p(std::exp(x));
}

template <typename T>
T BprTripleLoss(const T* pu, const T* qi, const T* qj, T bi, T bj, size_t d, T l2) {
  T norm = bi * bi + bj * bj;
  for (size_t f = 0; f < d; ++f) norm += pu[f] * pu[f] + qi[f] * qi[f] + qj[f] * qj[f];
  return SoftplusOfMinus(BprScoreDifference(pu, qi, qj, bi, bj, d)) + l2 / 2 * norm;
}

// The gradient of BprTripleLoss into g_pu, g_qi, g_qj (d each), g_bi, g_bj;
// returns the loss.
template <typename T>
T BprTripleGradient(const T* pu, const T* qi, const T* qj, T bi, T bj, size_t d, T l2, T* g_pu, T* g_qi, T* g_qj,
                    T* g_bi, T* g_bj) {
  const T x = BprScoreDifference(pu, qi, qj, bi, bj, d);
  const T s = T(1) / (T(1) + std::exp(x));  // sigma(-x) = -dloss/dx
  for (size_t f = 0; f < d; ++f) {
    g_pu[f] = -s * (qi[f] - qj[f]) + l2 * pu[f];
    g_qi[f] = -s * pu[f] + l2 * qi[f];
    g_qj[f] = s * pu[f] + l2 * qj[f];
  }
  *g_bi = -s + l2 * bi;
  *g_bj = s + l2 * bj;
  return BprTripleLoss(pu, qi, qj, bi, bj, d, l2);
}

}  // namespace watershed::recs
