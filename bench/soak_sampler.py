#!/usr/bin/python3
"""Samples a running `watershed serve` every --every seconds for bench/soak.sh.

One CSV row per sample:
  t_s                seconds since the sampler started
  pid, restarts      the server process sampled (from --pid-file: "PID STARTED_UNIX RESTARTS";
                     soak.sh rewrites it after each kill -9 + restart)
  since_start_s      seconds since that process started
  rss_kb, fds        VmRSS of /proc/PID/status, entries of /proc/PID/fd
  rss_anon_kb, rss_file_kb   VmRSS's parts: heap and other private memory; mapped files
  p99_ms             server-side p99 of POST /v1/events over the interval: the deltas of the
                     watershed_http_request_seconds{route="ingest"} histogram of /metrics, interpolated
                     linearly inside the bucket (Prometheus' histogram_quantile); coarse buckets
                     (…2.5, 5, 10, 25 ms…). Includes the abuse requests (~1 % of the requests).
  ingest_requests    requests in that histogram over the interval
  buckets            the interval's bucket counts, space-separated (upper bounds in BUCKET_BOUNDS)
  lag_records        watershed_lag_records (acknowledged, not yet in the live store)
  dedup_entries      watershed_dedup_entries (event ids the processors retain)
  acked, retries     the good load's cumulative acknowledged events and retries (its progress lines)
  client_p99_ms      the good load's own view: the largest of its per-second p99s in the interval
  abuse_*            cumulative answers to soak_abuse.py by HTTP status, unexpected answers,
                     connection errors
Empty fields: nothing to measure (the server is down, or no request finished).
"""
import argparse
import json
import os
import re
import signal
import sys
import time
import urllib.request

BUCKET_BOUNDS = [25e-6, 50e-6, 100e-6, 250e-6, 500e-6, 1e-3, 2.5e-3, 5e-3, 10e-3, 25e-3, 50e-3, 100e-3, 250e-3,
                 500e-3, 1.0, 2.5, 5.0, 10.0, float("inf")]
COLUMNS = ["t_s", "pid", "restarts", "since_start_s", "rss_kb", "rss_anon_kb", "rss_file_kb", "fds", "p99_ms",
           "ingest_requests", "lag_records", "dedup_entries",
           "acked", "retries", "client_p99_ms", "abuse_requests", "abuse_400", "abuse_401", "abuse_413", "abuse_429",
           "abuse_200", "abuse_unexpected", "abuse_conn_errors", "buckets"]
BUCKET_RE = re.compile(r'^watershed_http_request_seconds_bucket\{[^}]*route="ingest"[^}]*le="([^"]+)"\} (\d+)')
LOAD_RE = re.compile(r"acked (\d+) .*retries (\d+) .*p99 ([0-9.]+|-) ms")


def quantile(counts, q):
    """histogram_quantile over per-bucket (not cumulative) counts; None when empty."""
    total = sum(counts)
    if total == 0:
        return None
    rank, seen = q * total, 0
    for i, c in enumerate(counts):
        if c and seen + c >= rank:
            lower = BUCKET_BOUNDS[i - 1] if i > 0 else 0.0
            upper = BUCKET_BOUNDS[i]
            if upper == float("inf"):
                return lower
            return lower + (upper - lower) * (rank - seen) / c
        seen += c
    return BUCKET_BOUNDS[-2]


def scrape(server):
    """(ingest bucket counts, {gauge: value}) from /metrics; (None, {}) when the server does not answer."""
    try:
        text = urllib.request.urlopen(f"http://{server}/metrics", timeout=5).read().decode()
    except OSError:
        return None, {}
    cumulative, gauges = {}, {}
    for line in text.splitlines():
        m = BUCKET_RE.match(line)
        if m:
            cumulative[float(m.group(1))] = int(m.group(2))
        elif line.startswith(("watershed_lag_records ", "watershed_dedup_entries ")):
            gauges[line.split()[0]] = int(float(line.split()[1]))
    bounds = sorted(cumulative)
    if len(bounds) != len(BUCKET_BOUNDS):
        return None, gauges
    cum = [cumulative[b] for b in bounds]
    return [cum[0]] + [cum[i] - cum[i - 1] for i in range(1, len(cum))], gauges


def kb(field):
    """'  123456 kB' -> 123456."""
    return int(field.split()[0])


def proc_sample(pid):
    """{rss_kb, rss_anon_kb, rss_file_kb, fds} of a live process; {} when it is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            status = dict(line.split(":", 1) for line in f if ":" in line)
        return {"rss_kb": kb(status["VmRSS"]), "rss_anon_kb": kb(status["RssAnon"]),
                "rss_file_kb": kb(status["RssFile"]), "fds": len(os.listdir(f"/proc/{pid}/fd"))}
    except (OSError, KeyError, ValueError):
        return {}


class LoadLog:
    """Follows the good load's progress lines."""

    def __init__(self, path):
        self.path, self.offset, self.acked, self.retries = path, 0, None, None

    def read(self):
        worst = None
        try:
            with open(self.path) as f:
                f.seek(self.offset)
                text = f.read()
        except OSError:
            return None
        complete = text[:text.rfind("\n") + 1]
        self.offset += len(complete.encode())
        for line in complete.splitlines():
            m = LOAD_RE.search(line)
            if not m:
                continue
            self.acked, self.retries = int(m.group(1)), int(m.group(2))
            if m.group(3) != "-":
                worst = max(worst or 0.0, float(m.group(3)))
        return worst


def abuse_counts(path):
    try:
        s = json.load(open(path))
    except (OSError, ValueError):
        return {}
    by_status = {}
    for answers in s["by_kind"].values():
        for answer, n in answers.items():
            key = answer.split(" ")[0]
            by_status[key] = by_status.get(key, 0) + n
    return {"abuse_requests": s["requests"], "abuse_unexpected": s["unexpected"], "abuse_conn_errors": s["conn_errors"],
            **{f"abuse_{c}": by_status.get(c, 0) for c in ("200", "400", "401", "413", "429")}}


def sample(args, start, load, state):
    """One CSV line; `state` keeps the last process's pid and histogram between calls."""
    row = {c: "" for c in COLUMNS}
    row["t_s"] = f"{time.time() - start:.1f}"
    try:
        pid, started, restarts = open(args.pid_file).read().split()
    except (OSError, ValueError):
        pid = started = restarts = None
    if pid:
        row.update(pid=pid, restarts=restarts, since_start_s=f"{time.time() - float(started):.1f}")
        row.update(proc_sample(pid))
        counts, gauges = scrape(args.server)
        row.update(lag_records=gauges.get("watershed_lag_records", ""),
                   dedup_entries=gauges.get("watershed_dedup_entries", ""))
        if counts is not None:
            # A new process starts its histogram at zero.
            base = state.get("cum") if pid == state.get("pid") else None
            delta = [c - b for c, b in zip(counts, base)] if base else counts
            if min(delta) < 0:
                delta = counts
            q = quantile(delta, 0.99)
            row.update(p99_ms="" if q is None else f"{q * 1e3:.3f}", ingest_requests=sum(delta),
                       buckets=" ".join(map(str, delta)))
            state.update(pid=pid, cum=counts)
    client = load.read()
    row.update(acked="" if load.acked is None else load.acked,
               retries="" if load.retries is None else load.retries,
               client_p99_ms="" if client is None else client)
    row.update(abuse_counts(args.abuse_status))
    return ",".join(str(row[c]) for c in COLUMNS)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--server", required=True)
    p.add_argument("--pid-file", required=True)
    p.add_argument("--load-log", required=True)
    p.add_argument("--abuse-status", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--every", type=float, default=10)
    args = p.parse_args()
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    load, state = LoadLog(args.load_log), {}
    start = time.time()
    with open(args.out, "w") as out:
        out.write(",".join(COLUMNS) + "\n")
        tick = 1
        while not stop:
            time.sleep(max(0.0, start + tick * args.every - time.time()))
            if stop:
                break
            try:
                out.write(sample(args, start, load, state) + "\n")
            except Exception as e:  # noqa: BLE001 - one bad sample must not end an hour's run
                print(f"soak_sampler: sample {tick} failed: {e!r}", file=sys.stderr, flush=True)
            out.flush()
            tick += 1


if __name__ == "__main__":
    main()
