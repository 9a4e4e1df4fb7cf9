#include "recs/serving.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <map>
#include <optional>
#include <random>
#include <unordered_map>

#include "core/json_text.h"
#include "recs/ranker.h"
#include "recs/ranker_features.h"
#include "recs/stored_tower.h"

namespace watershed::recs {

// One model version in serving form: its arrays by external id, its ranker
// weights and its index.
struct RecsService::Model {
  ModelManifest manifest;
  uint32_t dim = 0;
  std::unordered_map<uint64_t, uint32_t> user_index,
      item_index;  // external id → row
  std::vector<uint64_t> item_ids;
  std::vector<float> user_vectors, item_vectors, item_bias;
  std::optional<RankerWeights> ranker;
  std::shared_ptr<AnnIndex> index;               // null when dim is 0 (popularity); grows by the published items
  std::shared_ptr<const StoredItemTower> tower;  // two-tower and ranker versions of format 2
  // Items published after training, embedded by the tower: replaced (copied, then grown) by the refresher while
  // requests read the one they loaded.
  struct Added {
    std::unordered_map<uint64_t, uint32_t> index;  // id → row
    std::vector<float> vectors, bias;
    std::vector<CatalogItem> items;
  };
  mutable std::atomic<std::shared_ptr<const Added>> added{std::make_shared<const Added>()};
};

// A model version with its candidate pool and generator.
struct RecsService::Version {
  std::shared_ptr<const Model> model;
  std::shared_ptr<const CandidatePool> pool;
  std::unique_ptr<CandidateGenerator> generator;  // over pool and model->index
};

// The experiments file in serving form.
struct RecsService::Experiments {
  ExperimentConfig config;
  std::unordered_map<const Arm*, ArmParams> params;  // arms of `config` with params
};

struct RecsService::Snapshot {
  std::shared_ptr<const Version> current;
  std::shared_ptr<const Experiments> experiments;                  // null: none
  std::map<std::string, std::shared_ptr<const Version>> versions;  // the arms' "NAME@VERSION"
};

namespace {

std::optional<uint64_t> DecimalId(const std::string& s) {
  uint64_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return v;
}

double Logistic(double z) { return 1 / (1 + std::exp(-z)); }

uint64_t SplitMix(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// The store answers only past its watermark (feature_store.h, "As of").
int64_t AsOf(const FeatureStore& store, int64_t now_ms) {
  const int64_t w = store.watermark();
  return w == INT64_MIN ? now_ms : std::max(now_ms, w + 1);
}

}  // namespace

Result<std::shared_ptr<const RecsService::Model>> RecsService::ModelOf(const ModelRegistry::Loaded& loaded) const {
  auto m = std::make_shared<Model>();
  m->manifest = loaded.manifest;
  const ModelManifest& man = loaded.manifest;
  const ArrayFile& w = loaded.weights;
  const std::string what = man.name + "@" + std::to_string(man.version);
  m->dim = man.dim;
  ASSIGN_OR_RETURN(const auto* item_names, w.Strings("item_ids", man.items));
  ASSIGN_OR_RETURN(const auto* bias, w.F32("item_bias", man.items));
  m->item_bias = *bias;
  for (size_t i = 0; i < item_names->size(); ++i) {
    std::optional<uint64_t> id = DecimalId((*item_names)[i]);
    if (!id)
      return Status::InvalidArgument("model " + what + ": item id '" + (*item_names)[i] + "' is not a decimal id");
    m->item_ids.push_back(*id);
    m->item_index.emplace(*id, static_cast<uint32_t>(i));
  }
  if (m->dim > 0) {
    ASSIGN_OR_RETURN(const auto* items, w.F32("item_vectors", man.items * man.dim));
    ASSIGN_OR_RETURN(const auto* user_names, w.Strings("user_ids", man.users));
    ASSIGN_OR_RETURN(const auto* users, w.F32("user_vectors", man.users * man.dim));
    m->item_vectors = *items;
    m->user_vectors = *users;
    // Users whose id is not decimal can never ask (the API's ids are numbers):
    // left out.
    for (size_t u = 0; u < user_names->size(); ++u)
      if (std::optional<uint64_t> id = DecimalId((*user_names)[u]))
        m->user_index.emplace(*id, static_cast<uint32_t>(u));
    ASSIGN_OR_RETURN(OpenedAnnIndex opened, OpenOrBuildAnnIndex(fs_, options_.registry_root, loaded, options_.ann));
    if (opened.rebuilt && !opened.reason.empty())
      std::fprintf(stderr, "watershed: recs: %s: ann index rebuilt (%s)\n", what.c_str(), opened.reason.c_str());
    m->index = std::move(opened.index);
    if (man.model == "two-tower" || man.model == "ranker") {
      // A version stored before the towers' vocabulary was (format 1) cannot embed new items: it serves its own.
      if (auto tower = StoredItemTower::FromLoaded(loaded); tower.ok())
        m->tower = std::make_shared<const StoredItemTower>(std::move(*tower));
    }
  }
  if (man.model == "ranker") {
    // ModelRegistry::Load checked the arrays' shapes and the scales
    // (CheckModelArrays).
    const std::vector<float>& weights = *w.F32("ranker.weights", kRankerFeatures + 1).value();
    const std::vector<float>& mean = *w.F32("ranker.mean", kRankerFeatures).value();
    const std::vector<float>& scale = *w.F32("ranker.scale", kRankerFeatures).value();
    RankerWeights r;
    for (size_t f = 0; f < kRankerFeatures; ++f) {
      r.w[f] = weights[f];
      r.mean[f] = mean[f];
      r.scale[f] = scale[f];
    }
    r.bias = weights[kRankerFeatures];
    m->ranker = r;
  }
  return std::shared_ptr<const Model>(std::move(m));
}

Result<std::shared_ptr<const RecsService::Version>> RecsService::VersionOf(std::shared_ptr<const Model> model,
                                                                           int64_t now_ms) const {
  // The catalogue is the version's items, with what the store says of them
  // (author, tags, created_at).
  const int64_t as_of = AsOf(*store_, now_ms);
  std::vector<CatalogItem> catalog;
  catalog.reserve(model->item_ids.size());
  for (uint64_t id : model->item_ids) {
    ASSIGN_OR_RETURN(ItemFeaturesAt f, store_->Item(id, as_of));
    catalog.push_back({.id = id, .info = {.created_at_ms = f.created_at_ms, .author = f.author, .tags = f.tags}});
  }
  ASSIGN_OR_RETURN(std::vector<CatalogItem> added, AddPublished(*model));
  catalog.insert(catalog.end(), added.begin(), added.end());
  auto s = std::make_shared<Version>();
  ASSIGN_OR_RETURN(s->pool, CandidatePool::Build(catalog, {{kAllRegions, store_}}, as_of, options_.candidates,
                                                 {.regional = options_.regional, .coviews = coviews_}));
  s->model = std::move(model);
  s->generator = std::make_unique<CandidateGenerator>(options_.candidates, store_);
  s->generator->SetPool(s->pool);
  if (s->model->index) s->generator->SetIndex(s->model->index);
  return std::shared_ptr<const Version>(std::move(s));
}

Result<bool> RecsService::LoadExperiments(bool force, std::shared_ptr<const Experiments>* out,
                                          ExperimentsStamp* stamp) {
  const std::string& path = options_.experiments_path;
  out->reset();
  if (path.empty()) return force;
  if (!force && !fs_->FileExists(path)) {  // removed: no experiments (Open, force, requires the file)
    *stamp = {.mtime_ms = -2, .size = 0};
    return *stamp != experiments_stamp_;
  }
  ASSIGN_OR_RETURN(stamp->mtime_ms, fs_->ModifiedTimeMs(path));
  ASSIGN_OR_RETURN(stamp->size, fs_->FileSize(path));
  if (!force && *stamp == experiments_stamp_) return false;
  auto e = std::make_shared<Experiments>();
  ASSIGN_OR_RETURN(e->config, LoadExperimentConfig(fs_, path));
  for (const Experiment& x : e->config.experiments)
    for (const Arm& arm : x.arms) {
      if (!arm.model.empty()) {
        if (auto ref = ParseModelRef(arm.model); !ref.ok())
          return Status::InvalidArgument(path + ": experiment " + x.name + ", arm " + arm.name + ": model " +
                                         ref.status().message());
      }
      if (arm.params.empty()) continue;
      auto p = ParseArmParams(x, arm, options_.candidates.total);
      if (!p.ok()) return Status::InvalidArgument(path + ": " + p.status().message());
      e->params.emplace(&arm, std::move(*p));
    }
  *out = std::move(e);
  return true;
}

Result<std::shared_ptr<const RecsService::Snapshot>> RecsService::SnapshotOf(
    std::shared_ptr<const Model> current, std::shared_ptr<const Experiments> experiments, const Snapshot* previous,
    int64_t now_ms) const {
  auto s = std::make_shared<Snapshot>();
  const std::string current_key = current->manifest.name + "@" + std::to_string(current->manifest.version);
  ASSIGN_OR_RETURN(s->current, VersionOf(std::move(current), now_ms));
  s->experiments = std::move(experiments);
  if (s->experiments == nullptr) return std::shared_ptr<const Snapshot>(std::move(s));
  ModelRegistry registry(fs_, options_.registry_root);
  for (const Experiment& x : s->experiments->config.experiments)
    for (const Arm& arm : x.arms) {
      if (arm.model.empty() || s->versions.count(arm.model)) continue;
      if (arm.model == current_key) {
        s->versions[arm.model] = s->current;
        continue;
      }
      std::shared_ptr<const Model> model;
      if (previous != nullptr) {
        if (auto it = previous->versions.find(arm.model); it != previous->versions.end()) model = it->second->model;
      }
      if (model == nullptr) {
        ASSIGN_OR_RETURN(ModelRef ref, ParseModelRef(arm.model));
        auto loaded = registry.Load(ref);
        if (!loaded.ok())
          return Status(loaded.status().code(), "experiment " + x.name + ", arm " + arm.name + ": model " + arm.model +
                                                    ": " + loaded.status().message());
        ASSIGN_OR_RETURN(model, ModelOf(*loaded));
      }
      ASSIGN_OR_RETURN(s->versions[arm.model], VersionOf(std::move(model), now_ms));
    }
  return std::shared_ptr<const Snapshot>(std::move(s));
}

Result<std::vector<CatalogItem>> RecsService::AddPublished(const Model& model) const {
  std::shared_ptr<const Model::Added> current = model.added.load();
  if (!options_.published_items || model.tower == nullptr || model.index == nullptr) return current->items;
  auto listed = options_.published_items();
  if (!listed.ok()) {  // the pool is built without new additions; the next build asks again
    std::fprintf(stderr, "watershed: recs: published items: %s (the ones added so far kept)\n",
                 listed.status().message().c_str());
    return current->items;
  }
  const std::vector<PublishedItem>& published = *listed;
  std::shared_ptr<Model::Added> next;
  size_t refused = 0;
  std::string reason;
  for (const PublishedItem& p : published) {
    // Not the version's own, not added before, not listed twice (the pool refuses duplicate ids).
    if (model.item_index.count(p.id) || (next ? next->index : current->index).count(p.id)) continue;
    if (next == nullptr) next = std::make_shared<Model::Added>(*current);
    const TwoTowerModel::ItemEmbedding e = model.tower->EmbedItem(p.description);
    if (Status s = model.index->Add(p.id, e.vector, e.bias); !s.ok()) {  // e.g. past the index's norm bound
      ++refused;
      reason = s.message();
      continue;
    }
    next->index.emplace(p.id, static_cast<uint32_t>(next->bias.size()));
    next->vectors.insert(next->vectors.end(), e.vector.begin(), e.vector.end());
    next->bias.push_back(e.bias);
    next->items.push_back({.id = p.id, .info = p.info});
  }
  if (refused > 0)
    std::fprintf(stderr, "watershed: recs: %s@%u: %zu published items not added to the index (%s)\n",
                 model.manifest.name.c_str(), model.manifest.version, refused, reason.c_str());
  if (next == nullptr) return current->items;
  model.added.store(next);
  return next->items;
}

void RecsService::RefreshCoViews(int64_t now_ms) {
  if (!options_.coview_events) return;
  if (coviews_ != nullptr && now_ms - coviews_at_ms_ < options_.coview_refresh_ms) return;
  coviews_at_ms_ = now_ms;  // a failure is retried at the next interval, not at every refresh
  auto events = options_.coview_events();
  if (!events.ok()) {
    if (events.status().message() != coview_error_)
      std::fprintf(stderr, "watershed: recs: co-viewed items: %s (keeping the ones in force)\n",
                   events.status().message().c_str());
    coview_error_ = events.status().message();
    return;
  }
  coview_error_.clear();
  coviews_ = CoViewIndex::Build(std::move(*events), options_.coview);
}

RecsService::RecsService(FileSystem* fs, RecsServiceOptions options, const FeatureStore* store, RulesHolder* rules)
    : fs_(fs),
      options_(std::move(options)),
      store_(store),
      rules_(rules),
      request_salt_(std::random_device{}() * 0x100000001ull ^ std::random_device{}()),
      exposures_(std::make_unique<ExposureSink>(fs, options_.exposures_dir)) {}

RecsService::~RecsService() {
  if (Status s = exposures_->Sync(); !s.ok())
    std::fprintf(stderr, "watershed: recs: exposure logs: %s\n", s.message().c_str());
}

Status RecsService::SyncExposures() { return exposures_->Sync(); }
uint64_t RecsService::exposures_logged() const { return exposures_->appended(); }
Result<uint64_t> RecsService::EraseUserExposures(uint64_t user) { return exposures_->EraseUser(user); }

Result<std::unique_ptr<RecsService>> RecsService::Open(FileSystem* fs, RecsServiceOptions options,
                                                       const FeatureStore* store, RulesHolder* rules, int64_t now_ms) {
  RETURN_IF_ERROR(ModelRegistry::CheckName(options.model));
  RETURN_IF_ERROR(ValidateCandidateConfig(options.candidates));
  if (!options.experiments_path.empty() && options.exposures_dir.empty())
    return Status::InvalidArgument("recs: experiments need an exposures directory");
  std::unique_ptr<RecsService> service(new RecsService(fs, std::move(options), store, rules));
  ModelRegistry registry(fs, service->options_.registry_root);
  ASSIGN_OR_RETURN(ModelRegistry::Loaded loaded, registry.Load({service->options_.model, std::nullopt}));
  ASSIGN_OR_RETURN(auto model, service->ModelOf(loaded));
  std::shared_ptr<const Experiments> experiments;
  ExperimentsStamp stamp;
  if (auto loaded_experiments = service->LoadExperiments(true, &experiments, &stamp); !loaded_experiments.ok())
    return loaded_experiments.status();
  service->RefreshCoViews(now_ms);
  ASSIGN_OR_RETURN(auto snapshot, service->SnapshotOf(std::move(model), std::move(experiments), nullptr, now_ms));
  service->experiments_stamp_ = stamp;
  service->snapshot_.store(std::move(snapshot));
  return service;
}

Result<bool> RecsService::Refresh(int64_t now_ms, bool rebuild_pool) {
  const std::shared_ptr<const Snapshot> current = snapshot_.load();
  ModelRegistry registry(fs_, options_.registry_root);
  ASSIGN_OR_RETURN(std::vector<uint32_t> history, registry.CurrentHistory(options_.model));
  if (history.empty()) return Status::FailedPrecondition("recs: model " + options_.model + " has no current version");
  std::shared_ptr<const Model> model = current->current->model;
  // The experiments file: a change is taken once its snapshot is stored (its stamp recorded only then, so a
  // failed one is tried again at every refresh); an error keeps the experiments in force and never stops the
  // model's and the pool's refresh.
  std::shared_ptr<const Experiments> experiments;
  ExperimentsStamp stamp;
  bool experiments_changed = false;
  if (auto changed = LoadExperiments(false, &experiments, &stamp); !changed.ok())
    ReportExperimentsError(changed.status().message());
  else
    experiments_changed = *changed;
  if (history.front() != model->manifest.version) {
    ASSIGN_OR_RETURN(ModelRegistry::Loaded loaded, registry.Load({options_.model, history.front()}));
    ASSIGN_OR_RETURN(model, ModelOf(loaded));
  } else if (!experiments_changed && !rebuild_pool &&
             now_ms - current->current->pool->as_of_ms() < options_.pool_refresh_ms) {
    return false;
  }
  RefreshCoViews(now_ms);
  auto next = SnapshotOf(model, experiments_changed ? experiments : current->experiments, current.get(), now_ms);
  if (!next.ok() && experiments_changed) {  // e.g. an arm's version that does not load
    ReportExperimentsError(next.status().message());
    experiments_changed = false;
    next = SnapshotOf(std::move(model), current->experiments, current.get(), now_ms);
  }
  if (!next.ok()) return next.status();
  snapshot_.store(std::move(next).value());
  if (experiments_changed) {
    experiments_stamp_ = stamp;
    experiments_error_.clear();
  }
  return true;
}

void RecsService::ReportExperimentsError(const std::string& message) {
  if (message != experiments_error_)
    std::fprintf(stderr, "watershed: recs: experiments file: %s (keeping the experiments in force)\n", message.c_str());
  experiments_error_ = message;
}

std::string RecsService::Served() const {
  const auto s = snapshot_.load();
  return s->current->model->manifest.name + "@" + std::to_string(s->current->model->manifest.version);
}

Result<Recommendations> RecsService::Recommend(uint64_t user, uint8_t region, size_t k, int64_t now_ms) const {
  const std::shared_ptr<const Snapshot> snapshot = snapshot_.load();  // the only snapshot this request reads
  // The experiment arms: the first naming a model version picks the version; params, the first setting each.
  std::vector<Assignment> assigned;
  if (snapshot->experiments) assigned = Assign(snapshot->experiments->config, user);
  const Version* snap = snapshot->current.get();
  for (const Assignment& a : assigned)
    if (!a.arm->model.empty()) {
      snap = snapshot->versions.at(a.arm->model).get();
      break;
    }
  std::optional<Rules> arm_rules;
  std::optional<CandidateConfig> arm_config;
  const Model& m = *snap->model;
  const std::shared_ptr<const Model::Added> added = m.added.load();
  std::span<const float> user_vector;
  if (m.index) {
    if (auto it = m.user_index.find(user); it != m.user_index.end())
      user_vector = std::span(m.user_vectors).subspan(size_t{it->second} * m.dim, m.dim);
  }
  static const Rules kNoRules = {};
  const std::shared_ptr<const Rules> held = rules_ ? rules_->Current() : nullptr;
  const Rules* rules_in_force = held ? held.get() : &kNoRules;
  {
    std::map<std::string, bool> taken;
    for (const Assignment& a : assigned) {
      auto p = snapshot->experiments->params.find(a.arm);
      if (p == snapshot->experiments->params.end()) continue;
      if (!arm_rules) arm_rules = *rules_in_force;
      if (!arm_config) arm_config = options_.candidates;
      p->second.ApplyTo(&*arm_rules, &*arm_config, &taken);
    }
  }
  const Rules& rules = arm_rules ? *arm_rules : *rules_in_force;
  const std::vector<uint64_t> blocked(rules.blocked_items.begin(), rules.blocked_items.end());
  // The store answers only past its watermark, which the log's consumer may move on between reading it and a
  // read: such a request (kFailedPrecondition) starts again, three times at most.
  CandidateSet set;
  std::vector<RuleCandidate> rc;
  Status scored;
  for (int attempt = 0; attempt < 3; ++attempt) {
    scored = [&]() -> Status {
      const int64_t as_of = AsOf(*store_, now_ms);
      ASSIGN_OR_RETURN(set, snap->generator->Generate({.user = user,
                                                       .region = region,
                                                       .now_ms = as_of,
                                                       .user_vector = user_vector,
                                                       .blocked = blocked,
                                                       .config = arm_config ? &*arm_config : nullptr}));
      // Pinned items take their slot even when no source proposed them (ApplyRules pins candidates only).
      for (const Rules::Pin& pin : rules.pins) {
        const bool listed = std::any_of(set.candidates.begin(), set.candidates.end(),
                                        [&](const Candidate& c) { return c.item == pin.item; });
        if (!listed && snap->pool->Find(pin.item)) set.candidates.push_back({.item = pin.item});
      }
      const size_t n = set.candidates.size();
      rc.assign(n, RuleCandidate{});
      std::vector<float> factor(n, 0.f);
      std::vector<uint64_t> ids(n);
      for (size_t i = 0; i < n; ++i) {
        const Candidate& c = set.candidates[i];
        ids[i] = c.item;
        RuleCandidate& r = rc[i];
        r.item = c.item;
        if (const CatalogItem* info = snap->pool->Find(c.item)) {
          r.author = info->info.author;
          r.created_at_s = info->info.created_at_ms / 1000;
          for (uint32_t t : info->info.tags) r.tags.push_back(std::to_string(t));
        }
        // The version's own item, or one published since and embedded by its tower.
        float bias = 0;
        if (auto it = m.item_index.find(c.item); it != m.item_index.end()) {
          bias = m.item_bias[it->second];
          if (m.dim > 0) r.embedding = std::span(m.item_vectors).subspan(size_t{it->second} * m.dim, m.dim);
        } else if (auto a = added->index.find(c.item); a != added->index.end()) {
          bias = added->bias[a->second];
          r.embedding = std::span(added->vectors).subspan(size_t{a->second} * m.dim, m.dim);
        } else {
          continue;
        }
        if (user_vector.empty()) continue;
        float s = bias;
        for (uint32_t d = 0; d < m.dim; ++d) s += user_vector[d] * r.embedding[d];
        factor[i] = s;
      }
      if (user_vector.empty()) {
        for (size_t i = 0; i < n; ++i) rc[i].score = static_cast<double>(n - i) / static_cast<double>(n + 1);
      } else if (m.ranker) {
        ASSIGN_OR_RETURN(std::vector<RankerFeatureVector> x, ServingRankerFeatures(*store_, user, ids, factor, as_of));
        const RankerWeights& w = *m.ranker;
        for (size_t i = 0; i < n; ++i) {
          double z = w.bias;
          for (size_t f = 0; f < kRankerFeatures; ++f)
            z += static_cast<double>(w.w[f]) * ((x[i][f] - w.mean[f]) / w.scale[f]);
          rc[i].score = Logistic(z);
        }
      } else {
        for (size_t i = 0; i < n; ++i) rc[i].score = Logistic(factor[i]);
      }
      return Status::Ok();
    }();
    if (scored.code() != StatusCode::kFailedPrecondition) break;
  }
  RETURN_IF_ERROR(scored);
  const std::vector<RankedItem> ranked = ApplyRules(rules, rc, now_ms / 1000, k);

  Recommendations out;
  out.user = user;
  out.model = m.manifest.name + "@" + std::to_string(m.manifest.version);
  char id[17];
  std::snprintf(id, sizeof id, "%016llx", static_cast<unsigned long long>(SplitMix(request_salt_ + requests_++)));
  out.request_id = id;
  out.cold_start = set.cold_start;
  for (const RankedItem& r : ranked)
    out.items.push_back({.item = rc[r.candidate].item,
                         .score = r.score,
                         .sources = set.candidates[r.candidate].sources,
                         .rules = r.rules});
  if (!assigned.empty()) {
    Exposure e;
    e.request_id = out.request_id;
    e.user = user;
    e.time_ms = now_ms;
    for (const Recommendation& item : out.items) e.items.push_back(item.item);
    std::vector<Exposure> all;
    for (const Assignment& a : assigned) {
      out.arms.push_back({a.experiment->name, a.arm->name});
      e.experiment = a.experiment->name;
      e.arm = a.arm->name;
      all.push_back(e);
    }
    // All of the request's exposures or none: a 503 leaves no exposure behind to count as served.
    if (Status s = exposures_->Append(all); !s.ok())
      return Status::Unavailable("recs: the exposure could not be logged: " + s.message());
  }
  return out;
}

std::string RecommendationsJson(const Recommendations& r, bool explain) {
  std::string out = "{\"user_id\":" + std::to_string(r.user) + ",\"model\":";
  AppendJsonString(r.model, &out);
  out += ",\"request_id\":";
  AppendJsonString(r.request_id, &out);
  out += ",\"experiments\":[";
  for (size_t i = 0; i < r.arms.size(); ++i) {
    out += i ? ",{\"experiment\":" : "{\"experiment\":";
    AppendJsonString(r.arms[i].experiment, &out);
    out += ",\"arm\":";
    AppendJsonString(r.arms[i].arm, &out);
    out += '}';
  }
  out += "],\"cold_start\":";
  out += r.cold_start ? "true" : "false";
  out += ",\"items\":[";
  for (size_t i = 0; i < r.items.size(); ++i) {
    const Recommendation& it = r.items[i];
    char score[32];
    std::snprintf(score, sizeof score, "%.9g", it.score);
    out += (i ? ",{" : "{");
    out += "\"story_id\":" + std::to_string(it.item) + ",\"score\":" + score + ",\"sources\":[";
    const std::string names = SourceNames(it.sources);
    size_t start = 0;
    for (bool first = true; start <= names.size() && !names.empty(); first = false) {
      const size_t plus = std::min(names.find('+', start), names.size());
      if (!first) out += ',';
      AppendJsonString(std::string_view(names).substr(start, plus - start), &out);
      start = plus + 1;
    }
    out += ']';
    if (explain) {
      out += ",\"rules\":[";
      for (size_t j = 0; j < it.rules.size(); ++j) {
        if (j) out += ',';
        AppendJsonString(it.rules[j], &out);
      }
      out += ']';
    }
    out += '}';
  }
  return out + "]}";
}

}  // namespace watershed::recs
