// Recommendations benchmark, one configuration per process (so peak RSS is
// that configuration's): generates the planted benchmark in MovieLens-1M
// format in memory, imports it, splits stratified 75/25, trains MODEL and
// evaluates the full ranking; prints one JSON line. bench/run_recs.sh runs
// the configurations of bench/RESULTS.md ("Recommendations").
// With `ranker`, the two-tower model it re-ranks (refit on the whole training part) is evaluated too
// ("two_tower_ndcg@10"): the two-tower alone vs two-tower + ranker on one split.
// usage: recs_bench popularity|bpr|two-tower|ranker USERS ITEMS INTERACTIONS_PER_USER POSITIVE_RATING THREADS [SEED]

#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include "recs/bpr.h"
#include "recs/evaluator.h"
#include "recs/generator.h"
#include "recs/importers.h"
#include "recs/popularity.h"
#include "recs/ranker.h"
#include "recs/split.h"
#include "recs/two_tower.h"

using namespace watershed::recs;

namespace {
double Since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}
// CPU seconds of the process so far, all threads (on a shared machine wall time says little; CPU time
// divided by the thread count bounds what an idle machine would take).
double CpuSeconds() {
  struct rusage u {};
  ::getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}
}  // namespace

int main(int argc, char** argv) {
  if (argc < 7) {
    std::fprintf(
        stderr,
        "usage: recs_bench popularity|bpr|two-tower|ranker USERS ITEMS INTERACTIONS_PER_USER POSITIVE_RATING THREADS "
        "[SEED]\n");
    return 2;
  }
  const std::string model_name = argv[1];
  PlantedConfig c;
  c.users = static_cast<uint32_t>(std::atoi(argv[2]));
  c.items = static_cast<uint32_t>(std::atoi(argv[3]));
  c.interactions_per_user = std::atof(argv[4]);
  const double positive = std::atof(argv[5]);
  const unsigned threads = static_cast<unsigned>(std::atoi(argv[6]));
  const uint64_t seed = argc > 7 ? std::strtoull(argv[7], nullptr, 10) : 42;
  c.seed = seed;

  const GeneratedFiles files = GeneratePlanted(c, Format::kMovieLens1m);
  auto t = std::chrono::steady_clock::now();
  Dataset d;
  if (!ParseItems(Format::kMovieLens1m, files.items, "movies.dat", &d).ok() ||
      !ParseRatings(Format::kMovieLens1m, files.ratings, "ratings.dat", {.positive_rating = positive}, &d).ok())
    return 1;
  const double import_s = Since(t);
  const Split split = SplitInteractions(d.interactions, d.num_users(), ParseSplit("stratified:0.75").value(), seed);

  t = std::chrono::steady_clock::now();
  double cpu = CpuSeconds();
  std::unique_ptr<Scorer> model;
  uint32_t epochs = 0, best = 0;
  if (model_name == "bpr") {
    BprConfig bc;
    bc.training.threads = threads;
    bc.training.seed = seed;
    auto m = BprModel::Train(d.num_users(), d.num_items(), split.train, bc);
    epochs = m.epochs_run();
    best = m.best_epoch();
    model = std::make_unique<BprModel>(std::move(m));
  } else if (model_name == "two-tower") {
    TwoTowerConfig tc;
    tc.training.threads = threads;
    tc.training.seed = seed;
    auto m = TwoTowerModel::Train(d.num_users(), d.num_items(), split.train, TwoTowerFeatures(d), tc);
    epochs = m.epochs_run();
    best = m.best_epoch();
    model = std::make_unique<TwoTowerModel>(std::move(m));
  } else if (model_name == "ranker") {
    RankerConfig rc;
    rc.two_tower.training.threads = threads;
    rc.two_tower.training.seed = seed;
    auto m = RankerModel::Train(d, split.train, rc);
    epochs = m.two_tower()->epochs_run();
    best = m.two_tower()->best_epoch();
    model = std::make_unique<RankerModel>(std::move(m));
  } else {
    model = std::make_unique<PopularityModel>(d.num_items(), split.train);
  }
  const double train_s = Since(t), train_cpu_s = CpuSeconds() - cpu;
  t = std::chrono::steady_clock::now();
  cpu = CpuSeconds();
  const int ks[] = {10, 20};
  const EvalResult r = Evaluate(*model, d.num_users(), d.num_items(), split.train, split.test, ks, threads);
  const double eval_s = Since(t), eval_cpu_s = CpuSeconds() - cpu;
  double two_tower_ndcg = -1;
  if (const auto* ranker = dynamic_cast<const RankerModel*>(model.get()))
    two_tower_ndcg = Evaluate(*ranker->two_tower(), d.num_users(), d.num_items(), split.train, split.test, ks, threads)
                         .Get("ndcg@10");
  struct rusage usage {};
  ::getrusage(RUSAGE_SELF, &usage);
  std::printf(
      "{\"model\": \"%s\", \"users\": %zu, \"items\": %zu, \"positives\": %zu, \"train\": %zu, \"threads\": %u, "
      "\"epochs\": %u, \"best_epoch\": %u, \"import_s\": %.3f, \"train_s\": %.3f, \"train_cpu_s\": %.3f, "
      "\"eval_s\": %.3f, \"eval_cpu_s\": %.3f, "
      "\"peak_rss_mib\": %.1f, \"two_tower_ndcg@10\": %.4f, \"ndcg@10\": %.4f, \"precision@10\": %.4f, \"recall@10\": "
      "%.4f, \"auc\": %.4f}\n",
      model_name.c_str(), d.num_users(), d.num_items(), d.interactions.size(), split.train.size(), threads, epochs,
      best, import_s, train_s, train_cpu_s, eval_s, eval_cpu_s, static_cast<double>(usage.ru_maxrss) / 1024,
      two_tower_ndcg, r.Get("ndcg@10"), r.Get("precision@10"), r.Get("recall@10"), r.Get("auc"));
  return 0;
}
