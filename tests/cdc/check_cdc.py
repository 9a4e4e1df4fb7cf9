#!/usr/bin/env python3
"""Checks a catalogue feed's lake table against the committed history of the
PostgreSQL table it read, and the story catalogue against the table's final
rows. Part of tests/cdc_crash_e2e.sh.

usage: check_cdc.py TABLE_DIR EXPECTED_HISTORY FINAL_ROWS CATALOG_ROWS

EXPECTED_HISTORY: one line a change, "snapshot ID" (in any order) then
"insert|update|delete ID" in commit order. FINAL_ROWS: "id|author|title|deleted"
(t/f) per row of the table at the end. CATALOG_ROWS: the JSON lines of
`watershed catalog show` for every id that ever existed.
Checks, with DuckDB reading the Parquet files the table's current snapshot
lists (python3-avro reads the manifests):
  1. no (commit_lsn, change_index) twice: each change landed once;
  2. the snapshot rows are the expected set and the streamed rows, in
     (commit_lsn, change_index) order, are exactly the expected history
     (nothing of a rolled-back transaction, nothing lost);
  3. the catalogue equals the final table: author, title and deleted of
     every live row; every row deleted upstream is deleted in the catalogue.
"""
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lake"))
import check_lake  # noqa: E402  (live_files, duck)


def story_of(change):
    values = json.loads(change["after"] or change["before"])
    return int(values["story_id"])


def main():
    table_dir, expected_path, final_path, catalog_path = sys.argv[1:5]
    errors = []
    files, _ = check_lake.live_files(table_dir)
    if not files:
        print("check_cdc: FAIL no committed data file in " + table_dir)
        return 1
    rows = check_lake.duck("SELECT op, commit_lsn, change_index, before, after FROM %s "
                           "ORDER BY commit_lsn, change_index" % check_lake.parquet_source(table_dir, files))
    keys = [(r["commit_lsn"], r["change_index"]) for r in rows]
    if len(keys) != len(set(keys)):
        errors.append("%d changes landed more than once" % (len(keys) - len(set(keys))))
    with open(expected_path) as f:
        expected = [tuple(line.split()) for line in f if line.strip()]
    want_snapshot = sorted(int(i) for op, i in expected if op == "snapshot")
    want_stream = [(op, int(i)) for op, i in expected if op != "snapshot"]
    got_snapshot = sorted(story_of(r) for r in rows if r["op"] == "snapshot")
    got_stream = [(r["op"], story_of(r)) for r in rows if r["op"] != "snapshot"]
    if got_snapshot != want_snapshot:
        errors.append("snapshot rows %d, expected %d" % (len(got_snapshot), len(want_snapshot)))
    if got_stream != want_stream:
        first = next((i for i, (a, b) in enumerate(zip(got_stream, want_stream)) if a != b),
                     min(len(got_stream), len(want_stream)))
        errors.append("streamed changes differ from the history at #%d: lake %s, expected %s (lake %d, history %d)" %
                      (first, got_stream[first:first + 3], want_stream[first:first + 3], len(got_stream),
                       len(want_stream)))
    print("check_cdc: cdc rows=%d snapshot=%d streamed=%d expected=%d" %
          (len(rows), len(got_snapshot), len(got_stream), len(want_snapshot) + len(want_stream)))

    final = {}
    with open(final_path) as f:
        for line in f:
            if line.strip():
                i, author, title, deleted = line.rstrip("\n").split("|")
                final[int(i)] = (int(author), title, deleted == "t")
    catalog = {}
    with open(catalog_path) as f:
        for line in f:
            if line.strip():
                r = json.loads(line)
                catalog[r["story_id"]] = r
    ever = {i for _, i in want_stream} | set(want_snapshot)
    for i in sorted(ever):
        c = catalog.get(i)
        if i in final:
            author, title, deleted = final[i]
            if c is None or (c["author_id"], c["title"], c["deleted"]) != (author, title, deleted):
                errors.append("story %d: catalogue %s, table %s" % (i, c and (c["author_id"], c["title"], c["deleted"]),
                                                                   final[i]))
        elif c is None or not c["deleted"]:
            errors.append("story %d was deleted upstream; catalogue %s" % (i, c))
    print("check_cdc: catalogue stories compared=%d" % len(ever))
    for e in errors[:10]:
        print("check_cdc: FAIL " + e)
    if errors:
        return 1
    print("check_cdc: OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
