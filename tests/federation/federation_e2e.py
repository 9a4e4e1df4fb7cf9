#!/usr/bin/env python3
"""Three regions' deployments on loopback (issue #12 part 3, docs/query.md "Global queries").

Starts `watershed serve` for us, eu and apac (own data dirs, one region each, auth on, peers and a shared peer token),
with a recording TCP proxy between the US coordinator and the EU peer for the whole test. Ingests a known load
per region (distinctive viewer ids and random event ids: the ground truth), waits for each lake to commit it, then:
  (a) a global aggregate from the US coordinator equals the sum over regions DuckDB computes on each region's
      own Parquet files; EXPLAIN shows each border;
  (b) a query for EU viewer rows from the US coordinator is 403 residency_violation (before any peer call) and in
      the US audit (`watershed audit --verdict refused`); so are US rows for an EU analyst; fragment calls that break EU's policy, or come without
      the peer credential, are refused by EU itself and audited there;
  (c) no EU viewer_id and no EU event_id crossed the recorded border, in decimal, hex, dashed uuid or binary;
  (d) an EU viewer erased (`watershed erase` killed mid-way, resumed): no byte of the id in any EU Parquet file,
      `erase --verify` agrees, the global count drops by exactly the viewer's events.
Usage: federation_e2e.py WATERSHED_BINARY
"""
import json
import os
import random
import socket
import struct
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
from regions_lib import free_port, in_work_dir, wait_healthy  # noqa: E402
QUERY = os.path.join(HERE, "..", "..", "tools", "duckdb", "query.mjs")
CHECK_ERASURE = os.path.join(HERE, "..", "lake", "check_erasure.py")
REGIONS = ["us", "eu", "apac"]
EVENTS_PER_REGION = 400
VIEWERS_PER_REGION = 11  # coprime with the 5 types cycle: every type has every viewer (>= k = 10)
BASE_MS = 1_764_547_200_000  # 2025-12-01T00:00Z


def fail(msg):
    print("federation_e2e: FAIL: " + msg, flush=True)
    sys.exit(1)


class RecordingProxy:
    """A TCP forwarder logging every byte both ways (to one bytearray)."""

    def __init__(self, target_port):
        self.target = target_port
        self.recorded = bytearray()
        self.lock = threading.Lock()
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while True:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target))
            except OSError:
                client.close()
                continue
            threading.Thread(target=self.pump, args=(client, upstream), daemon=True).start()
            threading.Thread(target=self.pump, args=(upstream, client), daemon=True).start()

    def pump(self, src, dst):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                with self.lock:
                    self.recorded += data
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


TOKENS = {}  # (port) -> the analyst token the queries use


def http(port, method, path, body=None, headers=None, timeout=30):
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path), method=method,
                                 data=None if body is None else json.dumps(body).encode())
    req.add_header("Content-Type", "application/json")
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def sql(port, q, token=None):
    status, body = http(port, "POST", "/v1/query", {"sql": q},
                        {"Authorization": "Bearer " + (token or TOKENS[port])})
    return status, json.loads(body) if body else {}


def duck(q):
    r = subprocess.run(["node", QUERY, q, "--array"], capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        fail("duckdb: " + r.stderr[-2000:])
    return json.loads(r.stdout) if r.stdout.strip() else []


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    binary = os.path.abspath(sys.argv[1])
    in_work_dir("federation_e2e.", lambda work, procs: run(binary, work, procs))


def run(binary, work, procs):
    rng = random.Random(12)
    token = os.path.join(work, "peer.token")
    fd = os.open(token, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.write(fd, (uuid.UUID(int=rng.getrandbits(128)).hex + uuid.UUID(int=rng.getrandbits(128)).hex).encode())
    os.close(fd)
    secret = open(token).read().strip()
    policy = os.path.join(work, "governance.toml")
    with open(policy, "w") as f:
        # us lets nothing out (its own analysts still read it all through a US coordinator).
        f.write('[[region]]\nname = "eu"\nexport = "aggregates"\nk = 10\n\n[[region]]\nname = "us"\nexport = "none"\n'
                '\n[[role]]\nname = "admin"\ntables = ["*"]\n\n[[role]]\nname = "analyst"\ntables = ["*"]\n')
    ports = {r: free_port() for r in REGIONS}
    serve_args = {}
    # The US coordinator reaches EU only through the recording proxy.
    proxy = RecordingProxy(ports["eu"])
    peer_url = {r: "http://127.0.0.1:%d" % ports[r] for r in REGIONS}
    for r in REGIONS:
        peers = []
        for other in REGIONS:
            if other == r:
                continue
            url = "http://127.0.0.1:%d" % proxy.port if (r == "us" and other == "eu") else peer_url[other]
            peers.append("%s=%s" % (other, url))
        data = os.path.join(work, r)
        os.makedirs(data)
        serve_args[r] = [binary, "serve", "--data-dir", data, "--regions", r, "--port", str(ports[r]), "--auth", "on",
                         "--partitions", "2", "--lake-commit-interval", "500ms", "--governance-file", policy,
                         "--peer-token-file", token, "--peers", ",".join(peers)]
        procs[r] = subprocess.Popen(serve_args[r], stdout=open(os.path.join(work, r + ".log"), "w"),
                                    stderr=subprocess.STDOUT)
    for r in REGIONS:
        wait_healthy(r, ports[r], procs[r], os.path.join(work, r + ".log"), fail)

    # Auth is on (the deployments' real setting): each region's server made its HS256 secret; a viewer's events go
    # with a viewer token naming their home region, so a viewer's events are all in one region's lake and distinct
    # viewers add up over regions.
    def mint(region, sub, roles, token_region=None):
        r = subprocess.run([binary, "token", "--data-dir", os.path.join(work, region), "--sub", str(sub),
                            "--region", token_region or region, "--roles", roles],
                           capture_output=True, text=True, timeout=30)
        if r.returncode != 0:
            fail("watershed token: " + r.stderr)
        return r.stdout.strip()
    for r in REGIONS:
        TOKENS[ports[r]] = mint(r, 1, "analyst")

    # The load: distinctive viewer ids (>= 2^44: their 8 bytes do not occur by chance), random event ids; each
    # region's viewers only in that region.
    truth = {}
    types = ["view", "view", "view", "share", "reply"]
    for i, r in enumerate(REGIONS):
        viewers = [rng.randrange(1 << 44, 1 << 45) for _ in range(VIEWERS_PER_REGION)]
        events = []
        for n in range(EVENTS_PER_REGION):
            t = types[n % len(types)]
            e = {"event_id": str(uuid.UUID(int=rng.getrandbits(128))), "type": t, "story_id": 1 + n % 17,
                 "author_id": 5, "viewer_id": viewers[n % len(viewers)], "region": r,
                 "event_time": BASE_MS + n * 1000}
            if t == "view":
                e["watch_ms"] = 1000 + rng.randrange(60_000)
            events.append(e)
        truth[r] = events
        for v in viewers:
            mine = [e for e in events if e["viewer_id"] == v]
            token = mint(r, v, "viewer")
            status, body = http(ports[r], "POST", "/v1/events", {"events": mine}, {"Authorization": "Bearer " + token})
            if status != 200 or json.loads(body).get("accepted") != len(mine):
                fail("ingest into %s: %d %s" % (r, status, body[:500]))

    # Each region's lake holds its events (the sink commits every 500 ms).
    for r in REGIONS:
        for _ in range(300):
            status, out = sql(ports[r], "SELECT count(*) FROM %s.events" % r)
            if status == 200 and out["rows"][0][0] == EVENTS_PER_REGION:
                break
            time.sleep(0.1)
        else:
            fail("region %s's lake did not commit its %d events: %d %s" % (r, EVENTS_PER_REGION, status, out))

    # (a) The global aggregate equals the sum over regions of DuckDB's answers on each region's own files.
    q = ("SELECT type, count(*) AS n, sum(watch_ms) AS w, count(DISTINCT viewer_id) AS v, min(story_id) AS lo, "
         "avg(watch_ms) AS a, approx_count_distinct(viewer_id) AS av FROM global.events GROUP BY type ORDER BY type")
    status, out = sql(ports["us"], q)
    if status != 200:
        fail("global aggregate: %d %s" % (status, out))
    ours = {row[0]: row[1:] for row in out["rows"]}
    expect = {}
    for r in REGIONS:
        files = os.path.join(work, r, "lake", r, "events", "data", "**", "*.parquet")
        rows = duck("SELECT type AS t, count(*) AS n, sum(watch_ms) AS w, count(DISTINCT viewer_id) AS v, "
                    "min(story_id) AS lo, count(watch_ms) AS c FROM read_parquet('%s') GROUP BY type" % files)
        for row in rows:
            t, n, w, v, lo, c = (row[k] for k in ("t", "n", "w", "v", "lo", "c"))
            e = expect.setdefault(t, [0, 0, 0, 10**9, 0])
            e[0] += n
            e[1] += int(w or 0)  # a sum past 2^53 would come as a string
            e[2] += v
            e[3] = min(e[3], lo)
            e[4] += c
    if sorted(ours) != sorted(expect):
        fail("global groups %s, DuckDB %s" % (sorted(ours), sorted(expect)))
    for t, (n, w, v, lo, c) in expect.items():
        got = ours[t]
        want_w = w if c else None
        want_a = (w / c) if c else None
        # Auth on: viewers are pinned to their home region, so distinct viewers are summed — exact, like the rest;
        # approx_count_distinct travels as HyperLogLog sketches merged at the coordinator (an estimate).
        if got[0] != n or got[1] != want_w or got[2] != v or got[3] != lo or abs(got[5] - v) > max(2, 0.02 * v):
            fail("type %s: global %s, DuckDB sum over regions %s" % (t, got, (n, want_w, v, lo)))
        if (want_a is None) != (got[4] is None) or (want_a is not None and abs(got[4] - want_a) > 1e-6 * want_a):
            fail("type %s: avg %s, DuckDB %s" % (t, got[4], want_a))
    total = sum(e[0] for e in expect.values())
    if total != 3 * EVENTS_PER_REGION:
        fail("DuckDB saw %d events, not %d" % (total, 3 * EVENTS_PER_REGION))
    status, out = sql(ports["us"], "SELECT count(*), count(DISTINCT viewer_id) FROM global.events")
    if status != 200 or out["rows"][0] != [3 * EVENTS_PER_REGION, 3 * VIEWERS_PER_REGION]:
        fail("global count: %d %s" % (status, out))
    status, out = http(ports["us"], "POST", "/v1/query", {"sql": "EXPLAIN " + q},
                       {"Authorization": "Bearer " + TOKENS[ports["us"]]})
    plan = json.loads(out).get("plan", "")
    if status != 200 or "Border eu -> us: columns [_g0 = type, _a0 = count(*)" not in plan or \
            "Border apac -> us" not in plan or "Local us" not in plan or \
            "_a2 = count(DISTINCT viewer_id)" not in plan or "hll_sketch(viewer_id)" not in plan or \
            "summed over regions" not in plan:
        fail("EXPLAIN: %d %s" % (status, out))
    print("(a) global aggregate equals DuckDB's sum over regions; EXPLAIN:\n" + plan, flush=True)

    # (b) EU viewer rows to the US coordinator: refused before any call, audited in the US.
    before = len(proxy.recorded)
    status, out = sql(ports["us"], "SELECT viewer_id, event_id FROM global.events WHERE type = 'view'")
    err = out.get("error", {})
    if status != 403 or err.get("code") != "residency_violation" or err.get("table") != "eu.events" or \
            err.get("column") != "viewer_id" or err.get("region") != "eu" or "[[region]] eu" not in err.get("rule", ""):
        fail("EU rows from the US coordinator: %d %s" % (status, out))
    if len(proxy.recorded) != before:
        fail("the refused query still called the EU peer")
    # An EU analyst asking the US coordinator: the answer reaches the EU, where nothing of the US may go (us:
    # export = none) — refused before anything runs, though the same query is fine for a US analyst.
    status, out = sql(ports["us"], "SELECT count(*) FROM global.events", mint("us", 2, "analyst", "eu"))
    err = out.get("error", {})
    if status != 403 or err.get("code") != "residency_violation" or err.get("table") != "us.events" or \
            err.get("region") != "us" or "export = none" not in err.get("message", "") or \
            " to eu" not in err.get("message", ""):
        fail("US rows to an EU caller: %d %s" % (status, out))
    if len(proxy.recorded) != before:
        fail("the refused query still called the EU peer")
    audit = subprocess.run([binary, "audit", "--data-dir", os.path.join(work, "us"), "--governance-file", policy,
                            "--region", "us", "--verdict", "refused", "--format", "json"],
                           capture_output=True, text=True, timeout=60)
    if audit.returncode != 0 or "residency_violation" not in audit.stdout or "global.events" not in audit.stdout:
        fail("US audit of the refusal: %d %s %s" % (audit.returncode, audit.stdout[-2000:], audit.stderr[-2000:]))
    # Straight to EU: its own policy refuses what the coordinator would have refused, and small groups.
    bearer = {"Authorization": "Bearer " + secret}
    for frag, why in [("SELECT viewer_id FROM eu.events", "personal column viewer_id"),
                      ("SELECT event_time, count(*) FROM eu.events GROUP BY event_time", "fewer than k = 10"),
                      ("SELECT story_id FROM eu.events", "rows may not leave")]:
        status, body = http(ports["eu"], "POST", "/v1/query/fragment",
                            {"sql": frag, "coordinator": "us", "explain": False}, bearer)
        e = json.loads(body).get("error", {})
        if status != 403 or e.get("code") != "residency_violation" or why not in e.get("message", "") or \
                e.get("region") != "eu":
            fail("EU's own check of %r: %d %s" % (frag, status, body))
    status, body = http(ports["eu"], "POST", "/v1/query/fragment", {"sql": "SELECT count(*) FROM eu.events",
                                                                    "coordinator": "us"})
    if status != 401:
        fail("a fragment without the peer credential: %d %s" % (status, body))
    status, body = http(ports["eu"], "POST", "/v1/query/fragment",
                        {"sql": "SELECT count(*) FROM eu.events", "coordinator": "us"},
                        {"Authorization": "Bearer " + "x" * len(secret)})
    if status != 403:
        fail("a fragment with a wrong credential: %d %s" % (status, body))
    # Unauthenticated callers never hold a query slot: many at once (more than query-concurrency) are all 403,
    # never 503 query_busy.
    answers = []

    def wrong():
        answers.append(http(ports["eu"], "POST", "/v1/query/fragment",
                            {"sql": "SELECT count(*) FROM eu.events", "coordinator": "us"},
                            {"Authorization": "Bearer " + "y" * len(secret)})[0])
    callers = [threading.Thread(target=wrong) for _ in range(12)]
    for t in callers:
        t.start()
    for t in callers:
        t.join()
    if answers != [403] * len(callers):
        fail("concurrent fragments with a wrong credential: %s" % answers)
    # A caller claiming to be EU's own coordinator (where rows would be fine) is refused.
    status, body = http(ports["eu"], "POST", "/v1/query/fragment",
                        {"sql": "SELECT viewer_id FROM eu.events", "coordinator": "eu"}, bearer)
    if status != 403 or "unknown_coordinator" not in body:
        fail("a fragment claiming EU's own coordinator: %d %s" % (status, body))
    audit = subprocess.run([binary, "audit", "--data-dir", os.path.join(work, "eu"), "--governance-file", policy,
                            "--region", "eu", "--verdict", "refused", "--format", "json"],
                           capture_output=True, text=True, timeout=60)
    if audit.returncode != 0 or audit.stdout.count("peer:us") < 3 or "unknown_coordinator" not in audit.stdout:
        fail("EU audit of the refused fragments: %d %s %s" % (audit.returncode, audit.stdout[-2000:],
                                                            audit.stderr[-2000:]))
    print("(b) refused by the coordinator and by EU itself, both audited", flush=True)

    # (c) Nothing personal of the EU crossed the recorded border.
    recorded = bytes(proxy.recorded)
    if b"/v1/query/fragment" not in recorded or b"eu.events" not in recorded:
        fail("the proxy recorded no fragment traffic (%d bytes)" % len(recorded))
    for e in truth["eu"]:
        v = e["viewer_id"]
        u = uuid.UUID(e["event_id"])
        needles = [str(v).encode(), struct.pack("<q", v), struct.pack(">q", v), u.hex.encode(),
                   str(u).encode(), u.bytes, u.hex.upper().encode()]
        for n in needles:
            if n in recorded:
                fail("EU value %r of event %s crossed the border" % (n, e["event_id"]))
    print("(c) %d bytes crossed eu -> us; no EU viewer_id or event_id among them" % len(recorded), flush=True)

    # (d) Erasure of an EU viewer (docs/governance.md "Erasure"): EU stops, `watershed erase` is killed in the
    # middle (a crash point: exit 137, like kill -9), resumed, completes; then no EU Parquet file holds a byte of
    # the id, `erase --verify` agrees, and EU back up answers the global count without the viewer's events.
    # check_erasure.py reads every EU Parquet file with DuckDB (referenced or not) and every EU lake file's bytes.
    eu = procs["eu"]
    eu.terminate()
    eu.wait(timeout=30)
    eu_lake, before = os.path.join(work, "eu", "lake"), os.path.join(work, "eu-before.json")

    def check(*args):
        done = subprocess.run(["/usr/bin/python3", CHECK_ERASURE] + list(args), capture_output=True, text=True,
                              timeout=300)
        if done.returncode != 0:
            fail("check_erasure.py %s: %s %s" % (args[0], done.stdout[-2000:], done.stderr[-2000:]))
        return done.stdout.strip()
    check("before", eu_lake, before)
    viewer = int(check("pick", before, "0"))
    gone = sum(1 for e in truth["eu"] if e["viewer_id"] == viewer)
    if gone == 0:
        fail("check_erasure.py picked viewer %d, who has no EU events" % viewer)
    erase = [binary, "erase", "--data-dir", os.path.join(work, "eu"), "--regions", "eu", "--governance-file", policy]
    done = subprocess.run(erase + ["--viewer", str(viewer)], capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, WATERSHED_CRASH_POINT="erase.after_rewrite"))
    if done.returncode != 137:
        fail("erase did not die at erase.after_rewrite: %d %s" % (done.returncode, done.stderr[-2000:]))
    done = subprocess.run(erase + ["--resume"], capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        fail("erase --resume: %d %s %s" % (done.returncode, done.stdout[-2000:], done.stderr[-2000:]))
    check("after", eu_lake, before, str(viewer))
    done = subprocess.run(erase + ["--verify", str(viewer)], capture_output=True, text=True, timeout=120)
    if done.returncode != 0 or any(line.startswith(("lake", "checkpoint")) for line in done.stdout.splitlines()):
        fail("erase --verify: %d %s %s" % (done.returncode, done.stdout[-2000:], done.stderr[-2000:]))
    procs["eu"] = subprocess.Popen(serve_args["eu"], stdout=open(os.path.join(work, "eu2.log"), "w"),
                                   stderr=subprocess.STDOUT)
    wait_healthy("eu", ports["eu"], procs["eu"], os.path.join(work, "eu2.log"), fail)
    status, out = sql(ports["us"], "SELECT count(*), count(DISTINCT viewer_id) FROM global.events")
    if status != 200 or out["rows"][0] != [3 * EVENTS_PER_REGION - gone, 3 * VIEWERS_PER_REGION - 1]:
        fail("global count after the erasure of %d events: %d %s" % (gone, status, out))
    print("(d) viewer %d erased from EU (killed mid-way, resumed): no Parquet byte left, verify agrees, "
          "global count %d" % (viewer, out["rows"][0][0]), flush=True)

    # A peer down: the global query fails at once, naming it (no partial answer).
    apac = procs["apac"]
    apac.terminate()
    apac.wait(timeout=20)
    status, out = sql(ports["us"], "SELECT count(*) FROM global.events")
    if status != 503 or out.get("error", {}).get("code") != "peer_unavailable" or \
            "peer apac" not in out["error"].get("message", ""):
        fail("a global query with apac down: %d %s" % (status, out))
    print("federation_e2e: OK", flush=True)


if __name__ == "__main__":
    main()
