// Shared by the dashboard (/) and the operator page (/ops): the token kept in
// sessionStorage, API calls with it, and small DOM helpers. No framework,
// nothing fetched from elsewhere; text is always set as text, never as HTML.

// The claims of a JWT (its payload), or null when it is not one. Only read to
// show who is signed in and choose what to load: the server verifies tokens.
export function claimsOf(token) {
  const parts = token.split(".");
  if (parts.length !== 3) return null;
  try {
    const b64 = parts[1].replace(/-/g, "+").replace(/_/g, "/");
    const json = atob(b64 + "===".slice((b64.length + 3) % 4));
    const claims = JSON.parse(json);
    return claims && typeof claims === "object" ? claims : null;
  } catch {
    return null;
  }
}

export const session = {
  get: (key) => sessionStorage.getItem(key) || "",
  set: (key, value) => sessionStorage.setItem(key, value),
  clear: (key) => sessionStorage.removeItem(key),
};

// GET (or POST with a JSON body) on this server's API. Resolves to
// {ok, status, body, message}: message is the API's error text with its code.
export async function api(path, token, { method = "GET", json } = {}) {
  const headers = {};
  if (token) headers.Authorization = "Bearer " + token;
  if (json !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(path, { method, headers, body: json === undefined ? undefined : JSON.stringify(json),
                                   cache: "no-store" });
  } catch (e) {
    return { ok: false, status: 0, body: null, message: "the server cannot be reached (" + e.message + ")" };
  }
  const text = await response.text();
  let body = text;
  if ((response.headers.get("Content-Type") || "").startsWith("application/json")) {
    try { body = JSON.parse(text); } catch { body = null; }
  }
  let message = "";
  if (!response.ok) {
    const err = body && body.error;
    message = err ? `${response.status} ${err.code}: ${err.message}` : `${response.status} ${response.statusText}`;
  }
  return { ok: response.ok, status: response.status, body, message };
}

// document.getElementById, failing loudly on a missing id.
export function $(id) {
  const el = document.getElementById(id);
  if (!el) throw new Error("no element #" + id);
  return el;
}

// A new element with attributes and children (strings become text nodes).
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") el.className = v;
    else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v);
  }
  for (const c of children) el.append(c);
  return el;
}

export const integer = (n) => (n === null || n === undefined ? "–" : Number(n).toLocaleString("en-US"));

// 5400 → "5.4 s", 7200000 → "2 h 0 min".
export function duration(ms) {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return "–";
  const s = ms / 1000;
  if (Math.abs(s) < 60) return s.toFixed(s < 10 ? 1 : 0) + " s";
  if (Math.abs(s) < 3600) return Math.floor(s / 60) + " min " + Math.round(s % 60) + " s";
  return Math.floor(s / 3600) + " h " + Math.round((s % 3600) / 60) + " min";
}

// Runs fn every `ms`, never two at once (a slow answer delays the next).
export function every(ms, fn) {
  let timer = null, stopped = false;
  const tick = async () => {
    try { await fn(); } finally { if (!stopped) timer = setTimeout(tick, ms); }
  };
  tick();
  return () => { stopped = true; clearTimeout(timer); };
}

// The sign-in form both pages share: a pasted token kept in sessionStorage
// under `key`. onSignedIn(token, claims) runs on sign-in and on a reload.
export function setUpSignIn({ key, onSignedIn, onSignedOut }) {
  const form = $("token-form"), input = $("token"), error = $("signin-error");
  const signIn = (token) => {
    token = token.trim();
    const claims = claimsOf(token);
    if (!claims) {
      error.textContent = "That is not a JWT (three base64url parts separated by dots).";
      return;
    }
    error.textContent = "";
    session.set(key, token);
    input.value = "";
    onSignedIn(token, claims);
  };
  form.addEventListener("submit", (e) => { e.preventDefault(); signIn(input.value); });
  $("signout").addEventListener("click", () => {
    session.clear(key);
    onSignedOut();
    input.focus();
  });
  const saved = session.get(key);
  if (saved) signIn(saved);
  return { signIn, showError: (message) => { error.textContent = message; } };
}
