// The ann candidates' index (recs/ann_index.h) against exact search and against hnswlib called directly
// (bench/RESULTS.md, "ANN candidates"). For N items of dimension D (random Gaussian, or around 100 Gaussian
// centres) with biases, and Q query vectors, it prints per ef: recall@K of AnnIndex against the exact top K of
// bias + <query, item>, its queries per second on one thread, exact search's QPS (the same SIMD dot product as
// hnswlib's, all N items, then a partial sort), and raw hnswlib's QPS on the same lifted points and parameters
// (the wrapper's overhead), plus raw hnswlib on plain inner products (what the lift buys).
//
//   ann_bench [N=100000] [random|clustered] [D=64] [Q=1000] [K=100] [M=16] [ef_construction=200] [threads=2]
//             [refs=1]   (refs=0: no raw hnswlib references, e.g. at 1 M items to save their two builds)
// QPS are per CPU-second of the querying thread (one thread).

#include <hnswlib/hnswlib.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <random>
#include <string>
#include <thread>
#include <unordered_set>
#include <vector>

#include "recs/ann_index.h"

namespace {

using Clock = std::chrono::steady_clock;
double Seconds(Clock::time_point since) { return std::chrono::duration<double>(Clock::now() - since).count(); }
// Queries are timed in this thread's CPU time: on a shared machine (other builds, load 8-10 on 2 cores) wall time
// measures the neighbours; CPU time is what a query costs a core.
double ThreadCpu() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

struct Data {
  size_t n = 0;
  uint32_t dim = 0;
  std::vector<uint64_t> ids;
  std::vector<float> vectors, bias;
  std::vector<std::vector<float>> queries;
};

Data Generate(size_t n, uint32_t dim, bool clustered, size_t q, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal;
  std::uniform_real_distribution<float> unit(-0.5f, 0.5f);
  const size_t centres = 100;
  std::vector<float> centre(centres * dim);
  for (float& x : centre) x = normal(rng);
  Data d;
  d.n = n;
  d.dim = dim;
  d.ids.resize(n);
  d.vectors.resize(n * dim);
  d.bias.resize(n);
  for (size_t i = 0; i < n; ++i) {
    d.ids[i] = i;
    const size_t c = rng() % centres;
    for (uint32_t f = 0; f < dim; ++f)
      d.vectors[i * dim + f] = clustered ? centre[c * dim + f] + 0.5f * normal(rng) : normal(rng);
    d.bias[i] = unit(rng);
  }
  d.queries.assign(q, std::vector<float>(dim));
  for (auto& query : d.queries) {
    const size_t c = rng() % centres;
    for (uint32_t f = 0; f < dim; ++f) query[f] = clustered ? centre[c * dim + f] + 0.5f * normal(rng) : normal(rng);
  }
  return d;
}

// Items as [vector, bias] rows and queries as [query, 1] for the plain
// inner-product references.
std::vector<float> WithBias(const Data& d) {
  std::vector<float> rows(d.n * (d.dim + 1));
  for (size_t i = 0; i < d.n; ++i) {
    std::memcpy(&rows[i * (d.dim + 1)], &d.vectors[i * d.dim], d.dim * sizeof(float));
    rows[i * (d.dim + 1) + d.dim] = d.bias[i];
  }
  return rows;
}

// Exact top k by inner product with hnswlib's SIMD distance (1 − dot), over all
// items.
std::vector<uint64_t> ExactTop(const std::vector<float>& rows, size_t n, uint32_t dim1, hnswlib::InnerProductSpace& ip,
                               const std::vector<float>& q1, size_t k,
                               std::vector<std::pair<float, uint64_t>>& scratch) {
  auto dist = ip.get_dist_func();
  void* param = ip.get_dist_func_param();
  scratch.resize(n);
  for (size_t i = 0; i < n; ++i) scratch[i] = {dist(q1.data(), &rows[i * dim1], param), i};
  std::partial_sort(scratch.begin(), scratch.begin() + k, scratch.end());
  std::vector<uint64_t> top(k);
  for (size_t i = 0; i < k; ++i) top[i] = scratch[i].second;
  return top;
}

double Recall(const std::vector<std::vector<uint64_t>>& truth, const std::vector<std::vector<uint64_t>>& got) {
  size_t hit = 0, all = 0;
  for (size_t q = 0; q < truth.size(); ++q) {
    std::unordered_set<uint64_t> t(truth[q].begin(), truth[q].end());
    for (uint64_t id : got[q]) hit += t.count(id);
    all += truth[q].size();
  }
  return static_cast<double>(hit) / static_cast<double>(all);
}

// Builds a raw hnswlib index over `points` (rows of `pdim`) with `threads`
// inserting at once.
void BuildRaw(hnswlib::HierarchicalNSW<float>& h, const std::vector<float>& points, size_t n, size_t pdim,
              unsigned threads) {
  std::vector<std::thread> pool;
  for (unsigned t = 0; t < threads; ++t)
    pool.emplace_back([&, t] {
      for (size_t i = t; i < n; i += threads) h.addPoint(&points[i * pdim], i);
    });
  for (auto& th : pool) th.join();
}

}  // namespace

int main(int argc, char** argv) {
  auto arg = [&](int i, const char* def) { return std::string(argc > i ? argv[i] : def); };
  const size_t n = std::stoull(arg(1, "100000"));
  const bool clustered = arg(2, "random") == "clustered";
  const uint32_t dim = static_cast<uint32_t>(std::stoul(arg(3, "64")));
  const size_t nq = std::stoull(arg(4, "1000"));
  const size_t k = std::stoull(arg(5, "100"));
  const uint32_t m = static_cast<uint32_t>(std::stoul(arg(6, "16")));
  const uint32_t efc = static_cast<uint32_t>(std::stoul(arg(7, "200")));
  const unsigned threads = static_cast<unsigned>(std::stoul(arg(8, "2")));
  const bool refs = arg(9, "1") != "0";
  if (n < k || nq == 0 || dim == 0) {
    std::fprintf(stderr,
                 "usage: ann_bench [N] [random|clustered] [D] [Q] [K] "
                 "[M] [ef_construction] [threads]\n");
    return 2;
  }
  std::printf(
      "ann_bench n=%zu data=%s dim=%u queries=%zu k=%zu M=%u "
      "ef_construction=%u build_threads=%u\n",
      n, clustered ? "clustered" : "random", dim, nq, k, m, efc, threads);
  const Data d = Generate(n, dim, clustered, nq, 42);
  const uint32_t dim1 = dim + 1;
  const std::vector<float> rows = WithBias(d);
  std::vector<std::vector<float>> q1(nq);
  for (size_t q = 0; q < nq; ++q) {
    q1[q] = d.queries[q];
    q1[q].push_back(1.f);
  }

  // Exact search: the truth and its speed.
  hnswlib::InnerProductSpace ip(dim1);
  std::vector<std::vector<uint64_t>> truth(nq);
  std::vector<std::pair<float, uint64_t>> scratch;
  double c0 = ThreadCpu();
  for (size_t q = 0; q < nq; ++q) truth[q] = ExactTop(rows, n, dim1, ip, q1[q], k, scratch);
  const double exact_qps = static_cast<double>(nq) / (ThreadCpu() - c0);
  std::printf("exact: %.1f QPS (1 thread)\n", exact_qps);

  // Ours.
  auto t0 = Clock::now();
  auto built = watershed::recs::AnnIndex::Build(dim, d.ids, d.vectors, d.bias, 0,
                                                {.m = m, .ef_construction = efc, .build_threads = threads});
  if (!built.ok()) {
    std::fprintf(stderr, "build: %s\n", built.status().message().c_str());
    return 1;
  }
  auto& ours = *built;
  std::printf("AnnIndex build: %.1f s wall (%u threads), file %zu bytes\n", Seconds(t0), threads,
              ours->Encode().size());

  // Raw hnswlib on the same lifted points (the bound as AnnIndex computes it:
  // longest item x 1.25).
  double max2 = 0;
  for (size_t i = 0; i < n; ++i) {
    double s = double{d.bias[i]} * d.bias[i];
    for (uint32_t f = 0; f < dim; ++f) s += double{d.vectors[i * dim + f]} * d.vectors[i * dim + f];
    max2 = std::max(max2, s);
  }
  const double bound2 = max2 * 1.25 * 1.25;
  std::vector<float> lifted(n * (dim + 2));
  for (size_t i = 0; i < n; ++i) {
    double s = 0;
    for (uint32_t f = 0; f < dim1; ++f) {
      lifted[i * (dim + 2) + f] = rows[i * dim1 + f];
      s += double{rows[i * dim1 + f]} * rows[i * dim1 + f];
    }
    lifted[i * (dim + 2) + dim1] = static_cast<float>(std::sqrt(std::max(0.0, bound2 - s)));
  }
  hnswlib::L2Space l2(dim + 2);
  const size_t ref_n = refs ? n : 1;
  hnswlib::HierarchicalNSW<float> raw(&l2, ref_n, m, efc, 100);
  hnswlib::HierarchicalNSW<float> raw_ip(&ip, ref_n, m, efc, 100);
  if (refs) {
    t0 = Clock::now();
    BuildRaw(raw, lifted, n, dim + 2, threads);
    std::printf("raw hnswlib (lifted, L2) build: %.1f s wall\n", Seconds(t0));
    t0 = Clock::now();
    BuildRaw(raw_ip, rows, n, dim1, threads);
    std::printf("raw hnswlib (plain inner product) build: %.1f s wall\n", Seconds(t0));
  }

  std::printf("%6s %10s %10s %8s %10s %10s %12s %12s\n", "ef", "recall", "QPS", "x exact", "raw QPS", "ours/raw",
              "raw-IP rec", "raw-IP QPS");
  for (uint32_t ef : {50u, 100u, 150u, 200u, 400u, 800u}) {
    ours->SetEf(ef);
    raw.setEf(ef);
    raw_ip.setEf(ef);
    std::vector<std::vector<uint64_t>> got(nq), got_raw(nq), got_ip(nq);
    c0 = ThreadCpu();
    for (size_t q = 0; q < nq; ++q) {
      auto hits = ours->Query(d.queries[q], k);
      for (const auto& h : *hits) got[q].push_back(h.item);
    }
    const double ours_qps = static_cast<double>(nq) / (ThreadCpu() - c0);
    if (!refs) {
      std::printf("%6u %10.4f %10.1f %8.1f\n", ef, Recall(truth, got), ours_qps, ours_qps / exact_qps);
      std::fflush(stdout);
      continue;
    }
    std::vector<float> qlift(dim + 2, 0.f);
    c0 = ThreadCpu();
    for (size_t q = 0; q < nq; ++q) {
      std::copy(q1[q].begin(), q1[q].end(), qlift.begin());
      auto top = raw.searchKnn(qlift.data(), k);
      for (; !top.empty(); top.pop()) got_raw[q].push_back(top.top().second);
    }
    const double raw_qps = static_cast<double>(nq) / (ThreadCpu() - c0);
    c0 = ThreadCpu();
    for (size_t q = 0; q < nq; ++q) {
      auto top = raw_ip.searchKnn(q1[q].data(), k);
      for (; !top.empty(); top.pop()) got_ip[q].push_back(top.top().second);
    }
    const double ip_qps = static_cast<double>(nq) / (ThreadCpu() - c0);
    std::printf("%6u %10.4f %10.1f %8.1f %10.1f %10.2f %12.4f %12.1f\n", ef, Recall(truth, got), ours_qps,
                ours_qps / exact_qps, raw_qps, ours_qps / raw_qps, Recall(truth, got_ip), ip_qps);
    std::fflush(stdout);
  }
  return 0;
}
