// A bar chart of one series drawn as inline SVG (no canvas, no library).

import { integer } from "./common.js";

const NS = "http://www.w3.org/2000/svg";
function svg(tag, attrs) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  return el;
}

const time = (ms) => new Date(ms).toISOString().slice(11, 19);

// What each chart last drew, to draw it again at a new width.
const drawn = new Map();
let resizeTimer = null;
window.addEventListener("resize", () => {
  clearTimeout(resizeTimer);
  resizeTimer = setTimeout(() => drawn.forEach((args, target) => drawBars(target, ...args)), 100);
});

// Draws points ({start, <field>, final}) into the <svg> `target`, the last
// `max` of them; bars of windows not final yet are drawn lighter.
export function drawBars(target, points, field, options = {}) {
  drawn.set(target, [points, field, options]);
  const { max = 60, label = "" } = options;
  // Drawn at the element's own width, so text keeps its size on a phone.
  const W = Math.max(280, Math.round(target.getBoundingClientRect().width) || 600), H = 180;
  const left = 48, bottom = 22, top = 8;
  const shown = points.slice(-max);
  target.setAttribute("viewBox", `0 0 ${W} ${H}`);
  target.replaceChildren();
  const peak = Math.max(1, ...shown.map((p) => p[field]));
  const plotW = W - left - 4, plotH = H - top - bottom;
  target.append(svg("line", { x1: left, y1: top + plotH, x2: W - 4, y2: top + plotH, class: "axis" }));
  const yLabel = svg("text", { x: left - 6, y: top + 10, "text-anchor": "end", class: "tick" });
  yLabel.textContent = integer(peak);
  target.append(yLabel);
  const zero = svg("text", { x: left - 6, y: top + plotH, "text-anchor": "end", class: "tick" });
  zero.textContent = "0";
  target.append(zero);
  // The newest window at the right edge, older ones to its left.
  const slot = plotW / max, x0 = left + (max - shown.length) * slot;
  shown.forEach((p, i) => {
    const v = p[field], hgt = (v / peak) * plotH;
    const bar = svg("rect", { x: x0 + i * slot + 1, y: top + plotH - hgt, width: Math.max(1, slot - 2),
                              height: hgt, class: p.final ? "bar final" : "bar open" });
    const tip = svg("title", {});
    tip.textContent = `${time(p.start)} UTC: ${integer(v)} ${field}${p.final ? "" : " (window still open)"}`;
    bar.append(tip);
    target.append(bar);
  });
  // Start times of the oldest and newest windows shown, when they do not overlap.
  const ticks = [[shown.length - 1, W - 4, "end"]];
  if (shown.length > 1 && (shown.length - 1) * slot > 130) ticks.push([0, x0, "start"]);
  for (const [i, x, anchor] of shown.length ? ticks : []) {
    const t = svg("text", { x, y: H - 6, "text-anchor": anchor, class: "tick" });
    t.textContent = time(shown[i].start);
    target.append(t);
  }
  const total = shown.reduce((s, p) => s + p[field], 0);
  target.setAttribute("aria-label", `${label}: ${shown.length} windows, ${integer(total)} ${field} in all, ` +
                      `peak ${integer(peak)}`);
}
