#!/usr/bin/python3
"""Evaluates and plots a soak run (bench/soak.sh) from its CSV (soak_sampler.py).

Pass criteria, each printed with its figures:
  rss, fds   flat after warm-up: over the samples after warm-up, the slope of a least-squares
             line is at most --max-growth (10 %) of the reference per hour, and the largest
             sample is at most --max-ratio (1.2) x the reference. Reference = the median of the
             samples in the last minute of warm-up. Warm-up = the first --warmup seconds
             (default: a third of the run).
  p99        every later minute's p99 (the merged bucket counts of its samples) is at most
             --p99-factor (2) x the baseline p99 (the merged buckets of the first --baseline
             seconds: 600 s, or the warm-up when shorter).
  abuse      the abuse traffic got only its documented answers (or 429/503).
  verify     `load --verify` and the storm check found 0 mismatches (--verify-mismatches,
             --storm-mismatches as soak.sh counted them; -1 = the check itself failed).
Samples taken less than --settle (30 s) after a kill -9 restart (their interval included)
are left out of every criterion: for those seconds the load re-sends its backlog faster than
its rate and the new process restores its checkpoints and replays the log tail, which is
recovery, measured apart (the worst p99 in those windows is printed), not the degradation over
time the soak looks for. The first process's start is part of the warm-up.
Prints PASS or FAIL; exit code 1 on FAIL, 2 on unusable input.
"""
import argparse
import csv
import statistics
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
from soak_sampler import BUCKET_BOUNDS, quantile  # noqa: E402


def load(path):
    rows = list(csv.DictReader(open(path)))
    if not rows:
        raise SystemExit(f"soak_plot: {path} has no samples")
    return rows


def num(row, key):
    v = row.get(key, "")
    return float(v) if v not in ("", None) else None


def settling(row, every, settle):
    """True for a sample whose interval overlaps the first `settle` seconds of a restarted process."""
    restarts, since = num(row, "restarts"), num(row, "since_start_s")
    return bool(restarts) and since is not None and since - every < settle


def slope_per_hour(points):
    """Least-squares slope of (t, y) points, per hour; 0 with fewer than 2 distinct times."""
    n = len(points)
    mt = sum(t for t, _ in points) / n
    my = sum(y for _, y in points) / n
    var = sum((t - mt) ** 2 for t, _ in points)
    return 0.0 if var == 0 else 3600 * sum((t - mt) * (y - my) for t, y in points) / var


def merged_p99(rows):
    counts = [0] * len(BUCKET_BOUNDS)
    for r in rows:
        if r.get("buckets"):
            counts = [a + int(b) for a, b in zip(counts, r["buckets"].split())]
    q = quantile(counts, 0.99)
    return None if q is None else q * 1e3, sum(counts)


def evaluate(rows, a):
    """[(name, ok, text)] for every criterion."""
    every = a.every
    end = num(rows[-1], "t_s")
    warmup = a.warmup if a.warmup is not None else end / 3
    baseline = a.baseline if a.baseline is not None else min(600.0, warmup)
    steady = [r for r in rows if not settling(r, every, a.settle)]
    results = []
    for key, name in (("rss_kb", "rss"), ("fds", "fds")):
        ref_samples = [num(r, key) for r in steady if warmup - 60 < num(r, "t_s") <= warmup and num(r, key)]
        after = [(num(r, "t_s"), num(r, key)) for r in steady if num(r, "t_s") > warmup and num(r, key) is not None]
        if not ref_samples or len(after) < 2:
            results.append((name, False, f"too few samples (reference {len(ref_samples)}, after warm-up {len(after)})"))
            continue
        ref = statistics.median(ref_samples)
        growth = slope_per_hour(after) / ref
        peak = max(y for _, y in after)
        ok = growth <= a.max_growth and peak <= a.max_ratio * ref
        unit = " MiB" if key == "rss_kb" else ""
        scale = 1 / 1024 if key == "rss_kb" else 1
        results.append((name, ok, f"reference {ref * scale:.1f}{unit} at warm-up end ({warmup:.0f} s), slope after "
                                  f"{growth * 100:+.1f} %/h (limit {a.max_growth * 100:.0f}), max {peak * scale:.1f}"
                                  f"{unit} = {peak / ref:.2f}x (limit {a.max_ratio:.2f}x), {len(after)} samples"))
    base, base_n = merged_p99([r for r in steady if num(r, "t_s") <= baseline])
    later = [r for r in steady if num(r, "t_s") > baseline]
    if base is None:
        results.append(("p99", False, f"no requests in the first {baseline:.0f} s"))
    else:
        worst, worst_at, blocks = 0.0, None, 0
        first = int(baseline // 60)
        for minute in range(first, int(end // 60) + 1):
            q, _ = merged_p99([r for r in later if minute * 60 < num(r, "t_s") <= (minute + 1) * 60])
            if q is None:
                continue
            blocks += 1
            if q > worst:
                worst, worst_at = q, minute * 60
        ok = blocks > 0 and worst <= a.p99_factor * base
        where = f" (minute from {worst_at} s)" if worst_at is not None else ""
        results.append(("p99", ok, f"baseline {base:.2f} ms (first {baseline:.0f} s, {base_n} requests), worst later "
                                   f"minute {worst:.2f} ms{where} = {worst / base:.2f}x (limit {a.p99_factor:.1f}x), "
                                   f"{blocks} minutes"))
    recovering = [r for r in rows if settling(r, every, a.settle)]
    if recovering:
        q, n = merged_p99(recovering)
        peak = max((num(r, "p99_ms") or 0) for r in recovering)
        results.append(("recovery", True, f"{int(max(num(r, 'restarts') or 0 for r in rows))} restarts; p99 in the "
                                          f"{a.settle:.0f} s after them {q or 0:.2f} ms merged, worst sample "
                                          f"{peak:.2f} ms (not a criterion)"))
    unexpected = num(rows[-1], "abuse_unexpected")
    if unexpected is None:
        results.append(("abuse", False, "no abuse traffic recorded"))
    else:
        last = rows[-1]
        results.append(("abuse", unexpected == 0,
                        f"{last['abuse_requests']} requests: 400 x{last['abuse_400']}, 401 x{last['abuse_401']}, "
                        f"413 x{last['abuse_413']}, 200 x{last['abuse_200']} (storm copies), 429 x{last['abuse_429']}, "
                        f"{last['abuse_conn_errors']} connection errors, {unexpected:.0f} unexpected"))
    for name, n in (("verify", a.verify_mismatches), ("storm", a.storm_mismatches)):
        if n is not None:
            results.append((name, n == 0, f"{n} mismatches" if n >= 0 else "the check did not complete"))
    return results, warmup, baseline, base


def plot(rows, a, warmup, baseline, base, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = [num(r, "t_s") / 60 for r in rows]
    series = [("RSS (MiB)", [(num(r, "rss_kb") or float("nan")) / 1024 for r in rows]),
              ("open fds", [num(r, "fds") or float("nan") for r in rows]),
              ("p99 POST /v1/events (ms)", [num(r, "p99_ms") or float("nan") for r in rows]),
              ("lag (records)", [num(r, "lag_records") if num(r, "lag_records") is not None else float("nan")
                                 for r in rows])]
    fig, axes = plt.subplots(len(series), 1, figsize=(9, 9), sharex=True)
    # Each restart at the time its first sample says the new process started.
    restarts = [(num(r, "t_s") - num(r, "since_start_s")) / 60 for prev, r in zip(rows, rows[1:])
                if r["restarts"] and prev["restarts"] and r["restarts"] != prev["restarts"] and r["since_start_s"]]
    for ax, (label, ys) in zip(axes, series):
        ax.plot(t, ys, lw=1)
        ax.set_ylabel(label, fontsize=8)
        ax.axvspan(0, warmup / 60, color="0.9", lw=0)
        for x in restarts:
            ax.axvline(x, color="red", lw=0.6, ls=":")
        ax.grid(alpha=0.3)
    for key, style, label in (("rss_anon_kb", "--", "anonymous"), ("rss_file_kb", ":", "mapped files")):
        if any(num(r, key) for r in rows):
            axes[0].plot(t, [(num(r, key) or float("nan")) / 1024 for r in rows], lw=0.8, ls=style, label=label)
    if any(num(r, "rss_anon_kb") for r in rows):
        axes[0].legend(fontsize=7)
    client = [num(r, "client_p99_ms") or float("nan") for r in rows]
    axes[2].plot(t, client, lw=0.8, ls="--", color="gray", label="load's own worst 1-s p99")
    if base is not None:
        axes[2].axhline(a.p99_factor * base, color="orange", lw=0.8, label=f"{a.p99_factor:g}x baseline")
    axes[2].set_yscale("log")  # the load's own p99 spikes after restarts would flatten the rest
    axes[2].legend(fontsize=7)
    axes[-1].set_xlabel("minutes (grey: warm-up; red dotted: kill -9 + restart)")
    fig.suptitle(a.title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=70)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("csv")
    p.add_argument("--png", help="write the plot here")
    p.add_argument("--title", default="Watershed soak")
    p.add_argument("--every", type=float, default=10, help="the sampling period, seconds")
    p.add_argument("--warmup", type=float, help="seconds (default: a third of the run)")
    p.add_argument("--baseline", type=float, help="seconds of the p99 baseline (default: min(600, warm-up))")
    p.add_argument("--settle", type=float, default=30, help="seconds after a restart left out")
    p.add_argument("--max-growth", type=float, default=0.10, help="RSS/fds slope limit, fraction per hour")
    p.add_argument("--max-ratio", type=float, default=1.2, help="RSS/fds max over the reference")
    p.add_argument("--p99-factor", type=float, default=2.0)
    p.add_argument("--verify-mismatches", type=int)
    p.add_argument("--storm-mismatches", type=int)
    a = p.parse_args()
    rows = load(a.csv)
    results, warmup, baseline, base = evaluate(rows, a)
    for name, ok, text in results:
        print(f"{name:8s} {'ok  ' if ok else 'FAIL'} {text}")
    passed = all(ok for _, ok, _ in results)
    print("PASS" if passed else "FAIL")
    if a.png:
        plot(rows, a, warmup, baseline, base, a.png)
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
