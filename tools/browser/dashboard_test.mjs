// Drives Debian's headless Chromium through the dashboard pages of a running
// `watershed serve` (tests/dashboard_e2e.sh starts it and the load). Every
// check throws on failure; screenshots go to $ARTIFACTS.
// env: DASHBOARD_URL, ADMIN_TOKEN, STORIES, AUTHORS, ARTIFACTS, CHROMIUM

import puppeteer from "puppeteer-core";
import path from "node:path";

const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
};
const base = env("DASHBOARD_URL"), artifacts = env("ARTIFACTS");
const authors = BigInt(env("AUTHORS")), stories = Number(env("STORIES"));
// The workload's author of a story (src/workload/generator.cc AuthorOfStory).
const authorOf = (story) => 1n + ((BigInt(story) * 2654435761n) % authors);
const creator = authorOf(1);  // story 1 is the workload's most viewed (Zipf)
let foreign = 0;
for (let s = 1; s <= stories && !foreign; s++) if (authorOf(s) !== creator) foreign = s;

function check(ok, message) {
  if (!ok) throw new Error(message);
  console.log("ok: " + message);
}
const shot = async (page, name) => {
  const file = path.join(artifacts, name);
  await page.screenshot({ path: file, fullPage: true });
  console.log("screenshot: " + file);
};
const text = (page, selector) => page.$eval(selector, (el) => el.textContent.trim());
const number = (s) => Number(s.replace(/[^0-9]/g, ""));
// True when the page does not scroll sideways; else prints what sticks out.
async function noSideScroll(page) {
  const wide = await page.evaluate(() => {
    const width = document.documentElement.clientWidth;
    if (document.documentElement.scrollWidth <= width) return [];
    return [...document.querySelectorAll("body *")]
      .filter((el) => el.getBoundingClientRect().right > width + 0.5 && !el.closest(".table-wrap *"))
      .slice(0, 8).map((el) => `${el.tagName.toLowerCase()}#${el.id}.${el.className} right=${el.getBoundingClientRect().right}`);
  });
  if (wide.length) console.log("wider than the page: " + wide.join("; "));
  return wide.length === 0;
}

const browser = await puppeteer.launch({
  executablePath: env("CHROMIUM"),
  headless: true,
  args: ["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"],
});
const problems = [];
try {
  const page = await browser.newPage();
  page.on("pageerror", (e) => problems.push("page error: " + e.message));
  page.on("console", (m) => {
    // The story 403 and the history 404 are expected answers, logged by Chromium as failed loads.
    if (m.type() === "error" && !/status of (403|404)/.test(m.text())) problems.push("console: " + m.text());
  });
  await page.setViewport({ width: 1280, height: 900 });

  const res = await page.goto(base + "/", { waitUntil: "load" });
  check(res.status() === 200, "GET / answers 200");
  const csp = res.headers()["content-security-policy"] || "";
  check(csp.includes("script-src 'self'") && !csp.includes("unsafe"), "/ has a strict Content-Security-Policy");
  check(res.headers()["x-content-type-options"] === "nosniff", "/ has X-Content-Type-Options: nosniff");

  // Every form control has a label; the keyboard reaches the sign-in controls in order.
  const unlabeled = await page.$$eval("input, select, textarea", (els) => els.filter((e) => !e.labels.length).length);
  check(unlabeled === 0, "every input, select and textarea has a label");
  const order = [];
  for (let i = 0; i < 6; i++) {
    await page.keyboard.press("Tab");
    order.push(await page.evaluate(() => document.activeElement.id || document.activeElement.textContent.trim()));
  }
  check(order.indexOf("token") < order.indexOf("mint-creator"), `Tab order reaches the token then the creator id (${order})`);

  // Sign in with the development server's mint button, by keyboard.
  await page.focus("#mint-creator");
  await page.keyboard.type(String(creator));
  await page.keyboard.press("Enter");
  await page.waitForSelector("#session:not([hidden])", { timeout: 10000 });
  check((await text(page, "#who")).includes(`user ${creator}`), `signed in as creator ${creator} with a minted token`);

  await page.waitForSelector("#stories-table tbody tr", { timeout: 20000 });
  const first = await page.$eval("#stories-table tbody tr button.open-story", (b) => b.dataset.story);
  check(authorOf(first) === creator, `the creator's top list shows their own story ${first} first`);
  await page.click(`button.open-story[data-story="${first}"]`);
  await page.waitForFunction(() => /^[0-9,]+$/.test(document.getElementById("c-views").textContent.trim()),
                             { timeout: 10000 });
  const before = number(await text(page, "#c-views"));
  await page.waitForFunction((b) => {
    const t = document.getElementById("c-views").textContent.trim();
    return /^[0-9,]+$/.test(t) && Number(t.replace(/,/g, "")) > b;
  }, { timeout: 20000, polling: 200 }, before).catch(() => {});
  const after = number(await text(page, "#c-views"));
  check(after > before, `story ${first}'s views went from ${before} to ${after} while the load ran`);
  await page.waitForSelector("#chart-5s rect.bar", { timeout: 10000 });
  check((await page.$$("#chart-5s rect.bar")).length > 0, "the 5 s chart has bars");
  await page.waitForFunction(() => document.getElementById("history-note").textContent.length > 0, { timeout: 10000 });
  // A server without GET /v1/stories/{id}/history (404 not_found) says so; one with it shows the sums.
  const history = await text(page, "#history-note");
  check(/no history endpoint|Views in the last 7 days/.test(history), `the history panel: "${history}"`);
  await shot(page, "dashboard.png");

  // Another creator's story: the API's 403 message is shown.
  await page.$eval("#open-id", (el) => { el.value = ""; });
  await page.focus("#open-id");
  await page.keyboard.type(String(foreign));
  await page.keyboard.press("Enter");
  await page.waitForFunction(() => document.getElementById("story-error").textContent.includes("403"),
                             { timeout: 10000 }).catch(() => {});
  const denied = await text(page, "#story-error");
  check(denied.includes("403 not_story_author") && denied.includes("a creator reads only the stories they authored"),
        `story ${foreign} of another creator shows the API's 403: "${denied}"`);
  check(await page.$eval("#story-panel", (el) => el.hidden), "no numbers are shown for that story");
  await shot(page, "dashboard-403.png");

  // 375 px wide: no horizontal scroll.
  await page.click(`button.open-story[data-story="${first}"]`);
  await page.setViewport({ width: 375, height: 800 });
  await new Promise((r) => setTimeout(r, 1500));
  check(await noSideScroll(page), "the dashboard at 375 px has no horizontal scroll");
  await shot(page, "dashboard-375.png");

  // The operator page with an admin token.
  const ops = await browser.newPage();
  ops.on("pageerror", (e) => problems.push("ops page error: " + e.message));
  await ops.setViewport({ width: 1280, height: 900 });
  await ops.goto(base + "/ops", { waitUntil: "load" });
  await ops.type("#token", env("ADMIN_TOKEN"));
  await ops.click("#token-form button[type=submit]");
  await ops.waitForFunction(() => document.querySelectorAll("#partitions-table tbody tr").length >= 6,
                            { timeout: 15000 });
  const partitions = await ops.$$eval("#partitions-table tbody th", (ths) => ths.map((t) => t.textContent));
  check(["us / 0", "eu / 1", "apac / 1"].every((p) => partitions.includes(p)),
        `/ops lists every region's partitions (${partitions.join(", ")})`);
  // Rates need two scrapes (2 s apart).
  await ops.waitForFunction(() => /\/s/.test(document.getElementById("o-ingest").textContent), { timeout: 15000 });
  check(number(await text(ops, "#o-ingest")) > 0, `/ops shows the ingest rate: ${await text(ops, "#o-ingest")}`);
  const regions = await ops.$$eval("#regions-table tbody tr", (rows) => rows.length);
  check(regions === 3, "/ops shows lag, checkpoint and lake commit age for the 3 regions");
  const routes = await ops.$$eval("#latency-table tbody th", (ths) => ths.map((t) => t.textContent));
  check(routes.includes("ingest"), `/ops shows request latency percentiles by route (${routes.join(", ")})`);
  const codes = await ops.$$eval("#codes-table tbody th", (ths) => ths.map((t) => t.textContent));
  check(codes.includes("event rejected: invalid_event_id") && codes.includes("HTTP 200"),
        `/ops shows responses and rejected events by code (${codes.join(", ")})`);
  console.log("freshness p50 / p99: " + (await text(ops, "#o-fresh")));
  await shot(ops, "ops.png");
  await ops.setViewport({ width: 375, height: 800 });
  await new Promise((r) => setTimeout(r, 500));
  check(await noSideScroll(ops), "the operator page at 375 px has no horizontal scroll");
  await shot(ops, "ops-375.png");

  check(problems.length === 0, "no script errors or CSP violations" + (problems.length ? ": " + problems.join("; ") : ""));
} finally {
  await browser.close();
}
