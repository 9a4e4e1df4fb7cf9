// The operator page's Prometheus text reader (web/assets/prom.js), in Node:
// labels with escapes, sums, rates across a restart, histogram quantiles.
// usage: node tools/browser/prom_test.mjs   (exit 1 on a failed check)

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";

// Imported from its text: web/ has no package.json saying its .js files are
// modules (the browser knows from <script type="module">).
const source = readFileSync(new URL("../../web/assets/prom.js", import.meta.url), "utf8");
const { labelValues, parseMetrics, quantile, rate, sum } =
  await import("data:text/javascript;charset=utf-8," + encodeURIComponent(source));

const first = parseMetrics(`# HELP watershed_http_responses_total HTTP responses
# TYPE watershed_http_responses_total counter
watershed_http_responses_total{code="200"} 10
watershed_http_responses_total{code="404"} 2
weird{path="a\\"b\\\\c",other="x"} 1.5e3
watershed_http_request_seconds_bucket{route="ingest",le="0.001"} 5
watershed_http_request_seconds_bucket{route="ingest",le="0.01"} 10
watershed_http_request_seconds_bucket{route="ingest",le="+Inf"} 10
watershed_http_request_seconds_bucket{route="query",le="0.001"} 0
watershed_http_request_seconds_bucket{route="query",le="0.01"} 0
watershed_http_request_seconds_bucket{route="query",le="+Inf"} 0
watershed_lag_records 7 1700000000000
not a sample line
`);
assert.equal(sum(first, "watershed_http_responses_total"), 12);
assert.equal(sum(first, "watershed_http_responses_total", { code: "404" }), 2);
assert.deepEqual(labelValues(first, "watershed_http_responses_total", "code"), ["200", "404"]);
const weird = first.find((s) => s.name === "weird");
assert.equal(weird.labels.path, 'a"b\\c');
assert.equal(weird.value, 1500);
assert.equal(sum(first, "watershed_lag_records"), 7);  // a timestamp after the value is ignored

const a = { at: 0, samples: first };
// Since start: 5 of 10 observations are under 1 ms, so the median is its bound.
assert.equal(quantile(null, a, "watershed_http_request_seconds", 0.5, { route: "ingest" }), 0.001);
// No observations: no quantile.
assert.equal(quantile(null, a, "watershed_http_request_seconds", 0.5, { route: "query" }), null);

const second = parseMetrics(`watershed_http_responses_total{code="200"} 30
watershed_http_responses_total{code="404"} 1
watershed_http_request_seconds_bucket{route="ingest",le="0.001"} 5
watershed_http_request_seconds_bucket{route="ingest",le="0.01"} 20
watershed_http_request_seconds_bucket{route="ingest",le="+Inf"} 21
`);
const b = { at: 2000, samples: second };
assert.equal(rate(null, b, "watershed_http_responses_total"), null);
assert.equal(rate(a, b, "watershed_http_responses_total", { code: "200" }), 10);  // 20 more in 2 s
assert.equal(rate(a, b, "watershed_http_responses_total", { code: "404" }), 0.5);  // went down: a restart, from 0
// Between the scrapes: 0 under 1 ms, 10 in (1 ms, 10 ms], 1 above; the
// median (rank 5.5) is linear within the second bucket, p99 beyond the last
// finite bound is that bound.
assert.ok(Math.abs(quantile(a, b, "watershed_http_request_seconds", 0.5, { route: "ingest" }) - 0.00595) < 1e-12);
assert.equal(quantile(a, b, "watershed_http_request_seconds", 0.99, { route: "ingest" }), 0.01);
console.log("prom_test: ok");
