// The creator dashboard (/): sign in with a token, the creator's stories with
// live counters (polled every second), one story's 5 s and 1 min charts and
// its history when the server has GET /v1/stories/{id}/history.

import { $, api, duration, every, h, integer, setUpSignIn } from "./common.js";
import { drawBars } from "./chart.js";

const TOKEN_KEY = "watershed.dashboard.token";
let token = "";
let creator = null;  // the token's sub
let story = null;    // the story open in the panel
let stopPolling = null;
let ticks = 0;

const sections = ["session", "stories", "story"];

function roleList(claims) { return Array.isArray(claims.roles) ? claims.roles : []; }

function signedIn(t, claims) {
  token = t;
  creator = String(claims.sub);
  const roles = roleList(claims);
  $("who").textContent = `user ${creator} (${roles.join(", ") || "no roles"})`;
  $("signin").hidden = true;
  for (const id of sections) $(id).hidden = false;
  $("overall").hidden = !roles.some((r) => r === "analyst" || r === "admin");
  $("poll-error").textContent = "";
  if (stopPolling) stopPolling();
  ticks = 0;
  stopPolling = every(1000, poll);
  $("open-id").focus();
}

function signedOut(message = "") {
  if (stopPolling) stopPolling();
  stopPolling = null;
  token = "";
  creator = null;
  story = null;
  for (const id of sections) $(id).hidden = true;
  $("overall").hidden = true;
  $("story-panel").hidden = true;
  $("signin").hidden = false;
  $("signin-error").textContent = message;
}

const signIn = setUpSignIn({ key: TOKEN_KEY, onSignedIn: signedIn, onSignedOut: () => signedOut() });

// The development server's mint button (POST /v1/dev/token, dev-token-mint = on).
$("mint-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const id = $("mint-creator").value.trim();
  const r = await api("/v1/dev/token", "", { method: "POST", json: { creator: Number(id) } });
  if (r.ok && r.body && r.body.token) return signIn.signIn(r.body.token);
  if (r.status === 404 && (await api("/v1/status", "")).ok) {
    // A server with auth = off answers without a token: read as that creator (for this page view only).
    signIn.showError("");
    return signedIn("", { sub: id, roles: ["auth off"] });
  }
  signIn.showError(r.status === 404
    ? "This server does not mint tokens (its dev-token-mint is off): paste a token, e.g. from `watershed token`."
    : "Minting failed: " + r.message);
});

// A refused token ends the session; other errors are shown and retried.
function failed(r) {
  if (r.status === 401) {
    signIn.showError("");
    signedOut("Your token was refused: " + r.message);
    sessionStorage.removeItem(TOKEN_KEY);
    return true;
  }
  $("poll-error").textContent = r.message;
  return false;
}

function cell(text) { return h("td", {}, text); }

async function loadTop() {
  const by = $("rank-by").value;
  const r = await api(`/v1/creators/${encodeURIComponent(creator)}/top?by=${by}&limit=20`, token);
  if (!r.ok) return failed(r);
  const rows = r.body.stories.map((s) => h("tr", {},
    h("th", { scope: "row" }, String(s.story_id)), cell(integer(s.views)), cell(integer(s.unique_viewers)),
    cell(duration(s.watch_time_ms)), cell(integer(s.shares)), cell(integer(s.replies)),
    h("td", {}, h("button", { type: "button", class: "open-story", "data-story": String(s.story_id),
                              "aria-label": `Open story ${s.story_id}`, onclick: () => openStory(s.story_id) },
                  "Open"))));
  $("stories-table").tBodies[0].replaceChildren(...rows);
  $("stories-empty").hidden = rows.length > 0;
  $("stories-updated").textContent = "updated " + new Date().toLocaleTimeString();
  $("poll-error").textContent = "";
}

async function loadOverall() {
  const r = await api("/v1/top?by=views&limit=10", token);
  if (!r.ok) return;
  $("overall-table").tBodies[0].replaceChildren(...r.body.stories.map((s) => h("tr", {},
    h("th", { scope: "row" }, String(s.story_id)), cell(s.author_id === null ? "–" : String(s.author_id)),
    cell(integer(s.views)), cell(integer(s.unique_viewers)), cell(integer(s.shares)))));
}

async function loadStory(id) {
  const r = await api(`/v1/stories/${id}/metrics`, token);
  if (id !== story) return;  // another story was opened meanwhile
  if (!r.ok) {
    if (r.status === 401) return failed(r);
    $("story-error").textContent = r.message;
    $("story-panel").hidden = true;
    story = null;
    return;
  }
  const m = r.body;
  $("story-error").textContent = "";
  $("c-views").textContent = integer(m.views);
  $("c-unique").textContent = integer(m.unique_viewers);
  $("c-watch").textContent = duration(m.watch_time_ms);
  $("c-shares").textContent = integer(m.shares);
  $("c-replies").textContent = integer(m.replies);
  $("story-panel").hidden = false;
}

async function loadSeries(id, window, target, max) {
  const r = await api(`/v1/stories/${id}/series?window=${window}`, token);
  if (id !== story || !r.ok) return;
  drawBars($(target), r.body.points, "views", { max, label: `Views per ${window} window` });
}

// GET /v1/stories/{id}/history is not on every server: a 404 not_found (no
// such endpoint) says so, anything else is the endpoint's answer.
async function loadHistory(id) {
  const table = $("history-table"), note = $("history-note");
  const from = new Date(Date.now() - 30 * 86400000).toISOString().slice(0, 10);
  const r = await api(`/v1/stories/${id}/history?granularity=day&from=${from}`, token);
  if (id !== story) return;
  if (r.status === 404 && r.body && r.body.error && r.body.error.code === "not_found") {
    table.hidden = true;
    note.textContent = "This server has no history endpoint (GET /v1/stories/{id}/history); " +
                       "the charts above cover the retained windows.";
    return;
  }
  if (!r.ok) {
    table.hidden = true;
    note.textContent = "History: " + r.message;
    return;
  }
  const points = r.body.points || [];
  const since = (days) => points.filter((p) => Date.parse(p.t) >= Date.now() - days * 86400000)
                                .reduce((s, p) => s + (p.views || 0), 0);
  note.textContent = `Views in the last 7 days: ${integer(since(7))}; last 30 days: ${integer(since(30))} ` +
                     "(closed minutes committed to the lake).";
  table.tBodies[0].replaceChildren(...points.map((p) => h("tr", {},
    h("th", { scope: "row" }, String(p.t).slice(0, 10)), cell(integer(p.views)), cell(duration(p.watch_time_ms)),
    cell(integer(p.shares)), cell(integer(p.replies)))));
  table.hidden = points.length === 0;
}

function openStory(id) {
  story = Number(id);
  $("story-id").textContent = String(story);
  $("open-id").value = String(story);
  for (const c of ["c-views", "c-unique", "c-watch", "c-shares", "c-replies"]) $(c).textContent = "…";
  $("chart-5s").replaceChildren();
  $("chart-1m").replaceChildren();
  $("history-note").textContent = "";
  $("history-table").hidden = true;
  loadStory(story);
  loadSeries(story, "5s", "chart-5s", 60);
  loadSeries(story, "1m", "chart-1m", 60);
  loadHistory(story);
}

$("open-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const id = $("open-id").value.trim();
  if (!/^[1-9][0-9]*$/.test(id)) {
    $("story-error").textContent = "A story id is a positive integer.";
    return;
  }
  openStory(id);
});
$("rank-by").addEventListener("change", () => loadTop());

async function poll() {
  if (creator === null) return;
  ticks++;
  const work = [loadTop()];
  if (story !== null) {
    work.push(loadStory(story), loadSeries(story, "5s", "chart-5s", 60));
    if (ticks % 5 === 0) work.push(loadSeries(story, "1m", "chart-1m", 60));
  }
  if (!$("overall").hidden && ticks % 5 === 1) work.push(loadOverall());
  await Promise.all(work);
}
