// Reads the Prometheus text format (0.0.4) that GET /metrics answers, and
// derives what the operator page shows: sums, rates between two scrapes and
// histogram quantiles (linear within a bucket, as PromQL's
// histogram_quantile does).

// "name{a=\"x\",b=\"y\"} 12.5 [timestamp]" lines → [{name, labels, value}].
export function parseMetrics(text) {
  const samples = [];
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (!line || line.startsWith("#")) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels = {};
    const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;
    for (let l; (l = re.exec(m[3] || "")) !== null;)
      labels[l[1]] = l[2].replace(/\\n/g, "\n").replace(/\\"/g, '"').replace(/\\\\/g, "\\");
    const value = m[4] === "+Inf" ? Infinity : m[4] === "-Inf" ? -Infinity : Number(m[4]);
    samples.push({ name: m[1], labels, value });
  }
  return samples;
}

const matches = (labels, filter) => Object.entries(filter).every(([k, v]) => labels[k] === v);

// Σ of the samples named `name` whose labels include `filter`.
export function sum(samples, name, filter = {}) {
  let total = 0;
  for (const s of samples) if (s.name === name && matches(s.labels, filter)) total += s.value;
  return total;
}

// Distinct values of label `label` among the samples named `name`.
export function labelValues(samples, name, label) {
  return [...new Set(samples.filter((s) => s.name === name && label in s.labels).map((s) => s.labels[label]))].sort();
}

// The per-second rate of a counter between two scrapes (a restart — the
// counter going down — counts from 0); null without a previous scrape.
export function rate(prev, cur, name, filter = {}) {
  if (!prev) return null;
  const dt = (cur.at - prev.at) / 1000;
  if (dt <= 0) return null;
  const a = sum(prev.samples, name, filter), b = sum(cur.samples, name, filter);
  return (b >= a ? b - a : b) / dt;
}

// Cumulative buckets {le: count} of histogram `name` summed over the samples
// matching `filter` (e.g. every route).
function buckets(samples, name, filter) {
  const out = new Map();
  for (const s of samples) {
    if (s.name !== name + "_bucket" || !matches(s.labels, filter)) continue;
    const le = s.labels.le === "+Inf" ? Infinity : Number(s.labels.le);
    out.set(le, (out.get(le) || 0) + s.value);
  }
  return [...out.entries()].sort((x, y) => x[0] - y[0]);
}

// The q-quantile (0..1) of histogram `name`: of the observations between the
// two scrapes when there are some, else of everything since start; null when
// there are none.
export function quantile(prev, cur, name, q, filter = {}) {
  let b = buckets(cur.samples, name, filter);
  if (prev) {
    const before = new Map(buckets(prev.samples, name, filter));
    const delta = b.map(([le, c]) => [le, c - (before.get(le) || 0)]);
    if (delta.length && delta[delta.length - 1][1] > 0 && delta.every(([, c]) => c >= 0)) b = delta;
  }
  if (!b.length) return null;
  const total = b[b.length - 1][1];
  if (!(total > 0)) return null;
  const rank = q * total;
  let lowerLe = 0, lowerCount = 0;
  for (const [le, count] of b) {
    if (count >= rank) {
      if (le === Infinity) return lowerLe;  // beyond the last finite bucket: its bound
      return lowerLe + ((le - lowerLe) * (rank - lowerCount)) / Math.max(count - lowerCount, 1e-12);
    }
    lowerLe = le;
    lowerCount = count;
  }
  return lowerLe;
}
