// `watershed recs experiment report|promote|assign|simulate` and `watershed recs rules check` (docs/recs.md,
// "Experiments" and "Rules"): an A/B experiment's table from its exposure log and the view events (an events
// file or the lake), the promotion rule applied to the model registry, a user's arms, simulated traffic, and
// the validation of a rules file.

#include <cmath>
#include <cstdio>
#include <optional>

#include "app/commands.h"
#include "app/flags.h"
#include "app/recs_support.h"
#include "core/file_system.h"
#include "core/json_text.h"
#include "lake/tables.h"
#include "recs/experiment_simulator.h"
#include "recs/experiment_stats.h"
#include "recs/experiments.h"
#include "recs/registry.h"
#include "recs/rules.h"

namespace watershed::app {
namespace {

constexpr const char* kExperimentHelp =
    "usage: watershed recs experiment report NAME (--events FILE.csv | --from-lake ROOT [--region R]\n"
    "         [--snapshot ID]) [--config FILE] [--data-dir DIR] [--json]\n"
    "       watershed recs experiment promote NAME (the same flags) [--dry-run]\n"
    "       watershed recs experiment assign USER [--config FILE] [--data-dir DIR]\n"
    "       watershed recs experiment simulate NAME --events-out FILE.csv [--users 10000] [--effect 0.05]\n"
    "         [--lose-treatment 0] [--seed 1] [--config FILE] [--data-dir DIR]\n\n"
    "A/B experiments of the experiments file (--config, default <data-dir>/recs/experiments.toml): layers,\n"
    "experiments and arms (docs/recs.md, \"Experiments\"). The exposures are read from\n"
    "<data-dir>/recs/exposures/NAME.log; outcomes are the `view` events of the exposed users on the stories\n"
    "they were shown, within the experiment's window after the exposure: from --events (CSV\n"
    "viewer,story,type,watch_ms,event_time_ms) or the lake's events table (--from-lake).\n"
    "  report    per arm: users, exposures, CTR (clicked exposures / exposures), watch time per user, and\n"
    "            against the control the difference with its 95 % confidence interval (Welch's t-test),\n"
    "            relative lift and p; the sample-ratio-mismatch chi-square test (p < 0.001 = SRM)\n"
    "  promote   makes the winning arm's model version current in the registry (<data-dir>/models) only if\n"
    "            its watch time per user is >= +2 % over the control, significant at 95 %, without SRM;\n"
    "            otherwise says why not and exits 1 (--dry-run: decide, change nothing)\n"
    "  assign    the experiment and arm of USER in every layer\n"
    "  simulate  appends simulated exposures to the log and writes the simulated users' views to\n"
    "            --events-out (a planted --effect on every non-control arm's watch time)\n";

constexpr const char* kRulesHelp =
    "usage: watershed recs rules check FILE\n\n"
    "Validates a rules file (docs/recs.md, \"Rules\": top_k, [diversity], [freshness], [[boost]], [[pin]],\n"
    "[block]) and prints what it sets; an error names the file, line and column, and exits 1.\n";

std::string Json(const std::string& s) {
  std::string out;
  AppendJsonString(s, &out);
  return out;
}

std::string Num(double v) {
  if (!std::isfinite(v)) return "null";
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.10g", v);
  return buf;
}

std::string Pct(double v) {
  if (!std::isfinite(v)) return "-inf/inf";
  char buf[40];
  std::snprintf(buf, sizeof buf, "%+.2f%%", 100 * v);
  return buf;
}

struct Context {
  std::string data_dir;
  recs::ExperimentConfig config;
};

Result<Context> OpenContext(const Flags& f) {
  Context c;
  ASSIGN_OR_RETURN(c.data_dir, RecsDataDir(f));
  const std::string path = f.Get("config", JoinPath(JoinPath(c.data_dir, "recs"), "experiments.toml"));
  ASSIGN_OR_RETURN(c.config, recs::LoadExperimentConfig(FileSystem::Default(), path));
  return c;
}

std::string ExposuresDir(const std::string& data_dir) { return JoinPath(JoinPath(data_dir, "recs"), "exposures"); }

// The outcome events of --events or --from-lake. *usage tells a usage error.
Result<std::vector<recs::EngagementEvent>> LoadEvents(const Flags& f, bool* usage) {
  *usage = true;
  if (f.Has("events") == f.Has("from-lake")) return Status::InvalidArgument("give --events FILE or --from-lake ROOT");
  if (f.Has("events")) {
    *usage = false;
    ASSIGN_OR_RETURN(std::string text, ReadWholeFile(FileSystem::Default(), f.Get("events")));
    return recs::ParseEventsCsv(text, f.Get("events"));
  }
  std::optional<int64_t> snapshot;
  if (f.Has("snapshot")) {
    ASSIGN_OR_RETURN(snapshot, ParseNumber<int64_t>("--snapshot", f.Get("snapshot")));
  }
  const std::string root = f.Get("from-lake");
  auto region = LakeRegion(f, root);
  if (!region.ok()) {
    *usage = region.status().code() == StatusCode::kInvalidArgument;
    return region.status();
  }
  *usage = false;
  ASSIGN_OR_RETURN(
      recs::LakeEvents events,
      recs::ReadEngagementEvents(FileSystem::Default(), lake::TableLocation(root, *region, lake::LakeTableId::kEvents),
                                 snapshot));
  return std::move(events.events);
}

std::string ReportJson(const recs::Experiment& e, const recs::ExperimentReport& r, const recs::ExposureLog& log,
                       size_t events, const recs::PromotionDecision& d) {
  std::string out = "{\"experiment\": " + Json(e.name) + ", \"layer\": " + Json(e.layer) +
                    ", \"window_s\": " + std::to_string(e.window_s) +
                    ", \"exposures_read\": " + std::to_string(log.exposures.size()) +
                    ", \"torn_bytes\": " + std::to_string(log.torn_bytes) + ", \"events\": " + std::to_string(events) +
                    ", \"events_counted\": " + std::to_string(r.events_counted) +
                    ", \"mixed_users\": " + std::to_string(r.mixed_users) +
                    ", \"unknown_arm_exposures\": " + std::to_string(r.unknown_arm) +
                    ", \"srm\": {\"chi2\": " + Num(r.srm_chi2) + ", \"p\": " + Num(r.srm_p) +
                    ", \"mismatch\": " + (r.srm ? "true" : "false") + "}, \"arms\": [";
  for (size_t i = 0; i < r.arms.size(); ++i) {
    const recs::ArmStats& a = r.arms[i];
    out += std::string(i ? ", " : "") + "{\"name\": " + Json(a.name) + ", \"model\": " + Json(a.model) +
           ", \"weight\": " + Num(a.weight) + ", \"control\": " + (a.control ? "true" : "false") +
           ", \"users\": " + std::to_string(a.users) + ", \"exposures\": " + std::to_string(a.exposures) +
           ", \"clicked\": " + std::to_string(a.clicked) + ", \"views\": " + std::to_string(a.views) +
           ", \"ctr\": " + Num(a.ctr) + ", \"watch_s_per_user\": " + Num(a.watch_s_per_user) +
           ", \"watch_s_sd\": " + Num(a.watch_s_sd);
    if (!a.control)
      out += ", \"diff\": " + Num(a.vs_control.diff) + ", \"diff_lo\": " + Num(a.vs_control.lo) +
             ", \"diff_hi\": " + Num(a.vs_control.hi) + ", \"lift\": " + Num(a.lift) +
             ", \"lift_lo\": " + Num(a.lift_lo) + ", \"lift_hi\": " + Num(a.lift_hi) +
             ", \"t\": " + Num(a.vs_control.t) + ", \"df\": " + Num(a.vs_control.df) +
             ", \"p\": " + Num(a.vs_control.p);
    out += "}";
  }
  out += "], \"decision\": {\"promote\": " + std::string(d.promote ? "true" : "false") + ", \"arm\": " + Json(d.arm) +
         ", \"model\": " + Json(d.model) + ", \"reasons\": [";
  for (size_t i = 0; i < d.reasons.size(); ++i) out += std::string(i ? ", " : "") + Json(d.reasons[i]);
  return out + "]}}";
}

void PrintReport(const recs::Experiment& e, const recs::ExperimentReport& r, const recs::ExposureLog& log,
                 size_t events) {
  std::printf("experiment %s (layer %s, window %.4g h): %zu exposures read, %zu events, %llu views counted\n",
              e.name.c_str(), e.layer.c_str(), static_cast<double>(e.window_s) / 3600, log.exposures.size(), events,
              static_cast<unsigned long long>(r.events_counted));
  if (log.torn_bytes) std::printf("  (a torn last record of %llu bytes ignored)\n", (unsigned long long)log.torn_bytes);
  if (r.mixed_users || r.unknown_arm)
    std::printf("  left out: %llu users seen in two arms, %llu exposures of arms not in the file\n",
                static_cast<unsigned long long>(r.mixed_users), static_cast<unsigned long long>(r.unknown_arm));
  std::printf("%-12s %-14s %6s %8s %9s %7s %13s  %-36s %9s\n", "arm", "model", "weight", "users", "exposures", "CTR",
              "watch s/user", "vs control (95% CI)", "p");
  for (const recs::ArmStats& a : r.arms) {
    std::string vs = "(control)", p;
    if (!a.control) {
      char buf[120];
      std::snprintf(buf, sizeof buf, "%+.2f s, %s (%s .. %s)", a.vs_control.diff, Pct(a.lift).c_str(),
                    Pct(a.lift_lo).c_str(), Pct(a.lift_hi).c_str());
      vs = buf;
      std::snprintf(buf, sizeof buf, "%.3g", a.vs_control.p);
      p = buf;
    }
    std::printf("%-12s %-14s %6g %8llu %9llu %6.2f%% %13.3f  %-36s %9s\n", a.name.c_str(),
                a.model.empty() ? "-" : a.model.c_str(), a.weight, static_cast<unsigned long long>(a.users),
                static_cast<unsigned long long>(a.exposures), 100 * a.ctr, a.watch_s_per_user, vs.c_str(), p.c_str());
  }
  std::printf("sample ratio: chi-square %.3f, p = %.3g: %s\n", r.srm_chi2, r.srm_p,
              r.srm ? "MISMATCH (p < 0.001)" : "no mismatch");
}

int ReportOrPromote(const std::string& action, const Flags& f) {
  const std::string command = "recs experiment " + action;
  const auto& pos = f.positional();
  if (pos.size() != 2) return Fail(command, action + " takes one experiment NAME\n\n" + kExperimentHelp, 2);
  auto ctx = OpenContext(f);
  if (!ctx.ok()) return Fail(command, ctx.status().message(), ctx.status().code() == StatusCode::kNotFound ? 2 : 1);
  const recs::Experiment* e = ctx->config.Find(pos[1]);
  if (!e) {
    std::string names;
    for (const auto& x : ctx->config.experiments) names += (names.empty() ? "" : ", ") + x.name;
    return Fail(command, "no experiment '" + pos[1] + "' in the experiments file (" + names + ")", 2);
  }
  bool usage = false;
  auto events = LoadEvents(f, &usage);
  if (!events.ok()) return Fail(command, events.status().message(), usage ? 2 : 1);
  auto log = recs::ReadExposures(FileSystem::Default(), ExposuresDir(ctx->data_dir), e->name);
  if (!log.ok()) return Fail(command, log.status().message());
  const recs::ExperimentReport r = recs::ComputeReport(*e, log->exposures, *events);
  const recs::PromotionDecision d = recs::DecidePromotion(r);
  if (action == "report") {
    if (f.Has("json")) {
      std::printf("%s\n", ReportJson(*e, r, *log, events->size(), d).c_str());
    } else {
      PrintReport(*e, r, *log, events->size());
      std::printf("promotion (>= +2%% watch time per user, significant at 95%%, no SRM): %s\n",
                  d.promote ? ("arm " + d.arm + ", " + d.model).c_str() : "none");
    }
    return 0;
  }
  if (!d.promote) {
    std::fprintf(stderr, "watershed %s: not promoting any arm of %s:\n", command.c_str(), e->name.c_str());
    for (const std::string& why : d.reasons) std::fprintf(stderr, "  %s\n", why.c_str());
    return 1;
  }
  auto ref = recs::ParseModelRef(d.model);
  if (!ref.ok()) return Fail(command, ref.status().message());
  for (const std::string& why : d.reasons) std::printf("%s\n", why.c_str());
  if (f.Has("dry-run")) {
    std::printf("would promote %s (arm %s); --dry-run: nothing changed\n", d.model.c_str(), d.arm.c_str());
    return 0;
  }
  recs::ModelRegistry registry(FileSystem::Default(), JoinPath(ctx->data_dir, "models"));
  if (Status s = registry.Promote(ref->name, *ref->version); !s.ok()) return Fail(command, s.message());
  std::printf("promoted %s (arm %s of %s): %s is now current\n", d.model.c_str(), d.arm.c_str(), e->name.c_str(),
              d.model.c_str());
  return 0;
}

int Assign(const Flags& f) {
  const auto& pos = f.positional();
  if (pos.size() != 2)
    return Fail("recs experiment assign", std::string("assign takes one USER\n\n") + kExperimentHelp, 2);
  auto user = ParseNumber<uint64_t>("USER", pos[1]);
  if (!user.ok()) return Fail("recs experiment assign", user.status().message(), 2);
  auto ctx = OpenContext(f);
  if (!ctx.ok()) return Fail("recs experiment assign", ctx.status().message());
  const auto assigned = recs::Assign(ctx->config, *user);
  for (const recs::Layer& l : ctx->config.layers) {
    const recs::Assignment* a = nullptr;
    for (const auto& x : assigned)
      if (x.experiment->layer == l.name) a = &x;
    if (!a) {
      std::printf("layer %s: no experiment\n", l.name.c_str());
      continue;
    }
    std::string params;
    for (const auto& [k, v] : a->arm->params) params += " " + k + "=" + v;
    std::printf("layer %s: experiment %s, arm %s%s%s\n", l.name.c_str(), a->experiment->name.c_str(),
                a->arm->name.c_str(), a->arm->model.empty() ? "" : (" (model " + a->arm->model + ")").c_str(),
                params.c_str());
  }
  return 0;
}

int Simulate(const Flags& f) {
  const char* command = "recs experiment simulate";
  const auto& pos = f.positional();
  if (pos.size() != 2) return Fail(command, std::string("simulate takes one experiment NAME\n\n") + kExperimentHelp, 2);
  if (!f.Has("events-out")) return Fail(command, "--events-out FILE is required", 2);
  recs::SimulationOptions o;
  o.users = 10000;
  for (const Status& s :
       {ReadNumber(f, "users", &o.users, size_t{1}, size_t{10'000'000}), ReadNumber(f, "effect", &o.effect, -0.9, 10.0),
        ReadNumber(f, "lose-treatment", &o.lose_treatment, 0.0, 1.0),
        ReadNumber(f, "seed", &o.seed, uint64_t{0}, UINT64_MAX)})
    if (!s.ok()) return Fail(command, s.message(), 2);
  auto ctx = OpenContext(f);
  if (!ctx.ok()) return Fail(command, ctx.status().message());
  const recs::Experiment* e = ctx->config.Find(pos[1]);
  if (!e) return Fail(command, "no experiment '" + pos[1] + "' in the experiments file", 2);
  const recs::SimulatedExperiment sim = recs::SimulateExperiment(ctx->config, *e, o);
  FileSystem* fs = FileSystem::Default();
  auto writer = recs::ExposureWriter::Open(fs, ExposuresDir(ctx->data_dir), e->name);
  if (!writer.ok()) return Fail(command, writer.status().message());
  for (const recs::Exposure& x : sim.exposures)
    if (Status s = (*writer)->Append(x); !s.ok()) return Fail(command, s.message());
  if (Status s = (*writer)->Sync(); !s.ok()) return Fail(command, s.message());
  if (Status s = WriteFileAtomically(fs, f.Get("events-out"), recs::EncodeEventsCsv(sim.events)); !s.ok())
    return Fail(command, s.message());
  std::printf("appended %zu exposures to %s; wrote %zu events to %s\n", sim.exposures.size(),
              recs::ExposureLogPath(ExposuresDir(ctx->data_dir), e->name).c_str(), sim.events.size(),
              f.Get("events-out").c_str());
  return 0;
}

}  // namespace

int RecsExperiment(const std::vector<std::string>& args) {
  auto parsed = Flags::Parse(args, {"config", "data-dir", "events", "from-lake", "region", "snapshot", "json!",
                                    "dry-run!", "events-out", "users", "effect", "lose-treatment", "seed", "help!"});
  if (!parsed.ok()) return Fail("recs experiment", parsed.status().message() + "\n\n" + kExperimentHelp, 2);
  const Flags& f = *parsed;
  if (f.Has("help")) {
    std::printf("%s", kExperimentHelp);
    return 0;
  }
  const std::string action = f.positional().empty() ? "" : f.positional()[0];
  if (action == "report" || action == "promote") return ReportOrPromote(action, f);
  if (action == "assign") return Assign(f);
  if (action == "simulate") return Simulate(f);
  return Fail("recs experiment",
              (action.empty() ? "an action is required" : "unknown action '" + action + "'") +
                  " (report, promote, assign or simulate)\n\n" + kExperimentHelp,
              2);
}

int RecsRules(const std::vector<std::string>& args) {
  auto parsed = Flags::Parse(args, {"help!"});
  if (!parsed.ok()) return Fail("recs rules", parsed.status().message() + "\n\n" + kRulesHelp, 2);
  if (parsed->Has("help")) {
    std::printf("%s", kRulesHelp);
    return 0;
  }
  const auto& pos = parsed->positional();
  if (pos.size() != 2 || pos[0] != "check")
    return Fail("recs rules", std::string("expected: check FILE\n\n") + kRulesHelp, 2);
  auto rules = recs::LoadRules(FileSystem::Default(), pos[1]);
  if (!rules.ok()) return Fail("recs rules", rules.status().message());
  const recs::Rules& r = *rules;
  std::printf(
      "%s: top_k %zu; mmr_lambda %g; at most %s per author, %s per tag; fresh share %g within %g h; "
      "%zu boosts; %zu pins; %zu blocked items, %zu blocked authors\n",
      pos[1].c_str(), r.top_k, r.mmr_lambda, r.max_per_author ? std::to_string(r.max_per_author).c_str() : "any",
      r.max_per_tag ? std::to_string(r.max_per_tag).c_str() : "any", r.fresh_share, r.fresh_hours, r.boosts.size(),
      r.pins.size(), r.blocked_items.size(), r.blocked_authors.size());
  return 0;
}

}  // namespace watershed::app
