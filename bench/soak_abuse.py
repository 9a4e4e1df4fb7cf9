#!/usr/bin/python3
"""Hostile and wasteful traffic for bench/soak.sh, alongside the good load.

Cycles through eight kinds of request against POST /v1/events, each with
the answer docs/api.md documents:
  missing_token   no Authorization header               401 token_missing
  garbage_token   "Bearer" + random junk                401 token_malformed
  bad_signature   a viewer token signed with another key 401 token_bad_signature
  expired_token   a viewer token whose exp passed 1 h ago 401 token_expired
  bad_json        valid token, body not JSON            400 malformed_body
  bad_protobuf    valid token, junk x-protobuf body     400 malformed_body
  oversized       valid token, max-body + 1 bytes       413 body_too_large
  storm           valid token, one new batch sent --storm-copies times
                  back to back                          200 every time
429 (rate limits) and 503 are counted as "throttled", not as errors.
Connection failures (the soak kills the server) are counted apart; a storm
batch is re-sent until one copy is acknowledged, so the storm stories'
expected totals are exact. Storm events go to stories outside the good
load's range (--story-base), from one viewer: the good load's truth never
sees them, and `--check` compares their totals with what was acknowledged
(dedup must keep one copy of each event across the storms and the kills).

The client binds to --source (127.0.0.2 by default) so that per-address
limits on failures, if any, hit the abuser and not the good load.
Writes a JSON status file every second (read by soak_sampler.py).
"""
import argparse
import base64
import hashlib
import hmac
import json
import os
import random
import socket
import sys
import time
import uuid

KINDS = ["missing_token", "garbage_token", "bad_signature", "expired_token", "bad_json", "bad_protobuf",
         "oversized", "storm"]
EXPECTED = {"missing_token": (401, "token_missing"), "garbage_token": (401, "token_malformed"),
            "bad_signature": (401, "token_bad_signature"), "expired_token": (401, "token_expired"),
            "bad_json": (400, "malformed_body"), "bad_protobuf": (400, "malformed_body"),
            "oversized": (413, "body_too_large"), "storm": (200, None)}
THROTTLED = (429, 503)


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def resign(token, secret, **claims):
    """The token's header and claims (updated with `claims`), HS256-signed with `secret`."""
    header, payload, _ = token.split(".")
    body = json.loads(b64url_decode(payload))
    body.update(claims)
    signing_input = header + "." + b64url(json.dumps(body, separators=(",", ":")).encode())
    return signing_input + "." + b64url(hmac.new(secret, signing_input.encode(), hashlib.sha256).digest())


class Client:
    """Minimal HTTP/1.1 keep-alive client on a raw socket bound to `source`:
    it still reads the answer when the server stops reading the body."""

    def __init__(self, host, port, source):
        self.addr, self.source, self.sock, self.buf = (host, port), source, None, b""

    def close(self):
        if self.sock:
            self.sock.close()
        self.sock, self.buf = None, b""

    def request(self, method, path, headers, body=b""):
        """(status, the JSON body as a dict or {}); raises OSError on connection failure."""
        if self.sock is None:
            self.sock = socket.create_connection(self.addr, timeout=10, source_address=(self.source, 0))
        head = f"{method} {path} HTTP/1.1\r\nHost: {self.addr[0]}\r\nContent-Length: {len(body)}\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
        try:
            self.sock.sendall(head.encode() + body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server may answer (413) and stop reading: read what it said
        try:
            return self._read_response()
        except OSError:
            self.close()
            raise

    def _read_response(self):
        while b"\r\n\r\n" not in self.buf:
            self._fill()
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ")[1])
        fields = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:] if ":" in line)}
        length = int(fields.get("content-length", "0"))
        while len(self.buf) < length:
            self._fill()
        body, self.buf = self.buf[:length], self.buf[length:]
        if fields.get("connection", "").lower() == "close":
            self.close()
        try:
            doc = json.loads(body) if body else {}
        except ValueError:
            doc = {}
        return status, doc if isinstance(doc, dict) else {}

    def _fill(self):
        data = self.sock.recv(65536)
        if not data:
            raise ConnectionResetError("connection closed")
        self.buf += data


class Abuser:
    def __init__(self, args):
        self.args = args
        host, port = args.server.rsplit(":", 1)
        self.client = Client(host, int(port), args.source)
        secret = open(args.secret_file, "rb").read().rstrip()
        self.viewer = args.viewer_token
        self.admin = args.admin_token
        self.bad_signature = resign(self.viewer, os.urandom(32))
        self.expired = resign(self.viewer, secret, exp=int(time.time()) - 3600, iat=int(time.time()) - 7200)
        self.counts = {k: {} for k in KINDS}  # kind -> answer ("401 token_missing", "conn_error", ...) -> n
        self.unexpected = 0
        self.ledger = {}  # storm story -> views acknowledged (distinct events)
        self.stories = [args.story_base + i for i in range(args.stories)]

    def count(self, kind, answer):
        self.counts[kind][answer] = self.counts[kind].get(answer, 0) + 1

    def send(self, kind, headers, body):
        try:
            status, doc = self.client.request("POST", "/v1/events", headers, body)
            code = (doc.get("error") or {}).get("code")  # {"error": {"code": ..., "message": ...}}
        except OSError:
            self.count(kind, "conn_error")
            return None
        self.count(kind, f"{status} {code}" if code else str(status))
        want_status, want_code = EXPECTED[kind]
        if status not in THROTTLED and (status != want_status or (want_code and code != want_code)):
            self.unexpected += 1
            if self.unexpected <= 10:
                print(f"soak_abuse: {kind}: unexpected answer {status} {code}", file=sys.stderr, flush=True)
        return status

    def one(self, kind):
        auth = {"Authorization": "Bearer " + self.viewer, "Content-Type": "application/json"}
        if kind == "missing_token":
            self.send(kind, {"Content-Type": "application/json"}, self.events_body(1))
        elif kind == "garbage_token":
            self.send(kind, {"Authorization": "Bearer " + b64url(os.urandom(40)), "Content-Type": "application/json"},
                      self.events_body(1))
        elif kind == "bad_signature":
            self.send(kind, {"Authorization": "Bearer " + self.bad_signature, "Content-Type": "application/json"},
                      self.events_body(1))
        elif kind == "expired_token":
            self.send(kind, {"Authorization": "Bearer " + self.expired, "Content-Type": "application/json"},
                      self.events_body(1))
        elif kind == "bad_json":
            self.send(kind, auth, b'{"events": [{"event_id": "x", "type": ' + os.urandom(16).hex().encode())
        elif kind == "bad_protobuf":
            self.send(kind, dict(auth, **{"Content-Type": "application/x-protobuf"}), b"\x0a\xff\xff\xff\x0f" +
                      os.urandom(64))
        elif kind == "oversized":
            self.send(kind, auth, b'{"events": [' + b" " * (self.args.max_body) + b"]}")
        else:
            self.storm(auth)

    def events_body(self, n):
        now = int(time.time() * 1000)
        events = [{"event_id": str(uuid.uuid4()), "type": "view", "story_id": random.choice(self.stories),
                   "author_id": self.args.author, "event_time": now - int(self.args.event_time_lag * 1000),
                   "watch_ms": 1000} for _ in range(n)]
        return json.dumps({"events": events}).encode()

    def storm(self, auth):
        body = self.events_body(self.args.storm_batch)
        acked = False
        for _ in range(self.args.storm_copies):
            acked = (self.send("storm", auth, body) == 200) or acked
        deadline = time.time() + 150  # the good load gives up after 2 minutes too
        while not acked and time.time() < deadline:  # the server is restarting: re-send until acknowledged
            time.sleep(0.5)
            acked = self.send("storm", auth, body) == 200
        if not acked:
            raise SystemExit("soak_abuse: a storm batch was never acknowledged")
        for e in json.loads(body)["events"]:
            self.ledger[e["story_id"]] = self.ledger.get(e["story_id"], 0) + 1

    def status(self):
        return {"requests": sum(sum(c.values()) for c in self.counts.values()), "unexpected": self.unexpected,
                "conn_errors": sum(c.get("conn_error", 0) for c in self.counts.values()),
                "throttled": sum(n for c in self.counts.values() for a, n in c.items() if a.split(" ")[0] in
                                 ("429", "503")),
                "storm_events_acked": sum(self.ledger.values()), "by_kind": self.counts,
                "ledger": {str(k): v for k, v in self.ledger.items()}}

    def write_status(self):
        tmp = self.args.status + ".tmp"
        with open(tmp, "w") as f:
            json.dump(self.status(), f)
        os.replace(tmp, self.args.status)

    def register_stories(self):
        body = json.dumps({"stories": [{"story_id": s, "author_id": self.args.author} for s in self.stories]})
        headers = {"Authorization": "Bearer " + self.admin, "Content-Type": "application/json"}
        for _ in range(300):
            try:
                status, doc = self.client.request("POST", "/v1/stories", headers, body.encode())
                if status == 200:
                    return
                if status not in THROTTLED:
                    raise SystemExit(f"soak_abuse: POST /v1/stories answered {status} {doc}")
            except OSError:
                pass
            time.sleep(0.2)
        raise SystemExit("soak_abuse: cannot register the storm stories")

    def run(self):
        self.register_stories()
        end = time.time() + self.args.duration
        next_status = 0.0
        i = 0
        while time.time() < end:
            start = time.time()
            self.one(KINDS[i % len(KINDS)])
            i += 1
            if time.time() >= next_status:
                self.write_status()
                next_status = time.time() + 1
            time.sleep(max(0.0, 1.0 / self.args.rate - (time.time() - start)))
        self.write_status()
        s = self.status()
        print(f"soak_abuse: {s['requests']} requests, {s['unexpected']} unexpected answers, {s['throttled']} "
              f"throttled, {s['conn_errors']} connection errors, {s['storm_events_acked']} storm events acknowledged")
        for kind in KINDS:
            print(f"  {kind:14s} " + ", ".join(f"{a}: {n}" for a, n in sorted(self.counts[kind].items())))


def check(args):
    """Each storm story's totals must be what was acknowledged: every copy beyond the first dropped."""
    ledger = json.load(open(args.status))["ledger"]
    host, port = args.server.rsplit(":", 1)
    client = Client(host, int(port), args.source)
    bad = 0
    for story, views in sorted(ledger.items()):
        status, got = client.request("GET", f"/v1/stories/{story}/metrics",
                                     {"Authorization": "Bearer " + args.admin_token})
        want = {"views": views, "unique_viewers": 1, "watch_time_ms": 1000 * views}
        if status != 200 or any(got.get(k) != v for k, v in want.items()):
            bad += 1
            print(f"soak_abuse: MISMATCH storm story {story}: expected {want}, got HTTP {status} {got}")
    print(f"soak_abuse: storm stories: {len(ledger)} checked, {bad} mismatches "
          f"({sum(ledger.values())} distinct events acknowledged)")
    return 1 if bad else 0


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--server", required=True, help="host:port")
    p.add_argument("--secret-file", help="the server's HS256 secret (to sign the expired token)")
    p.add_argument("--viewer-token", help="a valid viewer token (the storm viewer)")
    p.add_argument("--admin-token", required=True, help="registers the storm stories; reads them for --check")
    p.add_argument("--status", required=True, help="JSON status file, rewritten every second")
    p.add_argument("--duration", type=float, default=60, help="seconds")
    p.add_argument("--rate", type=float, default=8, help="abusive actions per second (a storm is one action)")
    p.add_argument("--storm-copies", type=int, default=20, help="copies of each storm batch")
    p.add_argument("--storm-batch", type=int, default=10, help="events per storm batch")
    p.add_argument("--story-base", type=int, default=900001, help="first storm story (outside the good load)")
    p.add_argument("--stories", type=int, default=20, help="storm stories")
    p.add_argument("--author", type=int, default=990001, help="author of the storm stories")
    p.add_argument("--event-time-lag", type=float, default=2,
                   help="seconds the storm events' event_time stays behind the clock: keep them behind the good "
                        "load's (it runs its event time in the past), or they move the watermark past its windows")
    p.add_argument("--max-body", type=int, default=1 << 20, help="the server's max-body")
    p.add_argument("--source", default="127.0.0.2", help="local address to send from")
    p.add_argument("--check", action="store_true", help="compare the storm stories with the status file's ledger")
    args = p.parse_args()
    if args.check:
        return check(args)
    if not args.secret_file or not args.viewer_token:
        p.error("--secret-file and --viewer-token are required unless --check")
    Abuser(args).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
