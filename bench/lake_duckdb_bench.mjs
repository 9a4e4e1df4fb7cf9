#!/usr/bin/env node
// DuckDB's side of bench/lake_bench.cc ("Parquet writing and
// lake queries: DuckDB on the same rows"); bench/run_lake.sh runs both.
//
// usage: node bench/lake_duckdb_bench.mjs --ours FILE --out DIR [--lo L (100)] [--hi H (119)]
//                                         [--codec zstd|snappy|uncompressed (zstd)]
//
// 1. Loads FILE (lake_bench's ours.parquet: the same rows, sorted by story_id,
//    event_time) into an in-memory table t. Not timed.
// 2. write: for threads = 1 and 2, times
//      COPY t TO 'DIR/duckdb_t<N>.parquet' (FORMAT parquet, COMPRESSION zstd)
//    (DuckDB's defaults otherwise: zstd level 3, row groups of 122,880 rows;
//    the rows stay in table order). Reports rows/s, file size, process CPU
//    seconds (process.cpuUsage(): DuckDB's worker threads included).
// 3. full:   SELECT sum(story_id) FROM read_parquet(F)            on ours and DuckDB's file
//    filter: SELECT count(*), sum(story_id) ... WHERE story_id BETWEEN L AND H
//    with threads = 1 and 2. For both files, the row groups whose story_id
//    statistics overlap [L, H] (parquet_metadata), i.e. what a reader that
//    prunes by statistics must read, and the total.
// Output: one line per measurement, `key=value` separated by spaces, first
// word the phase, `duck` prefixed (parseable like lake_bench's).
// DuckDB's file DIR/duckdb_t*.parquet is removed at the end.

import { createRequire } from 'node:module';
import { statSync, rmSync } from 'node:fs';

// @duckdb/node-api lives in tools/duckdb/node_modules (scripts/install-deps.sh).
const require = createRequire(new URL('../tools/duckdb/package.json', import.meta.url));
const { DuckDBInstance, version } = require('@duckdb/node-api');

function usage(msg) {
  if (msg) process.stderr.write(`lake_duckdb_bench.mjs: ${msg}\n`);
  process.stderr.write('usage: node bench/lake_duckdb_bench.mjs --ours FILE --out DIR [--lo L] [--hi H] [--codec C]\n');
  process.exit(2);
}

const opts = { ours: null, out: null, lo: 100, hi: 119, codec: 'zstd' };
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  const a = argv[i];
  const v = argv[++i];
  if (v === undefined) usage(`${a} needs a value`);
  if (a === '--ours') opts.ours = v;
  else if (a === '--out') opts.out = v;
  else if (a === '--lo' || a === '--hi') {
    if (!/^-?[0-9]+$/.test(v)) usage(`${a}: not an integer`);
    opts[a.slice(2)] = Number(v);
  } else if (a === '--codec') {
    if (!['zstd', 'snappy', 'uncompressed', 'none'].includes(v)) usage('--codec: zstd, snappy or uncompressed');
    opts.codec = v === 'none' ? 'uncompressed' : v;
  } else usage(`unknown argument ${a}`);
}
if (!opts.ours || !opts.out) usage('--ours and --out are required');

const q = (s) => `'${s.replaceAll("'", "''")}'`;

const instance = await DuckDBInstance.create(':memory:', {
  autoinstall_known_extensions: 'false',
  autoload_known_extensions: 'false',
});
const con = await instance.connect();

// Runs sql, returns [seconds, cpu seconds, rows].
async function timed(sql) {
  const c0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  const reader = await con.runAndReadAll(sql);
  const rows = reader.getRows();
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  const c = process.cpuUsage(c0);
  return [s, (c.user + c.system) / 1e6, rows];
}

const fmt = (x, d = 3) => x.toFixed(d);

await con.run("SET TimeZone = 'UTC'");
let [loadS, , loadRows] = await timed(`CREATE TABLE t AS SELECT * FROM read_parquet(${q(opts.ours)})`);
[, , loadRows] = await timed('SELECT count(*) FROM t');
const n = Number(loadRows[0][0]);
console.log(`duck_load version=${version()} rows=${n} seconds=${fmt(loadS)}`);

const files = [];
for (const threads of [1, 2]) {
  await con.run(`SET threads = ${threads}`);
  const file = `${opts.out}/duckdb_t${threads}.parquet`;
  files.push(file);
  rmSync(file, { force: true });
  const [s, cpu] = await timed(`COPY t TO ${q(file)} (FORMAT parquet, COMPRESSION ${opts.codec})`);
  const size = statSync(file).size;
  console.log(
    `duck_write threads=${threads} codec=${opts.codec} rows=${n} seconds=${fmt(s)} rows_per_s=${fmt(n / s, 0)} ` +
      `file_bytes=${size} cpu_s=${fmt(cpu)} rows_per_cpu_s=${fmt(n / cpu, 0)} cpu_per_m_rows=${fmt((cpu / n) * 1e6)}`,
  );
}

// Row groups whose story_id min/max overlap [lo, hi], and all row groups.
async function prunable(file) {
  const [, , rows] = await timed(
    `SELECT count(DISTINCT row_group_id) FILTER (WHERE stats_max_value::BIGINT >= ${opts.lo} AND ` +
      `stats_min_value::BIGINT <= ${opts.hi}), count(DISTINCT row_group_id) ` +
      `FROM parquet_metadata(${q(file)}) WHERE path_in_schema = 'story_id'`,
  );
  return [Number(rows[0][0]), Number(rows[0][1])];
}

const targets = [
  ['ours', opts.ours],
  ['duckdb', files[0]],
];
for (const threads of [1, 2]) {
  await con.run(`SET threads = ${threads}`);
  for (const [name, file] of targets) {
    const [s, cpu, rows] = await timed(`SELECT sum(story_id), count(*) FROM read_parquet(${q(file)})`);
    const cnt = Number(rows[0][1]);
    console.log(
      `duck_full file=${name} threads=${threads} rows=${cnt} sum=${rows[0][0]} seconds=${fmt(s, 4)} ` +
        `rows_per_s=${fmt(cnt / s, 0)} cpu_s=${fmt(cpu)}`,
    );
  }
  for (const [name, file] of targets) {
    const [s, cpu, rows] = await timed(
      `SELECT count(*), sum(story_id) FROM read_parquet(${q(file)}) WHERE story_id BETWEEN ${opts.lo} AND ${opts.hi}`,
    );
    const [overlap, total] = await prunable(file);
    console.log(
      `duck_filter file=${name} threads=${threads} lo=${opts.lo} hi=${opts.hi} count=${rows[0][0]} ` +
        `sum=${rows[0][1] ?? 0} seconds=${fmt(s, 4)} cpu_s=${fmt(cpu)} row_groups_overlapping=${overlap} ` +
        `row_groups_total=${total}`,
    );
  }
}
con.closeSync?.();
for (const f of files) rmSync(f, { force: true });
