#!/usr/bin/env node
// DuckDB's side of the SQL benchmark (bench/run_sql.sh): the same queries
// (bench/sql_queries.tsv) on the same Parquet files. `events` and
// `story_minute` are views over read_parquet of the tables' data files
// (the generator's lake holds only live files); session time zone UTC.
// Warm: one untimed run, then --runs timed runs; prints per query
//   name=Q1 threads=T median_ms=M min_ms=m rows=N
// and with --print the rows as one JSON array per query. --rss prints the
// process's peak resident set (process.resourceUsage().maxRSS) at the end.
//
// usage: node bench/sql_duckdb_bench.mjs --lake DIR/us --queries FILE [--threads 1] [--runs 5] [--only Q3] [--print] [--rss]

import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';

// @duckdb/node-api lives in tools/duckdb/node_modules (scripts/install-deps.sh).
const require = createRequire(new URL('../tools/duckdb/package.json', import.meta.url));
const { DuckDBInstance, version } = require('@duckdb/node-api');

function usage(msg) {
  if (msg) process.stderr.write(`sql_duckdb_bench.mjs: ${msg}\n`);
  process.stderr.write('usage: node bench/sql_duckdb_bench.mjs --lake DIR --queries FILE [--threads N] [--runs N]\n');
  process.exit(2);
}

const opts = { lake: null, queries: null, threads: 1, runs: 5, only: null, print: false, rss: false };
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  const a = argv[i];
  if (a === '--print' || a === '--rss') {
    opts[a.slice(2)] = true;
    continue;
  }
  const v = argv[++i];
  if (v === undefined) usage(`${a} needs a value`);
  if (a === '--lake') opts.lake = v;
  else if (a === '--queries') opts.queries = v;
  else if (a === '--only') opts.only = v;
  else if (a === '--threads' || a === '--runs') {
    if (!/^[1-9][0-9]*$/.test(v)) usage(`${a}: not a positive integer`);
    opts[a.slice(2)] = Number(v);
  } else usage(`unknown flag ${a}`);
}
if (!opts.lake || !opts.queries) usage();

const q = (s) => `'${s.replaceAll("'", "''")}'`;
const instance = await DuckDBInstance.create(':memory:', {
  autoinstall_known_extensions: 'false',
  autoload_known_extensions: 'false',
});
const con = await instance.connect();
await con.run("SET TimeZone = 'UTC'");
await con.run(`SET threads = ${opts.threads}`);
for (const t of ['events', 'story_minute'])
  await con.run(`CREATE VIEW ${t} AS SELECT * FROM read_parquet(${q(`${opts.lake}/${t}/data/*.parquet`)})`);

// BIGINTs as numbers, timestamps as microseconds: comparable with ours.
const plain = (v) => (typeof v === 'bigint' ? Number(v) : v && typeof v === 'object' && 'micros' in v ? Number(v.micros) : v);

for (const line of readFileSync(opts.queries, 'utf8').split('\n')) {
  if (!line || line.startsWith('#')) continue;
  const tab = line.indexOf('\t');
  const [name, sql] = [line.slice(0, tab), line.slice(tab + 1)];
  if (opts.only && name !== opts.only) continue;
  const ms = [];
  let rows = [];
  for (let r = 0; r <= opts.runs; r++) {
    const t0 = process.hrtime.bigint();
    rows = (await con.runAndReadAll(sql)).getRows();
    if (r > 0) ms.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  ms.sort((a, b) => a - b);
  console.log(
    `name=${name} threads=${opts.threads} median_ms=${ms[ms.length >> 1].toFixed(2)} ` +
      `min_ms=${ms[0].toFixed(2)} rows=${rows.length} version=${version()}`,
  );
  if (opts.print) console.log(JSON.stringify(rows.map((row) => row.map(plain))));
}
if (opts.rss) console.log(`peak_rss_kb=${process.resourceUsage().maxRSS}`);
