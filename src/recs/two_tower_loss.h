#pragma once
// The two-tower model's towers and its loss on one batch with the gradient,
// written once for float (training) and double (the finite-difference check
// in two_tower_test.cc). d = the embedding size.
//
// Towers (a pooled mean of no rows is 0; an item without an id row has a 0 id part):
//   user  x_u = [U_u ; mean of H_h over the user's history h]    h_u = W_u^T x_u + b_u   e_u = h_u / |h_u|
//   item  x_i = [I_i ; mean of F_f over the item's features f]   h_i = W_i^T x_i + b_i   e_i = h_i / |h_i|
//         and a bias head beta_i = v . x_i + c (popularity and the like: a cosine alone cannot express it)
// (W_u, W_i are 2d x d; |h| is sqrt(h.h + 1e-12) so a zero h stays finite.)
//
// A batch is B rows — a user side and the column pos[b] of its positive —
// and C candidate columns (the batch's positives, then uniform negatives):
//   s_bc = <e_ub, e_ic> / tau + beta_c - log_q[c]
//          (log_q: log of c's expected count among the candidates — the log-Q correction, Yi et al. 2019)
//   loss = 1/B sum_b ( logsumexp over allowed c of s_bc  -  s_b,pos[b] )
//          + l2/2 (every row of the block squared + |W_u|^2 + |W_i|^2 + |v|^2)
// allowed(b): every column except the other columns holding b's positive item (a duplicate is no negative).

#include <cstddef>
#include <cstdint>
#include <vector>

namespace watershed::recs {

// Parameters, or their gradient: in training the rows a batch gathered
// (local row ids), in the model the whole tables.
template <typename T>
struct TowerBlock {
  size_t d = 0;
  std::vector<T> user, item, history, feature;  // rows x d each: U, I, H, F
  std::vector<T> wu, bu, wi, bi;                // 2d x d, d, 2d x d, d
  std::vector<T> vb, cb;                        // the item bias head: 2d, 1

  void Resize(size_t dim, size_t users, size_t items, size_t histories, size_t features);
  void Zero();
};

// What one batch's loss depends on, as row ids of a TowerBlock.
struct TowerBatch {
  std::vector<uint32_t> user;             // per row b: its U row
  std::vector<uint32_t> history_offsets;  // B + 1, into history_rows
  std::vector<uint32_t> history_rows;     // H rows
  std::vector<uint32_t> positive;         // per row: its positive's column
  std::vector<int64_t> item;              // per column: its I row, or -1 (no id embedding)
  std::vector<uint32_t> item_key;         // per column: the catalogue item (to mask duplicates)
  std::vector<uint32_t> feature_offsets;  // C + 1, into feature_rows
  std::vector<uint32_t> feature_rows;     // F rows
  std::vector<double> log_q;              // per column

  size_t rows() const { return user.size(); }
  size_t columns() const { return item.size(); }
  void Clear();
};

// One tower: x = [id (or 0 when null) ; mean of table rows `pooled[0..n)`],
// e = normalise(w^T x + bias). Fills x (2d) and e (d); returns |h|.
template <typename T>
T TowerForward(const T* w, const T* bias, const T* id, const T* table, const uint32_t* pooled, size_t n, size_t d, T* x,
               T* e);

// beta = v . x + c for an item tower's input x (2d).
template <typename T>
T ItemBias(const T* v, T c, const T* x, size_t d);

// The loss above; when `grad` is not null (same shapes as `p`) it receives the gradient.
template <typename T>
T TwoTowerBatchLoss(const TowerBlock<T>& p, const TowerBatch& batch, T tau, T l2, TowerBlock<T>* grad);

}  // namespace watershed::recs
