#!/usr/bin/python3
"""Checks an erasure of one viewer from a Watershed lake, independently of
Watershed's own code (Iceberg metadata read with python3-avro through
check_lake.py, Parquet with DuckDB, raw bytes with Python).

  before LAKE_ROOT OUT.json
      per table holding viewer_id (raw_events, events, archive_events of
      every region): the current snapshot's rows per viewer, and every
      snapshot id; written to OUT.json.
  after LAKE_ROOT BEFORE.json VIEWER[,VIEWER...]
      1. the viewers have 0 rows in every table's current snapshot, and every
         other viewer exactly the rows it had before;
      2. every snapshot a table still has (time travel) reads 0 rows of the
         viewer, and every file it lists exists; snapshots of BEFORE.json
         that remain are among them;
      3. every .parquet file under LAKE_ROOT, referenced or not, read by
         DuckDB: 0 rows of the viewer;
      4. no file under LAKE_ROOT (data, manifests, metadata, sidecars)
         holds the viewer's id as 8 bytes little-endian (PLAIN and
         dictionary pages, statistics), nor as decimal text in metadata
         (ids of at least 2^40 only: a small id's bytes occur by chance).
  pick BEFORE.json EXCEPT
      prints the viewer with the most rows in the events tables but EXCEPT.

Plaintext lakes only. Exit 0 when everything holds.
"""
import json
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import check_lake as cl  # noqa: E402

TABLES = ("raw_events", "events", "archive_events")


def tables(root):
    for region in sorted(os.listdir(root)):
        for t in TABLES:
            d = os.path.join(root, region, t)
            if os.path.isdir(os.path.join(d, "metadata")):
                yield region + "/" + t, d


_counts = {}  # file -> {viewer: rows}, read once (one DuckDB run for every file)


def load_counts(root):
    files = sorted(p for name, d in tables(root) for p in cl.on_disk(d) if p.endswith(".parquet"))
    _counts.clear()
    for f in files:
        _counts[f] = {}
    if not files:
        return
    rows = cl.duck("SELECT filename AS f, viewer_id AS v, count(*) AS n FROM read_parquet([%s], filename=true) "
                   "GROUP BY ALL" % ",".join("'%s'" % f for f in files))
    for r in rows:
        _counts[r["f"]][str(r["v"])] = r["n"]


def per_viewer(files):
    out = {}
    for f in files:
        if f not in _counts:
            cl.fail("%s is not a data file under its table's data/" % f)
            continue
        for v, n in _counts[f].items():
            out[v] = out.get(v, 0) + n
    return out


def before(root, out):
    load_counts(root)
    result = {}
    for name, d in tables(root):
        live, meta = cl.live_files(d)
        result[name] = {"viewers": per_viewer(live),
                        "snapshots": [s["snapshot-id"] for s in meta.get("snapshots", [])]}
    with open(out, "w") as f:
        json.dump(result, f)
    print("check_erasure: %d tables, %d rows" % (len(result), sum(sum(t["viewers"].values())
                                                                 for t in result.values())))


def after(root, before_path, viewers):
    with open(before_path) as f:
        prior = json.load(f)
    gone = [str(v) for v in viewers]
    load_counts(root)
    for v in gone:
        had = sum(t["viewers"].get(v, 0) for t in prior.values())
        if had == 0:
            cl.fail("viewer %s had no rows before the erasure: the test proves nothing" % v)
        print("check_erasure: viewer %s had %d rows" % (v, had))
    for name, d in tables(root):
        live, meta = cl.live_files(d)
        now = per_viewer(live)
        for v in gone:
            if now.get(v, 0) != 0:
                cl.fail("%s: %d rows of viewer %s in the current snapshot" % (name, now[v], v))
        expected = dict(prior.get(name, {}).get("viewers", {}))
        for v in gone:
            expected.pop(v, None)
            now.pop(v, None)
        if now != expected:
            diff = sorted(k for k in set(now) | set(expected) if now.get(k) != expected.get(k))
            cl.fail("%s: other viewers' rows changed: %s" % (name, ", ".join(
                "%s %s->%s" % (k, expected.get(k), now.get(k)) for k in diff[:5])))
        for s in meta.get("snapshots", []):
            files = cl.live_in(s, d, False)
            missing = [p for p in files if not os.path.exists(p)]
            if missing:
                cl.fail("%s: snapshot %d lists a missing file %s" % (name, s["snapshot-id"], missing[0]))
                continue
            counts = per_viewer(files)
            for v in gone:
                if counts.get(v, 0):
                    cl.fail("%s: time travel to snapshot %d reads %d rows of viewer %s" % (
                        name, s["snapshot-id"], counts[v], v))
    parquet, everything = [], []
    for base, _, names in os.walk(root):
        for n in names:
            p = os.path.join(base, n)
            everything.append(p)
            if n.endswith(".parquet"):
                parquet.append(p)
    with_viewer = [p for p in parquet if p in _counts]
    for p in with_viewer:
        for v in gone:
            if _counts[p].get(v, 0):
                cl.fail("%s holds %d rows of viewer %s" % (p, _counts[p][v], v))
    others = sorted(set(parquet) - set(with_viewer))  # tables without viewer_id (story_minute, audit)
    if others and "viewer_id" in {c["column_name"] for c in cl.duck(
            "DESCRIBE SELECT * FROM read_parquet([%s], union_by_name=true)" % ",".join("'%s'" % p for p in others))}:
        cl.fail("a Parquet file outside raw_events/events/archive_events has a viewer_id column")
    distinctive = [v for v in viewers if v >= 1 << 40]
    for p in everything:
        with open(p, "rb") as f:
            data = f.read()
        for v in distinctive:
            if struct.pack("<q", v) in data:
                cl.fail("%s holds viewer %d's id as 8 bytes little-endian" % (p, v))
            if not p.endswith(".parquet") and str(v).encode() in data:
                cl.fail("%s holds viewer %d's id as text" % (p, v))
    print("check_erasure: %d parquet files (%d with viewer_id), %d files scanned, bytes of %d ids searched" % (
        len(parquet), len(with_viewer), len(everything), len(distinctive)))


def pick(before_path, exclude):
    with open(before_path) as f:
        prior = json.load(f)
    totals = {}
    for name, t in prior.items():
        if name.endswith("/events"):
            for v, n in t["viewers"].items():
                totals[v] = totals.get(v, 0) + n
    totals.pop(str(exclude), None)
    print(max(sorted(totals), key=lambda v: totals[v]))


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "before":
        before(os.path.abspath(sys.argv[2]), sys.argv[3])
    elif len(sys.argv) == 5 and sys.argv[1] == "after":
        after(os.path.abspath(sys.argv[2]), sys.argv[3], [int(v) for v in sys.argv[4].split(",")])
    elif len(sys.argv) == 4 and sys.argv[1] == "pick":
        pick(sys.argv[2], int(sys.argv[3]))
        return
    else:
        raise SystemExit(__doc__)
    if cl.failures:
        print("check_erasure: %d failures" % len(cl.failures))
        sys.exit(1)
    print("check_erasure: OK")


if __name__ == "__main__":
    main()
