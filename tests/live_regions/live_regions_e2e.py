#!/usr/bin/env python3
"""A story's live totals across three regions' deployments on loopback (issue #12 part 1, docs/api.md).

Starts `watershed serve` for three regions named us-east-1, eu-west-1 and ap-south-1 (region-names; one region each, own data dir and memory live store, peers and a
shared peer token), ingests a known load into each region (a story with events in all three, one only in eu,
repeated event ids), waits until every region's lag is 0, then:
  (a) GET /v1/stories/{id}/metrics at each deployment: the totals equal the ground truth summed over regions, each
      region's part equals that region's truth, partial is false; distinct viewers are flagged as a sum (auth off);
  (b) GET /v1/peer/stories/{id} needs the peer credential (401 without, 403 with another) and carries counts only,
      no viewer id;
  (c) apac frozen (SIGSTOP), then stopped: the us answer is partial within the peer timeout, names apac missing,
      and still counts us and eu exactly.
With `auth` (live_regions_e2e_auth): auth on, each viewer's events sent with a viewer token of its home region, so
distinct viewers add up over regions and unique_viewers_exact is true; a user token does not open the peer endpoint.
Usage: live_regions_e2e.py WATERSHED_BINARY [auth]
"""
import json
import os
import random
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from regions_lib import free_port, in_work_dir, wait_healthy  # noqa: E402

# Region names are configuration (region-names): each deployment lists the same names in its own order (its own
# region first), so only names, never a region's place in a list, can cross between them.
REGIONS = ["us-east-1", "eu-west-1", "ap-south-1"]
US, EU, APAC = REGIONS


def names_for(region):
    i = REGIONS.index(region)
    return ",".join(REGIONS[i:] + REGIONS[:i])


BASE_MS = int(time.time() * 1000) - 600_000
STORY_EVERYWHERE, STORY_EU_ONLY = 4242, 777
AUTH = False
ANALYST = {}  # port -> an analyst token of that deployment (auth on)


def fail(msg):
    print("live_regions_e2e: FAIL: " + msg, flush=True)
    sys.exit(1)


def wait_stopped(pid):
    """Until every thread of `pid` is stopped (state T in /proc): SIGSTOP takes effect per thread, asynchronously."""
    deadline = time.time() + 10
    while time.time() < deadline:
        states = []
        for t in os.listdir("/proc/%d/task" % pid):
            try:
                with open("/proc/%d/task/%s/stat" % (pid, t)) as f:
                    states.append(f.read().rsplit(")", 1)[1].split()[0])
            except OSError:
                pass
        if states and all(s == "T" for s in states):
            return
        time.sleep(0.01)
    fail("pid %d did not stop" % pid)


def http(port, method, path, body=None, headers=None, timeout=10):
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path), method=method,
                                 data=None if body is None else json.dumps(body).encode())
    req.add_header("Content-Type", "application/json")
    if AUTH and port in ANALYST and not path.startswith("/v1/peer/") and not (headers or {}).get("Authorization"):
        req.add_header("Authorization", "Bearer " + ANALYST[port])
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def main():
    global AUTH
    if len(sys.argv) not in (2, 3) or (len(sys.argv) == 3 and sys.argv[2] != "auth"):
        sys.exit(__doc__)
    AUTH = len(sys.argv) == 3
    binary = os.path.abspath(sys.argv[1])
    in_work_dir("live_regions_e2e.", lambda work, procs: run(binary, work, procs))


def truth_of(events):
    t = {"views": 0, "unique_viewers": 0, "watch_time_ms": 0, "shares": 0, "replies": 0}
    viewers = set()
    for e in events:
        if e["type"] == "view":
            t["views"] += 1
            t["watch_time_ms"] += e["watch_ms"]
            viewers.add(e["viewer_id"])
        else:
            t[e["type"] + "s" if e["type"] == "share" else "replies"] += 1
    t["unique_viewers"] = len(viewers)
    return t


def run(binary, work, procs):
    rng = random.Random(7)
    token = os.path.join(work, "peer.token")
    fd = os.open(token, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.write(fd, (uuid.UUID(int=rng.getrandbits(128)).hex * 2).encode())
    os.close(fd)
    secret = open(token).read().strip()
    policy = os.path.join(work, "governance.toml")
    with open(policy, "w") as f:
        f.write('[[role]]\nname = "admin"\ntables = ["*"]\n')
    ports = {r: free_port() for r in REGIONS}
    for r in REGIONS:
        peers = ",".join("%s=http://127.0.0.1:%d" % (o, ports[o]) for o in REGIONS if o != r)
        data = os.path.join(work, r)
        os.makedirs(data)
        log = open(os.path.join(work, r + ".log"), "w")
        procs[r] = subprocess.Popen(
            [binary, "serve", "--data-dir", data, "--region-names", names_for(r), "--regions", r,
             "--port", str(ports[r]), "--auth", "on" if AUTH else "off", "--partitions", "2", "--lake", "off", "--max-future", "1h", "--governance-file", policy,
             "--peer-token-file", token, "--peers", peers, "--peer-live-timeout", "1s"],
            stdout=log, stderr=subprocess.STDOUT)
    for r in REGIONS:
        wait_healthy(r, ports[r], procs[r], os.path.join(work, r + ".log"), fail)

    def mint(region, sub, roles):
        out = subprocess.run([binary, "token", "--data-dir", os.path.join(work, region), "--sub", str(sub),
                              "--region-names", names_for(region), "--region", region, "--roles", roles],
                             capture_output=True, text=True, timeout=30)
        if out.returncode != 0:
            fail("watershed token: " + out.stderr)
        return out.stdout.strip()
    if AUTH:
        for r in REGIONS:
            ANALYST[ports[r]] = mint(r, 1, "analyst")

    # The load: each region's own viewers (10-digit ids), a few event ids sent twice (counted once).
    types = ["view", "view", "view", "share", "reply"]
    sent = {r: [] for r in REGIONS}
    all_viewers = []
    for i, r in enumerate(REGIONS):
        # With auth a token is minted per viewer (a process each, slow under sanitizers): fewer viewers.
        viewers = [rng.randrange(7_000_000_000, 9_000_000_000) for _ in range(4 + 2 * i if AUTH else 13 + 7 * i)]
        all_viewers += viewers
        n_events = 60 + 40 * i
        for n in range(n_events):
            t = types[(n + i) % len(types)]
            story = STORY_EU_ONLY if (r == EU and n % 4 == 0) else STORY_EVERYWHERE
            e = {"event_id": str(uuid.UUID(int=rng.getrandbits(128))), "type": t, "story_id": story, "author_id": 5,
                 "viewer_id": viewers[n % len(viewers)], "region": r, "event_time": BASE_MS + n * 100}
            if t == "view":
                e["watch_ms"] = 1000 + rng.randrange(60_000)
            sent[r].append(e)
        batch = sent[r] + sent[r][:10]  # the first ten again: duplicates
        if AUTH:  # a viewer's events with their own token (its region: their home)
            for v in viewers:
                mine = [e for e in batch if e["viewer_id"] == v]
                status, body = http(ports[r], "POST", "/v1/events", {"events": mine},
                                    {"Authorization": "Bearer " + mint(r, v, "viewer")})
                if status != 200 or json.loads(body)["accepted"] != len(mine):
                    fail("ingest %s: %d %s" % (r, status, body))
            continue
        status, body = http(ports[r], "POST", "/v1/events", {"events": batch})
        if status != 200 or json.loads(body)["accepted"] != len(batch):
            fail("ingest %s: %d %s" % (r, status, body))
    for r in REGIONS:
        deadline = time.time() + 30
        while True:
            status, body = http(ports[r], "GET", "/v1/status")
            if status == 200 and json.loads(body)["lag"] == 0:
                break
            if time.time() > deadline:
                fail("%s: lag did not reach 0: %s" % (r, body))
            time.sleep(0.1)

    def truth(story, regions):
        per = {r: truth_of([e for e in sent[r] if e["story_id"] == story]) for r in regions}
        per = {r: t for r, t in per.items() if t["views"] + t["shares"] + t["replies"] > 0}
        total = {k: sum(t[k] for t in per.values()) for k in ["views", "unique_viewers", "watch_time_ms", "shares",
                                                               "replies"]}
        return total, per

    def check(port, story, regions, missing, where):
        status, body = http(port, "GET", "/v1/stories/%d/metrics" % story)
        if status != 200:
            fail("%s: story %d answered %d %s" % (where, story, status, body))
        got = json.loads(body)
        total, per = truth(story, regions)
        for k, v in total.items():
            if got[k] != v:
                fail("%s: story %d %s = %s, ground truth %d: %s" % (where, story, k, got[k], v, body))
        parts = {p["region"]: {k: p[k] for k in total} for p in got["regions"]}
        if parts != per:
            fail("%s: story %d per region %s, ground truth %s" % (where, story, parts, per))
        if got["partial"] != bool(missing) or got["missing"] != missing:
            fail("%s: story %d partial/missing wrong (want %s): %s" % (where, story, missing, body))
        if got["unique_viewers_exact"] != (AUTH or len(per) <= 1):
            fail("%s: story %d: unique_viewers_exact must say whether one region had viewers: %s" %
                 (where, story, body))
        return got

    # (a) every deployment answers the global totals.
    for r in REGIONS:
        check(ports[r], STORY_EVERYWHERE, REGIONS, [], "at " + r)
        check(ports[r], STORY_EU_ONLY, REGIONS, [], "at " + r)
    status, body = http(ports[US], "GET", "/v1/stories/99999/metrics")
    if status != 404:
        fail("a story no region has must be 404, got %d %s" % (status, body))

    # (b) the peer endpoint: credential only; counts, never viewer ids.
    path = "/v1/peer/stories/%d" % STORY_EVERYWHERE
    if http(ports[EU], "GET", path)[0] != 401:
        fail("the peer endpoint answered without a credential")
    if http(ports[EU], "GET", path, headers={"Authorization": "Bearer " + "x" * 64})[0] != 403:
        fail("the peer endpoint answered a wrong credential")
    if AUTH and http(ports[EU], "GET", path, headers={"Authorization": "Bearer " + ANALYST[ports[EU]]})[0] != 403:
        fail("the peer endpoint answered a user token")
    status, body = http(ports[EU], "GET", path, headers={"Authorization": "Bearer " + secret})
    if status != 200 or [p["region"] for p in json.loads(body)["regions"]] != [EU]:
        fail("the peer endpoint with the credential: %d %s" % (status, body))
    for v in all_viewers:
        if str(v) in body:
            fail("a viewer id crossed the border in the peer answer: " + body)

    # (c) apac frozen (SIGSTOP: it accepts, never answers): the call times out after peer-live-timeout and the
    # answer is partial, naming apac; us and eu still exact. Then back, then gone for good.
    os.kill(procs[APAC].pid, signal.SIGSTOP)
    wait_stopped(procs[APAC].pid)
    started = time.time()
    check(ports[US], STORY_EVERYWHERE, [US, EU], [APAC], "at us with apac frozen")
    if time.time() - started > 5:
        fail("the partial answer took %.1f s (peer-live-timeout is 1 s)" % (time.time() - started))
    # A peer that failed is not asked again for 5 s: meanwhile answers are partial at once (the HTTP threads are not
    # held by a frozen peer).
    started = time.time()
    check(ports[US], STORY_EVERYWHERE, [US, EU], [APAC], "at us with apac frozen, again")
    if time.time() - started > 0.9:
        fail("a peer that just failed was waited for again (%.2f s)" % (time.time() - started))
    os.kill(procs[APAC].pid, signal.SIGCONT)
    deadline = time.time() + 15
    while json.loads(http(ports[US], "GET", "/v1/stories/%d/metrics" % STORY_EVERYWHERE)[1])["partial"]:
        if time.time() > deadline:
            fail("apac back: the answers stayed partial")
        time.sleep(0.2)
    check(ports[US], STORY_EVERYWHERE, REGIONS, [], "at us with apac back")
    procs[APAC].terminate()
    procs[APAC].wait(timeout=20)
    started = time.time()
    got = check(ports[US], STORY_EVERYWHERE, [US, EU], [APAC], "at us with apac down")
    if time.time() - started > 5:
        fail("the partial answer took %.1f s (peer-live-timeout is 1 s)" % (time.time() - started))
    check(ports[EU], STORY_EU_ONLY, [EU], [APAC], "at eu with apac down")
    print("live_regions_e2e: OK (global %s, partial answer %s)" % (got["views"], json.dumps(got["missing"])))


if __name__ == "__main__":
    main()
