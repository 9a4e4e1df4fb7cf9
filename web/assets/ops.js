// The operator page (/ops): progress per region and partition from
// /v1/status, rates and percentiles from two scrapes of /metrics. Needs an
// analyst or admin token (/v1/status refuses others).

import { $, api, duration, every, h, integer, setUpSignIn } from "./common.js";
import { labelValues, parseMetrics, quantile, rate, sum } from "./prom.js";

const TOKEN_KEY = "watershed.ops.token";
const PANELS = ["session", "overview", "regions", "partitions", "requests"];
let token = "";
let stopPolling = null;
let previous = null;  // the last scrape: {at, samples}

const perSecond = (r) => (r === null ? "–" : r.toLocaleString("en-US", { maximumFractionDigits: r < 10 ? 1 : 0 }) + "/s");
const seconds = (s) => (s === null ? "–" : s < 1 ? (s * 1000).toFixed(s < 0.01 ? 2 : 1) + " ms" : s.toFixed(2) + " s");
const percent = (part, whole) => (part === null || !whole ? "" : ` (${((100 * part) / whole).toFixed(2)} %)`);
const cell = (text) => h("td", {}, text);

setUpSignIn({
  key: TOKEN_KEY,
  onSignedIn: (t, claims) => {
    token = t;
    const roles = Array.isArray(claims.roles) ? claims.roles : [];
    $("who").textContent = `user ${claims.sub} (${roles.join(", ") || "no roles"})`;
    $("signin").hidden = true;
    for (const id of PANELS) $(id).hidden = false;
    previous = null;
    if (stopPolling) stopPolling();
    stopPolling = every(2000, poll);
  },
  onSignedOut: () => {
    if (stopPolling) stopPolling();
    token = "";
    for (const id of PANELS) $(id).hidden = true;
    $("signin").hidden = false;
  },
});

function refused(r) {
  $("poll-error").textContent = r.message + (r.status === 403 ? " — this page needs an analyst or admin token." : "");
}

function showStatus(status) {
  const now = Date.now();
  $("o-lag").textContent = integer(status.lag);
  $("partitions-table").tBodies[0].replaceChildren(...status.partitions.map((p) => {
    const lag = p.log_end_offset - p.processed_offset;
    return h("tr", { class: p.error ? "bad" : "" },
      h("th", { scope: "row" }, `${p.region} / ${p.partition}`), cell(integer(p.log_end_offset)),
      cell(integer(p.processed_offset)), cell(integer(lag)),
      cell(p.checkpoint_offset === null ? "–" : `${integer(p.checkpoint_offset)} (${p.checkpoint_id})`),
      cell(p.watermark === null ? "–" : duration(now - p.watermark)),
      cell(integer(p.duplicates)), cell(`${integer(p.late_events_5s)} / ${integer(p.late_events_1m)}`),
      h("td", { class: "text" }, p.error || ""));
  }));
}

function showMetrics(prev, cur) {
  const s = cur.samples;
  const processed = rate(prev, cur, "watershed_processed_records_total");
  const dup = rate(prev, cur, "watershed_duplicate_events_total");
  const late = rate(prev, cur, "watershed_late_events_total");
  const ingest = rate(prev, cur, "watershed_ingest_events_total");
  const rejected = rate(prev, cur, "watershed_ingest_rejected_events_total");
  $("o-ingest").textContent = perSecond(ingest);
  $("o-processed").textContent = perSecond(processed);
  $("o-rejected").textContent = perSecond(rejected) + percent(rejected, (ingest || 0) + (rejected || 0));
  $("o-duplicates").textContent = perSecond(dup) + percent(dup, processed);
  $("o-late").textContent = perSecond(late) + percent(late, processed);
  const q = (name, p, f) => seconds(quantile(prev, cur, name, p, f));
  $("o-fresh").textContent = `${q("watershed_append_to_visible_seconds", 0.5)} / ` +
                             q("watershed_append_to_visible_seconds", 0.99);
  $("o-ckpt").textContent = `${q("watershed_checkpoint_duration_seconds", 0.5)} / ` +
                            q("watershed_checkpoint_duration_seconds", 0.99);

  const regions = [...new Set([...labelValues(s, "watershed_region_lag_records", "region"),
                               ...labelValues(s, "watershed_checkpoint_age_seconds", "region")])].sort();
  const gauge = (name, region) => {
    const found = s.some((x) => x.name === name && x.labels.region === region);
    return found ? sum(s, name, { region }) : null;
  };
  $("regions-table").tBodies[0].replaceChildren(...regions.map((region) => h("tr", {},
    h("th", { scope: "row" }, region), cell(integer(gauge("watershed_region_lag_records", region))),
    cell(seconds(gauge("watershed_checkpoint_age_seconds", region))),
    cell(seconds(gauge("watershed_lake_commit_age_seconds", region))),
    cell(integer(gauge("watershed_checkpoint_failures_total", region))),
    cell(integer(gauge("watershed_lake_commit_failures_total", region))),
    cell(integer(gauge("watershed_log_fsync_failures_total", region))))));

  const routes = labelValues(s, "watershed_http_request_seconds_count", "route");
  $("latency-table").tBodies[0].replaceChildren(...routes.map((route) => h("tr", {},
    h("th", { scope: "row" }, route),
    cell(perSecond(rate(prev, cur, "watershed_http_request_seconds_count", { route }))),
    ...[0.5, 0.95, 0.99].map((p) => cell(q("watershed_http_request_seconds", p, { route }))))));

  const codes = [];
  for (const code of labelValues(s, "watershed_http_responses_total", "code"))
    codes.push([`HTTP ${code}`, "watershed_http_responses_total", { code }]);
  for (const code of labelValues(s, "watershed_auth_failures_total", "code"))
    codes.push([`401 ${code}`, "watershed_auth_failures_total", { code }]);
  for (const code of labelValues(s, "watershed_ingest_rejected_events_total", "code"))
    codes.push([`event rejected: ${code}`, "watershed_ingest_rejected_events_total", { code }]);
  $("codes-table").tBodies[0].replaceChildren(...codes
    .map(([label, name, f]) => [label, rate(prev, cur, name, f), sum(s, name, f)])
    .filter(([, r, total]) => total > 0 || (r !== null && r > 0))
    .map(([label, r, total]) => h("tr", {}, h("th", { scope: "row" }, label), cell(perSecond(r)),
                                  cell(integer(total)))));
}

async function poll() {
  if (!token) return;
  const [status, metrics] = await Promise.all([api("/v1/status", token), api("/metrics", token)]);
  if (!status.ok) return refused(status);
  showStatus(status.body);
  if (!metrics.ok) return refused(metrics);
  const cur = { at: Date.now(), samples: parseMetrics(metrics.body) };
  showMetrics(previous, cur);
  previous = cur;
  $("poll-error").textContent = "";
  $("updated").textContent = "updated " + new Date().toLocaleTimeString();
}
