#!/usr/bin/python3
"""Checks a Watershed lake against the ground truth of a load, independently
of Watershed's own code: Iceberg metadata and manifests are read with
Debian's python3-avro, the Parquet files with DuckDB (tools/duckdb).

  1. per region and table: the data files live in the table's snapshots
     (from version-hint.text -> v<N>.metadata.json -> manifest lists ->
     manifests) are exactly the files on disk (no orphan, none missing), and
     every file in metadata/ is referenced (metadata log, snapshots' manifest
     lists, their manifests);
     the rows below are the current snapshot's;
  2. raw_events: one row per log record: (region, story_id, log_offset)
     unique, and as many rows as the logs hold (--log-records);
  3. events: every distinct event once (count == distinct event_id ==
     truth's distinct events), per-story totals equal the truth's;
  4. story_minute: no (story, minute, region) twice; every final 1-minute
     window of the truth is there with its values summed over regions; no
     row outside the truth's windows; every row's author_id is its story's
     author in the truth (the catalogue's, which load registers).

Encrypted lakes (encryption = on): every data file starting with PARE is
read with its own key, which `WATERSHED keys data-key` prints (DuckDB's
PRAGMA add_parquet_key + encryption_config), and every file's key sidecar
(<file>.key) must sit beside it (a sidecar alone is an orphan).

usage: check_lake.py LAKE_ROOT TRUTH_FILE [--log-records N] [--keys WATERSHED_BINARY --data-dir DIR]
Prints a summary; exit 0 when everything holds.
"""
import json
import os
import subprocess
import sys
import warnings

warnings.simplefilter("ignore")
import avro.datafile  # noqa: E402
import avro.io  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
QUERY = os.path.join(HERE, "..", "..", "tools", "duckdb", "query.mjs")
failures = []


def fail(msg):
    failures.append(msg)
    print("check_lake: FAIL " + msg)


_avro_cache = {}


def avro_records(path):
    # Manifests and lists never change once written; snapshots share them.
    if path not in _avro_cache:
        with open(path, "rb") as f:
            _avro_cache[path] = list(avro.datafile.DataFileReader(f, avro.io.DatumReader()))
    return _avro_cache[path]


def live_files(table_dir):
    meta_dir = os.path.join(table_dir, "metadata")
    with open(os.path.join(meta_dir, "version-hint.text")) as f:
        version = int(f.read().strip())
    while os.path.exists(os.path.join(meta_dir, "v%d.metadata.json" % (version + 1))):
        version += 1
    with open(os.path.join(meta_dir, "v%d.metadata.json" % version)) as f:
        meta = json.load(f)
    current = meta.get("current-snapshot-id")
    if current is None or current == -1:
        return set(), meta
    snap = [s for s in meta["snapshots"] if s["snapshot-id"] == current][0]
    return live_in(snap, table_dir, True), meta


def live_in(snapshot, table_dir, strict):
    files = set()
    for m in avro_records(snapshot["manifest-list"]):
        for entry in avro_records(m["manifest_path"]):
            if entry["status"] != 2:
                path = entry["data_file"]["file_path"]
                if strict and path in files:
                    fail("%s listed twice in %s" % (path, table_dir))
                files.add(path)
    return files


def referenced_data(meta, table_dir):
    """Data files live in any retained snapshot (compaction replaced some;
    they stay until snapshot expiry deletes them)."""
    out = set()
    for s in meta.get("snapshots", []):
        out |= live_in(s, table_dir, False)
    return out


def metadata_orphans(table_dir, meta):
    """Files in metadata/ that nothing references: the version files of the
    metadata log and the current one, version-hint.text, every snapshot's
    manifest list and the manifests those lists name."""
    meta_dir = os.path.join(table_dir, "metadata")
    referenced = {os.path.join(meta_dir, "version-hint.text")}
    referenced |= {m["metadata-file"] for m in meta.get("metadata-log", [])}
    for s in meta.get("snapshots", []):
        referenced.add(s["manifest-list"])
        referenced |= {m["manifest_path"] for m in avro_records(s["manifest-list"])}
    versions = sorted(n for n in os.listdir(meta_dir) if n.endswith(".metadata.json"))
    referenced.add(os.path.join(meta_dir, max(versions, key=lambda n: int(n[1:].split(".")[0]))))
    # A committer killed while it wrote the next version (or the hint) leaves
    # its temporary (.tmp.<pid>...): removed by age (remove-orphans), not here.
    return sorted(os.path.join(meta_dir, n) for n in os.listdir(meta_dir)
                  if os.path.join(meta_dir, n) not in referenced and ".tmp." not in n)


def on_disk(table_dir):
    """The data files (key sidecars apart; a sidecar without its file fails)."""
    out, sidecars = set(), set()
    for root, _, names in os.walk(os.path.join(table_dir, "data")):
        for n in names:
            (sidecars if n.endswith(".key") else out).add(os.path.join(root, n))
    for k in sorted(sidecars - {f + ".key" for f in out})[:5]:
        fail("orphan key file " + k)
    return out


KEYS = {}  # --keys BIN --data-dir DIR: how encrypted files' keys are found
PRAGMAS = []  # PRAGMA add_parquet_key statements the queries need


def encrypted(path):
    with open(path, "rb") as f:
        return f.read(4) == b"PARE"


def data_key(root, path):
    if not KEYS:
        raise SystemExit("check_lake: %s is encrypted: give --keys WATERSHED_BINARY --data-dir DIR" % path)
    if not os.path.exists(path + ".key"):
        fail("encrypted file without its key sidecar " + path)
    region = os.path.relpath(path, root).split(os.sep)[0]
    r = subprocess.run([KEYS["bin"], "keys", "data-key", "--region", region, "--data-dir", KEYS["data_dir"], path],
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit("check_lake: keys data-key %s: %s" % (path, r.stderr[-2000:]))
    return r.stdout.strip()


def duck(sql):
    sql = "".join(p + ";\n" for p in PRAGMAS) + sql
    r = subprocess.run(["node", QUERY, "-", "--array", "--threads", "2"], input=sql, capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit("check_lake: duckdb failed: " + r.stderr[-2000:])
    return json.loads(r.stdout) if r.stdout.strip() else []


def parquet_source(root, files):
    """A FROM source over the files: one read_parquet of the plaintext ones,
    and one per encrypted file with its own key (each file has its own)."""
    plain = sorted(f for f in files if not encrypted(f))
    parts = ["SELECT * FROM read_parquet([%s])" % ",".join("'%s'" % f for f in plain)] if plain else []
    for f in sorted(set(files) - set(plain)):
        name = "k%d" % len(PRAGMAS)
        PRAGMAS.append("PRAGMA add_parquet_key('%s', '%s')" % (name, data_key(root, f)))
        parts.append("SELECT * FROM read_parquet('%s', encryption_config={footer_key: '%s'})" % (f, name))
    if not parts:
        return "read_parquet([])"
    return "(" + " UNION ALL BY NAME ".join(parts) + ")"


def read_truth(path):
    stories, windows, distinct, authors = {}, {}, 0, {}
    with open(path) as f:
        for line in f:
            p = line.split()
            if p[0] == "counts":
                distinct = int(dict(kv.split("=") for kv in p[1:])["distinct_events"])
            elif p[0] == "story":
                stories[int(p[1])] = tuple(int(x) for x in p[3:8])
                authors[int(p[1])] = int(p[2])
            elif p[0] == "window" and p[2] == "60000":
                windows[(int(p[1]), int(p[3]))] = (p[4] == "1", tuple(int(x) for x in p[5:10]))
    return stories, windows, distinct, authors


def main():
    root, truth_path = os.path.abspath(sys.argv[1]), sys.argv[2]
    log_records = None
    if "--log-records" in sys.argv:
        log_records = int(sys.argv[sys.argv.index("--log-records") + 1])
    if "--keys" in sys.argv:
        KEYS["bin"] = sys.argv[sys.argv.index("--keys") + 1]
        KEYS["data_dir"] = sys.argv[sys.argv.index("--data-dir") + 1]
    stories, windows, distinct, authors = read_truth(truth_path)

    tables = {"raw_events": set(), "events": set(), "story_minute": set()}
    for region in sorted(os.listdir(root)):
        for table in tables:
            table_dir = os.path.join(root, region, table)
            if not os.path.isdir(table_dir):
                fail("missing table " + table_dir)
                continue
            live, meta = live_files(table_dir)
            referenced = referenced_data(meta, table_dir)
            disk = on_disk(table_dir)
            for orphan in sorted(disk - referenced)[:5]:
                fail("orphan file " + orphan)
            for missing in sorted(referenced - disk)[:5]:
                fail("committed file missing " + missing)
            for orphan in metadata_orphans(table_dir, meta)[:5]:
                fail("orphan metadata file " + orphan)
            if meta.get("format-version") != 2:
                fail(table_dir + " is not format-version 2")
            tables[table] |= live
    print("check_lake: committed files raw_events=%d events=%d story_minute=%d" %
          tuple(len(tables[t]) for t in ("raw_events", "events", "story_minute")))

    raw = parquet_source(root, tables["raw_events"])
    r = duck("SELECT count(*) AS n, count(DISTINCT (region, story_id, log_offset)) AS k FROM %s" % raw)[0]
    print("check_lake: raw_events rows=%d distinct records=%d log records=%s" % (r["n"], r["k"], log_records))
    if r["n"] != r["k"]:
        fail("raw_events holds %d rows for %d log records" % (r["n"], r["k"]))
    if log_records is not None and r["n"] != log_records:
        fail("raw_events holds %d rows, the logs %d records" % (r["n"], log_records))

    ev = parquet_source(root, tables["events"])
    e = duck("SELECT count(*) AS n, count(DISTINCT event_id) AS d FROM %s" % ev)[0]
    print("check_lake: events rows=%d distinct=%d truth=%d" % (e["n"], e["d"], distinct))
    if not (e["n"] == e["d"] == distinct):
        fail("events: %d rows, %d distinct ids, truth %d distinct events" % (e["n"], e["d"], distinct))
    rows = duck("""SELECT story_id, count(*) FILTER (type = 'view') AS views,
                          count(DISTINCT viewer_id) FILTER (type = 'view') AS uv,
                          coalesce(sum(watch_ms) FILTER (type = 'view'), 0) AS watch,
                          count(*) FILTER (type = 'share') AS shares, count(*) FILTER (type = 'reply') AS replies
                   FROM %s GROUP BY story_id""" % ev)
    lake_stories = {x["story_id"]: (x["views"], x["uv"], x["watch"], x["shares"], x["replies"]) for x in rows}
    bad = [s for s in set(stories) | set(lake_stories) if stories.get(s) != lake_stories.get(s)]
    for s in bad[:5]:
        fail("story %d: lake %s truth %s" % (s, lake_stories.get(s), stories.get(s)))
    print("check_lake: stories compared=%d mismatches=%d" % (len(stories), len(bad)))

    sm = parquet_source(root, tables["story_minute"])
    if tables["story_minute"]:
        d = duck("SELECT count(*) AS n, count(DISTINCT (story_id, minute, region)) AS k FROM %s" % sm)[0]
        if d["n"] != d["k"]:
            fail("story_minute holds %d rows for %d (story, minute, region)" % (d["n"], d["k"]))
        rows = duck("""SELECT story_id, epoch_ms(minute) AS m, sum(views) AS v, sum(unique_viewers) AS u,
                              sum(watch_time_ms) AS w, sum(shares) AS s, sum(replies) AS r
                       FROM %s GROUP BY ALL""" % sm)
        lake_minutes = {(x["story_id"], x["m"]): (x["v"], x["u"], x["w"], x["s"], x["r"]) for x in rows}
        # author_id comes from the story catalogue (load registers the
        # generator's authors there), never from the events' hints.
        wrong_authors = duck("SELECT DISTINCT story_id, author_id FROM %s" % sm)
        wrong_authors = [x for x in wrong_authors if authors.get(x["story_id"]) != x["author_id"]]
        for x in wrong_authors[:5]:
            fail("story_minute: story %d has author_id %d, the catalogue's is %s" %
                 (x["story_id"], x["author_id"], authors.get(x["story_id"])))
    else:
        lake_minutes = {}
    final = {k: v for k, (is_final, v) in windows.items() if is_final}
    wrong = [k for k, v in final.items() if lake_minutes.get(k) != v]
    wrong += [k for k in lake_minutes if k not in windows]
    for k in wrong[:5]:
        fail("story_minute %s: lake %s truth %s" % (k, lake_minutes.get(k), windows.get(k)))
    print("check_lake: story_minute rows=%d final truth windows=%d mismatches=%d" %
          (len(lake_minutes), len(final), len(wrong)))
    if failures:
        print("check_lake: %d failures" % len(failures))
        return 1
    print("check_lake: OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
