#!/usr/bin/python3
"""soak_plot.py's verdicts on synthetic soak CSVs: a healthy run passes, and
each kind of degradation (RSS or fd leak, p99 growth, a mismatch, an
unexpected abuse answer) fails, naming the criterion. CTest: soak_plot."""
import os
import random
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, HERE)
from soak_sampler import BUCKET_BOUNDS, COLUMNS  # noqa: E402

HEALTHY = {6: 900, 7: 95, 8: 5}  # p99 in the 2.5-5 ms bucket (~4.9 ms)
SLOW = {8: 900, 9: 95, 10: 5}  # p99 ~24 ms


def run_csv(duration=3600, every=10, kill_every=600, rss=lambda t: 500_000, fds=lambda t: 80,
            buckets=lambda t, since: HEALTHY, unexpected=0, seed=1):
    """CSV text of a synthetic run: a restart every kill_every s, small noise on RSS."""
    rnd = random.Random(seed)
    lines = [",".join(COLUMNS)]
    for i in range(1, duration // every + 1):
        t = i * every
        restarts = t // kill_every
        since = t - restarts * kill_every + 0.5
        b = buckets(t, since)
        counts = [b.get(j, 0) for j in range(len(BUCKET_BOUNDS))]
        row = {"t_s": t, "pid": 100 + restarts, "restarts": restarts, "since_start_s": since,
               "rss_kb": int(rss(t) * (1 + rnd.uniform(-0.01, 0.01))), "rss_anon_kb": "", "rss_file_kb": "",
               "fds": fds(t), "p99_ms": "", "ingest_requests": sum(counts), "lag_records": rnd.randint(0, 500),
               "dedup_entries": "", "acked": 5000 * t, "retries": 0,
               "client_p99_ms": "", "abuse_requests": 8 * t, "abuse_400": 2 * t, "abuse_401": 4 * t,
               "abuse_413": t, "abuse_429": 0, "abuse_200": t, "abuse_unexpected": unexpected if t > 1000 else 0,
               "abuse_conn_errors": restarts, "buckets": " ".join(map(str, counts))}
        lines.append(",".join(str(row[c]) for c in COLUMNS))
    return "\n".join(lines) + "\n"


class SoakPlotTest(unittest.TestCase):
    def judge(self, text, *extra):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "soak.csv")
            with open(path, "w") as f:
                f.write(text)
            r = subprocess.run([sys.executable, os.path.join(HERE, "soak_plot.py"), path, *extra],
                               capture_output=True, text=True)
            return r.returncode, r.stdout + r.stderr

    def failed(self, out):
        return [line.split()[0] for line in out.splitlines() if len(line.split()) > 1 and line.split()[1] == "FAIL"]

    def test_healthy_run_passes(self):
        code, out = self.judge(run_csv(), "--verify-mismatches", "0", "--storm-mismatches", "0")
        self.assertEqual(code, 0, out)
        self.assertTrue(out.rstrip().endswith("PASS"), out)

    def test_rss_leak_fails(self):
        # +30 % per hour after a flat start: slope over the limit.
        code, out = self.judge(run_csv(rss=lambda t: 500_000 * (1 + 0.3 * max(0, t - 1200) / 3600)))
        self.assertEqual(code, 1, out)
        self.assertEqual(self.failed(out), ["rss"], out)

    def test_rss_step_fails_on_the_max(self):
        # Flat slope overall but one late jump above 1.2x the reference.
        code, out = self.judge(run_csv(rss=lambda t: 650_000 if 2000 < t < 2100 else 500_000))
        self.assertEqual(self.failed(out), ["rss"], out)

    def test_fd_leak_fails(self):
        code, out = self.judge(run_csv(fds=lambda t: 80 + t // 60))
        self.assertEqual(code, 1, out)
        self.assertEqual(self.failed(out), ["fds"], out)

    def test_p99_growth_fails(self):
        code, out = self.judge(run_csv(buckets=lambda t, since: SLOW if t > 3000 else HEALTHY))
        self.assertEqual(code, 1, out)
        self.assertEqual(self.failed(out), ["p99"], out)

    def test_slow_seconds_after_a_restart_are_left_out(self):
        slow_after_restart = lambda t, since: SLOW if t > 600 and since < 25 else HEALTHY  # noqa: E731
        code, out = self.judge(run_csv(buckets=slow_after_restart))
        self.assertEqual(code, 0, out)
        self.assertIn("recovery", out)
        # The same slow samples, not after a restart, fail.
        code, out = self.judge(run_csv(buckets=lambda t, since: SLOW if t > 600 and t % 600 == 300 else HEALTHY))
        self.assertEqual(self.failed(out), ["p99"], out)

    def test_mismatches_and_unexpected_answers_fail(self):
        code, out = self.judge(run_csv(), "--verify-mismatches", "3")
        self.assertEqual(self.failed(out), ["verify"], out)
        code, out = self.judge(run_csv(), "--storm-mismatches", "-1")
        self.assertEqual(self.failed(out), ["storm"], out)
        code, out = self.judge(run_csv(unexpected=2))
        self.assertEqual(code, 1, out)
        self.assertEqual(self.failed(out), ["abuse"], out)

    def test_writes_the_plot(self):
        with tempfile.TemporaryDirectory() as d:
            png = os.path.join(d, "soak.png")
            code, out = self.judge(run_csv(duration=600, kill_every=200), "--png", png)
            self.assertEqual(code, 0, out)
            with open(png, "rb") as f:
                self.assertEqual(f.read(8), b"\x89PNG\r\n\x1a\n")


if __name__ == "__main__":
    unittest.main()
