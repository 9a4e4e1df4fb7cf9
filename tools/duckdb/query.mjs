#!/usr/bin/env node
// Watershed DuckDB query tool: lets tests check that DuckDB reads our Parquet files.
//
// Usage:
//   node tools/duckdb/query.mjs "<SQL>" [--json | --array | --describe] [--threads N]
//   node tools/duckdb/query.mjs - [...]        # read the SQL from stdin
//
// Opens an in-memory DuckDB (the @duckdb/node-api version pinned in package.json),
// runs the SQL (several statements separated by ';' are allowed; the result of the
// last one is printed) and prints:
//   (default, or --json)  one JSON object per line per result row: {"column": value, ...}
//                         Columns keep the query's order. Duplicate column names get
//                         the binding's deduplicated names (a, a:1, ...).
//   --array               the same rows as one JSON array on one line.
//   --describe            one line per result column: {"column_name": "...", "column_type": "..."}
//                         with DuckDB's type name (e.g. "BIGINT", "TIMESTAMP WITH TIME ZONE",
//                         "DECIMAL(18,3)", "STRUCT(\"a\" INTEGER, \"b\" VARCHAR)" (field names quoted), "INTEGER[]").
//                         The SQL is prepared, not executed. Equivalent SQL form:
//                         DESCRIBE SELECT * FROM read_parquet('f.parquet')
//                         (rows with column_name, column_type, null, key, default, extra).
// An empty result prints nothing (exit 0).
// --threads N sets DuckDB's worker threads (default: one per core). The session time zone
// is UTC, so SQL casts/strftime of TIMESTAMP WITH TIME ZONE do not depend on the machine.
//
// Value mapping (applied recursively inside LIST / ARRAY / STRUCT / MAP / UNION):
//   NULL                                  -> null
//   BOOLEAN                               -> true / false
//   TINYINT..INTEGER, UTINYINT..UINTEGER  -> number
//   BIGINT, UBIGINT, HUGEINT, UHUGEINT    -> number if |v| <= 2^53 - 1, else decimal string
//   FLOAT, DOUBLE                         -> number; NaN / Infinity / -Infinity as strings
//   DECIMAL                               -> exact decimal string, e.g. "12.340"
//   VARCHAR, ENUM, UUID                   -> string
//   BLOB                                  -> DuckDB's text form (printable ASCII kept,
//                                            other bytes as \xNN); use SQL hex(col) for hex
//   DATE                                  -> "YYYY-MM-DD"
//   TIME, TIME_NS, TIMETZ                 -> DuckDB's text form, e.g. "03:04:05.123456"
//   TIMESTAMP_S / _MS / TIMESTAMP / _NS   -> ISO 8601 string WITHOUT zone, fraction digits by
//                                            unit: 0 / 3 / 6 / 9, e.g. "2024-01-02T03:04:05.123456"
//   TIMESTAMP WITH TIME ZONE              -> ISO 8601 in UTC with "Z", 6 fraction digits,
//                                            e.g. "2024-01-02T03:04:05.500000Z"
//                                            (Parquet isAdjustedToUTC=true reads as this type)
//   +/-infinity timestamps                -> "infinity" / "-infinity"
//   timestamps beyond JS Date's range     -> DuckDB's text form (years beyond +/-275760 only)
//   INTERVAL                              -> {"months": n, "days": n, "micros": "n"}
//   LIST / ARRAY -> JSON array; STRUCT -> object; MAP -> [{"key":k,"value":v}, ...]
// Tests that want integer timestamps should ask SQL for them: epoch_us(ts), epoch_ns(ts),
// epoch_ms(ts).
//
// Errors: any failure (bad SQL, missing or corrupt Parquet file, ...) prints
// "Error: <DuckDB message>" on stderr and exits with status 1; usage errors exit 2.
//
// No network: parquet, json, icu and core_functions are statically linked into the
// binding, and extension auto-install/auto-load are switched off below, so a query that
// would need another extension fails instead of downloading anything.

import { readFileSync } from 'node:fs';
import {
  DuckDBInstance,
  DuckDBTypeId,
  JsonDuckDBValueConverter,
  createDuckDBValueConverter,
  arrayFromListValue,
  arrayFromArrayValue,
  objectFromStructValue,
  objectArrayFromMapValue,
  objectFromUnionValue,
} from '@duckdb/node-api';

function usage(msg) {
  if (msg) process.stderr.write(`query.mjs: ${msg}\n`);
  process.stderr.write(
    'usage: node tools/duckdb/query.mjs "<SQL>"|- [--json|--array|--describe] [--threads N]\n',
  );
  process.exit(2);
}

let sql = null;
let mode = 'lines';
let threads = null;
const args = process.argv.slice(2);
for (let i = 0; i < args.length; i++) {
  const a = args[i];
  if (a === '--json') mode = 'lines';
  else if (a === '--array') mode = 'array';
  else if (a === '--describe') mode = 'describe';
  else if (a === '--threads') {
    threads = args[++i];
    if (!/^[1-9][0-9]*$/.test(threads ?? '')) usage('--threads needs a positive integer');
  } else if (a === '-h' || a === '--help') usage();
  else if (sql === null) sql = a;
  else usage(`unexpected argument: ${a}`);
}
if (sql === null) usage('missing SQL');
if (sql === '-') sql = readFileSync(0, 'utf8');

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
function safeInteger(value) {
  const b = BigInt(value);
  return b <= MAX_SAFE && b >= -MAX_SAFE ? Number(b) : b.toString();
}

function floorDiv(a, b) {
  const q = a / b;
  return a % b !== 0n && a < 0n ? q - 1n : q;
}

// count = units since 1970-01-01T00:00:00 (UTC for TIMESTAMPTZ); unitsPerSec = 1, 1e3, 1e6, 1e9.
function isoTimestamp(value, count, unitsPerSec, digits, zone) {
  if (!value.isFinite) return count > 0n ? 'infinity' : '-infinity';
  const secs = floorDiv(count, unitsPerSec);
  const frac = count - secs * unitsPerSec;
  const ms = secs * 1000n;
  if (ms > 8640000000000000n || ms < -8640000000000000n) return String(value); // outside JS Date
  const base = new Date(Number(ms)).toISOString().slice(0, -5); // drop ".000Z"
  const fraction = digits > 0 ? '.' + frac.toString().padStart(digits, '0') : '';
  return base + fraction + zone;
}

const T = DuckDBTypeId;
const convertersByTypeId = {
  // Types listed here use these converters; all others fall back to the library's JSON one.
  [T.BOOLEAN]: (v) => Boolean(v),
  [T.TINYINT]: (v) => Number(v),
  [T.SMALLINT]: (v) => Number(v),
  [T.INTEGER]: (v) => Number(v),
  [T.UTINYINT]: (v) => Number(v),
  [T.USMALLINT]: (v) => Number(v),
  [T.UINTEGER]: (v) => Number(v),
  [T.BIGINT]: safeInteger,
  [T.UBIGINT]: safeInteger,
  [T.HUGEINT]: safeInteger,
  [T.UHUGEINT]: safeInteger,
  [T.FLOAT]: (v) => (Number.isFinite(v) ? Number(v) : String(v)),
  [T.DOUBLE]: (v) => (Number.isFinite(v) ? Number(v) : String(v)),
  [T.DECIMAL]: (v) => String(v),
  [T.TIMESTAMP_S]: (v) => isoTimestamp(v, v.seconds, 1n, 0, ''),
  [T.TIMESTAMP_MS]: (v) => isoTimestamp(v, v.millis, 1000n, 3, ''),
  [T.TIMESTAMP]: (v) => isoTimestamp(v, v.micros, 1000000n, 6, ''),
  [T.TIMESTAMP_NS]: (v) => isoTimestamp(v, v.nanos, 1000000000n, 9, ''),
  [T.TIMESTAMP_TZ]: (v) => isoTimestamp(v, v.micros, 1000000n, 6, 'Z'),
  [T.INTERVAL]: (v) => ({ months: v.months, days: v.days, micros: v.micros.toString() }),
  [T.LIST]: arrayFromListValue,
  [T.ARRAY]: arrayFromArrayValue,
  [T.STRUCT]: objectFromStructValue,
  [T.MAP]: objectArrayFromMapValue,
  [T.UNION]: objectFromUnionValue,
  [T.SQLNULL]: () => null,
};
const baseConverter = JsonDuckDBValueConverter;
const ownConverter = createDuckDBValueConverter(convertersByTypeId);
// Our converter for the types above, the library's JSON converter (strings) for the rest;
// nested types recurse through `converter`, which is this function again.
function converter(value, type, conv) {
  if (value == null) return null;
  if (type.typeId in convertersByTypeId) return ownConverter(value, type, conv);
  return baseConverter(value, type, conv);
}

function writeAll(text) {
  return new Promise((resolve, reject) => {
    process.stdout.write(text, (err) => (err ? reject(err) : resolve()));
  });
}

async function main() {
  const config = {
    autoinstall_known_extensions: 'false',
    autoload_known_extensions: 'false',
  };
  if (threads !== null) config.threads = threads;
  const instance = await DuckDBInstance.create(':memory:', config);
  const connection = await instance.connect();
  try {
    // Deterministic casts/strftime of TIMESTAMP WITH TIME ZONE, whatever TZ the machine has.
    await connection.run("SET TimeZone = 'UTC'");
    if (mode === 'describe') {
      // Run all but the last statement, then prepare the last one to read its result columns.
      const extracted = await connection.extractStatements(sql);
      const n = extracted.count;
      if (n === 0) throw new Error('no SQL statement given');
      for (let i = 0; i < n - 1; i++) await (await extracted.prepare(i)).run();
      const prepared = await extracted.prepare(n - 1);
      let out = '';
      for (let i = 0; i < prepared.columnCount; i++) {
        out += JSON.stringify({
          column_name: prepared.columnName(i),
          column_type: prepared.columnType(i).toString(),
        }) + '\n';
      }
      await writeAll(out);
      return;
    }
    // Several statements: all but the last run first (runAndReadAll alone
    // would return the FIRST statement's result), then the last one's rows.
    const extracted = await connection.extractStatements(sql);
    const n = extracted.count;
    if (n === 0) throw new Error('no SQL statement given');
    for (let i = 0; i < n - 1; i++) await (await extracted.prepare(i)).run();
    const reader = await (await extracted.prepare(n - 1)).runAndReadAll();
    const rows = reader.convertRowObjects(converter);
    if (mode === 'array') {
      await writeAll(JSON.stringify(rows) + '\n');
    } else {
      let out = '';
      for (const row of rows) {
        out += JSON.stringify(row) + '\n';
        if (out.length > 1 << 20) {
          await writeAll(out);
          out = '';
        }
      }
      if (out) await writeAll(out);
    }
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
}

try {
  await main();
} catch (err) {
  const msg = err && err.message ? err.message : String(err);
  process.stderr.write(`Error: ${msg}\n`);
  process.exitCode = 1;
}
