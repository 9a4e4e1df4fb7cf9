#include "recs/experiment_stats.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <limits>
#include <unordered_map>

#include "recs/line_reader.h"

namespace watershed::recs {
namespace {

constexpr double kEps = 1e-15;
constexpr double kTiny = 1e-300;

// The continued fraction of the regularized incomplete beta function (modified Lentz), for x < (a+1)/(a+b+2).
double BetaFraction(double a, double b, double x) {
  double c = 1, d = 1 - (a + b) * x / (a + 1);
  if (std::fabs(d) < kTiny) d = kTiny;
  d = 1 / d;
  double f = d;
  for (int m = 1; m <= 10000; ++m) {
    for (int odd = 0; odd < 2; ++odd) {
      const double num = odd ? -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))
                             : m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m));
      d = 1 + num * d;
      if (std::fabs(d) < kTiny) d = kTiny;
      c = 1 + num / c;
      if (std::fabs(c) < kTiny) c = kTiny;
      d = 1 / d;
      f *= d * c;
      if (odd && std::fabs(d * c - 1) < kEps) return f;
    }
  }
  return f;
}

// I_x(a, b).
double RegularizedBeta(double x, double a, double b) {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  const double log_front =
      a * std::log(x) + b * std::log1p(-x) - (std::lgamma(a) + std::lgamma(b) - std::lgamma(a + b));
  if (x < (a + 1) / (a + b + 2)) return std::exp(log_front) * BetaFraction(a, b, x) / a;
  return 1 - std::exp(log_front) * BetaFraction(b, a, 1 - x) / b;
}

// The upper regularized incomplete gamma function Q(a, x).
double UpperGamma(double a, double x) {
  if (x <= 0) return 1;
  const double log_front = a * std::log(x) - x - std::lgamma(a);
  if (x < a + 1) {  // the series of P(a, x)
    double term = 1 / a, sum = term;
    for (int n = 1; n < 100000 && std::fabs(term) > std::fabs(sum) * kEps; ++n) {
      term *= x / (a + n);
      sum += term;
    }
    return 1 - std::exp(log_front) * sum;
  }
  // The continued fraction of Q (modified Lentz).
  double b = x + 1 - a, c = 1 / kTiny, d = 1 / b, h = d;
  for (int i = 1; i < 100000; ++i) {
    const double an = -i * (i - a);
    b += 2;
    d = an * d + b;
    if (std::fabs(d) < kTiny) d = kTiny;
    c = b + an / c;
    if (std::fabs(c) < kTiny) c = kTiny;
    d = 1 / d;
    h *= d * c;
    if (std::fabs(d * c - 1) < kEps) break;
  }
  return std::exp(log_front) * h;
}

// P(|T| >= |t|).
double TwoSidedTail(double t, double df) {
  if (!std::isfinite(t)) return 0;
  return RegularizedBeta(df / (df + t * t), df / 2, 0.5);
}

std::string Percent(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%+.2f %%", v * 100);
  return buf;
}

}  // namespace

double StudentTCdf(double t, double df) {
  const double tail = TwoSidedTail(t, df) / 2;
  return t > 0 ? 1 - tail : tail;
}

double StudentTQuantile(double p, double df) {
  if (p == 0.5) return 0;
  double lo = -1, hi = 1;
  while (StudentTCdf(lo, df) > p && lo > -1e300) lo *= 2;
  while (StudentTCdf(hi, df) < p && hi < 1e300) hi *= 2;
  for (int i = 0; i < 200 && hi - lo > 1e-13 * std::max(1.0, std::fabs(hi)); ++i) {
    const double mid = (lo + hi) / 2;
    (StudentTCdf(mid, df) < p ? lo : hi) = mid;
  }
  return (lo + hi) / 2;
}

double ChiSquareSurvival(double x, double df) { return UpperGamma(df / 2, x / 2); }

WelchResult WelchTest(double mean_a, double var_a, double n_a, double mean_b, double var_b, double n_b,
                      double confidence) {
  WelchResult r;
  r.diff = mean_b - mean_a;
  const double inf = std::numeric_limits<double>::infinity();
  r.lo = -inf;
  r.hi = inf;
  if (n_a < 2 || n_b < 2) return r;
  const double ea = var_a / n_a, eb = var_b / n_b;
  r.se = std::sqrt(ea + eb);
  if (!(r.se > 0)) return r;
  r.df = (ea + eb) * (ea + eb) / (ea * ea / (n_a - 1) + eb * eb / (n_b - 1));
  r.t = r.diff / r.se;
  r.p = TwoSidedTail(r.t, r.df);
  const double q = StudentTQuantile(1 - (1 - confidence) / 2, r.df);
  r.lo = r.diff - q * r.se;
  r.hi = r.diff + q * r.se;
  return r;
}

ExperimentReport ComputeReport(const Experiment& e, std::span<const Exposure> exposures,
                               std::span<const EngagementEvent> events) {
  ExperimentReport r;
  r.experiment = e.name;
  // Each user's arm (SIZE_MAX: mixed) and exposures in time order.
  struct User {
    size_t arm = 0;
    std::vector<size_t> exposures;
    double watch_s = 0;
    uint64_t views = 0;
  };
  std::unordered_map<uint64_t, User> users;
  for (size_t i = 0; i < exposures.size(); ++i) {
    const Exposure& x = exposures[i];
    const Arm* arm = e.FindArm(x.arm);
    if (!arm) {
      ++r.unknown_arm;
      continue;
    }
    const size_t index = static_cast<size_t>(arm - e.arms.data());
    auto [it, fresh] = users.try_emplace(x.user);
    if (fresh)
      it->second.arm = index;
    else if (it->second.arm != index)
      it->second.arm = SIZE_MAX;
    it->second.exposures.push_back(i);
  }
  for (auto& [id, u] : users) {
    if (u.arm == SIZE_MAX) ++r.mixed_users;
    std::stable_sort(u.exposures.begin(), u.exposures.end(),
                     [&](size_t a, size_t b) { return exposures[a].time_ms < exposures[b].time_ms; });
  }
  // Views joined to the latest matching exposure of their user within the window.
  std::vector<uint8_t> clicked(exposures.size(), 0);
  const int64_t window_ms = e.window_s * 1000;
  for (const EngagementEvent& ev : events) {
    if (ev.type != EventType::kView) continue;
    auto it = users.find(ev.viewer);
    if (it == users.end() || it->second.arm == SIZE_MAX) continue;
    const std::vector<size_t>& mine = it->second.exposures;
    auto after = std::upper_bound(mine.begin(), mine.end(), ev.event_time_ms,
                                  [&](int64_t t, size_t x) { return t < exposures[x].time_ms; });
    for (auto x = after; x != mine.begin();) {
      --x;
      const Exposure& exp = exposures[*x];
      // Times come from files (a CRC, not a bound): compare without overflowing.
      int64_t since = 0;
      if (__builtin_sub_overflow(ev.event_time_ms, exp.time_ms, &since) || since > window_ms) break;
      if (std::find(exp.items.begin(), exp.items.end(), ev.story) == exp.items.end()) continue;
      clicked[*x] = 1;
      it->second.watch_s += ev.watch_ms / 1000.0;
      ++it->second.views;
      ++r.events_counted;
      break;
    }
  }
  // Per arm, users in id order (so sums do not depend on hashing).
  std::vector<std::pair<uint64_t, const User*>> ordered;
  for (const auto& [id, u] : users)
    if (u.arm != SIZE_MAX) ordered.emplace_back(id, &u);
  std::sort(ordered.begin(), ordered.end());
  r.arms.resize(e.arms.size());
  std::vector<double> sum(e.arms.size(), 0), sum_sq(e.arms.size(), 0);
  for (size_t a = 0; a < e.arms.size(); ++a) {
    r.arms[a].name = e.arms[a].name;
    r.arms[a].model = e.arms[a].model;
    r.arms[a].weight = e.arms[a].weight;
    r.arms[a].control = e.arms[a].name == e.control;
  }
  for (const auto& [id, u] : ordered) {
    ArmStats& s = r.arms[u->arm];
    ++s.users;
    s.views += u->views;
    sum[u->arm] += u->watch_s;
    for (size_t x : u->exposures) {
      ++s.exposures;
      s.clicked += clicked[x];
    }
  }
  std::vector<double> mean(e.arms.size(), 0), var(e.arms.size(), 0);
  for (size_t a = 0; a < e.arms.size(); ++a)
    if (r.arms[a].users) mean[a] = sum[a] / static_cast<double>(r.arms[a].users);
  for (const auto& [id, u] : ordered) sum_sq[u->arm] += (u->watch_s - mean[u->arm]) * (u->watch_s - mean[u->arm]);
  const double total_weight = e.TotalWeight();
  uint64_t total_users = 0;
  for (const ArmStats& s : r.arms) total_users += s.users;
  const size_t control = static_cast<size_t>(e.FindArm(e.control) - e.arms.data());
  for (size_t a = 0; a < e.arms.size(); ++a) {
    ArmStats& s = r.arms[a];
    const double n = static_cast<double>(s.users);
    var[a] = s.users > 1 ? sum_sq[a] / (n - 1) : 0;
    s.watch_s_per_user = mean[a];
    s.watch_s_sd = std::sqrt(var[a]);
    s.ctr = s.exposures ? static_cast<double>(s.clicked) / static_cast<double>(s.exposures) : 0;
    if (total_users) {
      const double expected = static_cast<double>(total_users) * s.weight / total_weight;
      r.srm_chi2 += (n - expected) * (n - expected) / expected;
    }
  }
  for (size_t a = 0; a < e.arms.size(); ++a) {
    if (a == control) continue;
    ArmStats& s = r.arms[a];
    s.vs_control = WelchTest(mean[control], var[control], static_cast<double>(r.arms[control].users), mean[a], var[a],
                             static_cast<double>(s.users));
    if (mean[control] > 0) {
      s.lift = s.vs_control.diff / mean[control];
      s.lift_lo = s.vs_control.lo / mean[control];
      s.lift_hi = s.vs_control.hi / mean[control];
    }
  }
  if (total_users && e.arms.size() > 1) {
    r.srm_p = ChiSquareSurvival(r.srm_chi2, static_cast<double>(e.arms.size() - 1));
    r.srm = r.srm_p < 0.001;
  }
  return r;
}

PromotionDecision DecidePromotion(const ExperimentReport& r, const PromotionRule& rule) {
  PromotionDecision d;
  uint64_t users = 0;
  for (const ArmStats& s : r.arms) users += s.users;
  if (users == 0) {
    d.reasons.push_back("no exposed users: nothing to compare");
    return d;
  }
  if (r.srm_p < rule.srm_alpha) {
    char buf[160];
    std::snprintf(buf, sizeof buf, "sample ratio mismatch: chi-square %.2f, p = %.3g < %g (users per arm:", r.srm_chi2,
                  r.srm_p, rule.srm_alpha);
    std::string why = buf;
    for (const ArmStats& s : r.arms) why += " " + s.name + " " + std::to_string(s.users);
    d.reasons.push_back(why + ") — the assignment or the logging is broken; no arm can be trusted");
    return d;
  }
  const ArmStats* best = nullptr;
  for (const ArmStats& s : r.arms) {
    if (s.control) continue;
    char buf[256];
    std::snprintf(buf, sizeof buf, "arm %s: watch time per user %s (95 %% CI %s … %s), p = %.3g", s.name.c_str(),
                  Percent(s.lift).c_str(), Percent(s.lift_lo).c_str(), Percent(s.lift_hi).c_str(), s.vs_control.p);
    std::string why = buf;
    if (!(s.vs_control.p < rule.alpha)) {
      d.reasons.push_back(why + ": not significant at " + std::to_string(static_cast<int>(100 * (1 - rule.alpha))) +
                          " %");
      continue;
    }
    if (s.lift < rule.min_lift) {
      d.reasons.push_back(why + ": below the required " + Percent(rule.min_lift));
      continue;
    }
    if (s.model.empty()) {
      d.reasons.push_back(why +
                          ": wins, but the arm names no model version to "
                          "promote (parameters only)");
      continue;
    }
    d.reasons.push_back(why + ": wins");
    if (!best || s.lift > best->lift) best = &s;
  }
  if (best) {
    d.promote = true;
    d.arm = best->name;
    d.model = best->model;
  }
  return d;
}

Result<std::vector<EngagementEvent>> ParseEventsCsv(std::string_view text, const std::string& path) {
  std::vector<EngagementEvent> out;
  LineReader lines(text, path);
  std::string_view l;
  while (lines.Next(&l)) {
    const size_t line = lines.line_number();
    if (l.empty() || (line == 1 && l.substr(0, 6) == "viewer")) continue;
    std::vector<std::string_view> f;
    while (true) {
      const size_t comma = l.find(',');
      f.push_back(l.substr(0, comma));
      if (comma == std::string_view::npos) break;
      l.remove_prefix(comma + 1);
    }
    auto bad = [&](const std::string& why) {
      return Status::InvalidArgument(path + ":" + std::to_string(line) + ": " + why);
    };
    if (f.size() != 5) return bad("expected viewer,story,type,watch_ms,event_time_ms");
    EngagementEvent e;
    auto num = [](std::string_view s, auto* v) {
      auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), *v);
      return ec == std::errc() && end == s.data() + s.size() && !s.empty();
    };
    if (!num(f[0], &e.viewer)) return bad("viewer must be an unsigned integer");
    if (!num(f[1], &e.story)) return bad("story must be an unsigned integer");
    auto type = ParseEventType(f[2]);
    if (!type) return bad("type must be view, share or reply");
    e.type = *type;
    if (!num(f[3], &e.watch_ms)) return bad("watch_ms must be an unsigned 32-bit integer");
    if (!num(f[4], &e.event_time_ms)) return bad("event_time_ms must be an integer");
    out.push_back(e);
  }
  return out;
}

}  // namespace watershed::recs
