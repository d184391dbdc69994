// The web client's journey in headless Chromium (Debian's), driven by
// playwright-core: run by xtask/tests/api/browser.rs against the test
// stack. Every step leaves a screenshot in SCREENSHOTS; the first check
// that fails ends the run with its reason and a non-zero status.
//
// Environment: API_URL (the stack's API, its CORS front), S3_URL (the
// buckets' CORS front), PLAYWRIGHT_CORE (the installed package's folder),
// CHROMIUM, SCREENSHOTS.

import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};
const API = env("API_URL");
const S3 = env("S3_URL");
const SHOTS = env("SCREENSHOTS");
const { chromium } = await import(pathToFileURL(path.join(env("PLAYWRIGHT_CORE"), "index.mjs")).href);

const TIMEOUT = 60_000;
const ARGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

fs.mkdirSync(SHOTS, { recursive: true });
let step = 0;
async function shot(page, name) {
  step += 1;
  const file = path.join(SHOTS, `${String(step).padStart(2, "0")}-${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  console.log(`step ${step}: ${name} (${file})`);
}
function check(condition, what) {
  if (!condition) throw new Error(`check failed: ${what}`);
}

// A browser of its own, with a new empty profile, per "device".
const profiles = [];
async function device() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "browser-test-"));
  profiles.push(dir);
  const context = await chromium.launchPersistentContext(dir, {
    executablePath: env("CHROMIUM"),
    headless: true,
    args: ARGS,
    viewport: { width: 1280, height: 1000 },
  });
  context.setDefaultTimeout(TIMEOUT);
  return context;
}

async function openClient(context) {
  const page = context.pages()[0] && context.pages()[0].url() === "about:blank" ? context.pages()[0] : await context.newPage();
  const errors = [];
  page.on("pageerror", (error) => errors.push(error.message));
  page.on("console", (message) => message.type() === "error" && errors.push(message.text()));
  page.errors = errors;
  await page.goto(`${API}/app/index.html`);
  await page.waitForSelector("body[data-ready=true]");
  return page;
}

const loggedIn = (page) => page.waitForSelector("#who[data-state=in]");
const loggedOut = (page) => page.waitForSelector("#who[data-state=out]");

// A page on another origin, and what its requests to the API and the bucket got.
function foreignSite() {
  const page = `<!doctype html><title>another site</title><h1>Another site</h1><pre id="out"></pre>
<script type="module">
const out = document.getElementById("out");
const results = {};
async function attempt(name, run) {
  try { results[name] = "allowed: " + (await run()); } catch (error) { results[name] = "refused: " + error.message; }
  out.textContent = JSON.stringify(results, null, 2);
}
await attempt("refresh with the cookie", async () => (await fetch(${JSON.stringify(API)} + "/auth/refresh", { method: "POST", credentials: "include" })).status);
await attempt("GET /health", async () => (await fetch(${JSON.stringify(API)} + "/health")).status);
await attempt("PUT to the bucket", async () => (await fetch(${JSON.stringify(S3)} + "/any/key", { method: "PUT", headers: { "content-type": "text/plain" }, body: "x" })).status);
document.body.dataset.done = "true";
window.results = results;
</script>`;
  const server = http.createServer((_, response) => {
    response.setHeader("content-type", "text/html");
    response.end(page);
  });
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(server)));
}

const contexts = [];
let foreign = null;
try {
  const laptop = await device();
  contexts.push(laptop);

  // 1. The client opens, logged out.
  const tab1 = await openClient(laptop);
  await loggedOut(tab1);
  await tab1.waitForSelector("#products li[data-sku]");
  await shot(tab1, "opened-logged-out-with-the-catalog");

  // 2. Register, then the login that follows.
  const email = `browser-${Date.now()}-${Math.floor(Math.random() * 1e6)}@example.com`;
  const password = "correct horse battery staple";
  await tab1.fill("#register-form [name=name]", "Ada Browser");
  await tab1.fill("#register-form [name=email]", email);
  await tab1.fill("#register-form [name=password]", password);
  const loginAnswer = tab1.waitForResponse((r) => r.url().endsWith("/auth/login"));
  await tab1.click("#register-form button[type=submit]");
  const login = await loginAnswer;
  await loggedIn(tab1);
  const loginBody = await login.json();
  check(login.status() === 200, `login answered ${login.status()}`);
  check(!("refresh_token" in loginBody), "the login body leaves the refresh token out (Prefer: refresh-token=cookie)");
  check(login.headers()["preference-applied"] === "refresh-token=cookie", "Preference-Applied: refresh-token=cookie");
  await tab1.waitForSelector("#sessions li");
  await shot(tab1, "registered-and-logged-in");

  // 3. The refresh cookie, as the browser stores it.
  const cookies = await laptop.cookies(API);
  const refresh = cookies.find((c) => c.name === "__Host-refresh_token");
  check(refresh, `the browser keeps __Host-refresh_token (it has ${cookies.map((c) => c.name).join(", ") || "no cookie"})`);
  check(refresh.httpOnly === true, "the refresh cookie is HttpOnly");
  check(refresh.secure === true, "the refresh cookie is Secure");
  check(refresh.sameSite === "Strict", `the refresh cookie is SameSite=Strict (it is ${refresh.sameSite})`);
  check(refresh.path === "/", "the refresh cookie's path is /");
  check(!refresh.domain.startsWith("."), "the refresh cookie has no Domain (host-only)");
  check(!(await tab1.evaluate(() => document.cookie)).includes("refresh"), "no script reads the refresh cookie");
  check(
    !(await tab1.evaluate(() => JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage }))).includes("ey"),
    "no token in localStorage or sessionStorage",
  );
  await shot(tab1, "refresh-cookie-httponly-secure-strict");

  // 4. A reload stays logged in (the cookie refreshes).
  await tab1.reload();
  await tab1.waitForSelector("body[data-ready=true]");
  await loggedIn(tab1);
  await shot(tab1, "reloaded-still-logged-in");

  // 5. A second tab: logged in too, and the two tabs' refreshes never race.
  const tab2 = await openClient(laptop);
  await loggedIn(tab2);
  await Promise.all([tab1.reload(), tab2.reload()]);
  await Promise.all([tab1.waitForSelector("body[data-ready=true]"), tab2.waitForSelector("body[data-ready=true]")]);
  await Promise.all([loggedIn(tab1), loggedIn(tab2)]);
  await shot(tab2, "second-tab-logged-in-after-both-reloaded-at-once");

  // 6. Another device: its session is listed, and revoked from here.
  const phone = await device();
  contexts.push(phone);
  const phoneTab = await openClient(phone);
  await phoneTab.fill("#login-form [name=email]", email);
  await phoneTab.fill("#login-form [name=password]", password);
  await phoneTab.click("#login-form button[type=submit]");
  await loggedIn(phoneTab);
  await tab1.reload();
  await tab1.waitForSelector("body[data-ready=true]");
  await tab1.waitForFunction(() => document.querySelectorAll("#sessions li").length === 2);
  await shot(tab1, "two-devices-listed");
  await tab1.click("#sessions li[data-current=false] button.revoke");
  await tab1.waitForFunction(() => document.querySelectorAll("#sessions li").length === 1);
  await phoneTab.click("#cart-reload");
  await loggedOut(phoneTab);
  await shot(phoneTab, "revoked-device-logged-out");

  // 7. The cart: tab 2 read it before tab 1 changed it; its write is refused
  // (412), the user is told why, and the current cart is shown.
  await tab2.reload();
  await tab2.waitForSelector("body[data-ready=true]");
  await loggedIn(tab2);
  await tab1.click("#products li:nth-child(1) button.add");
  await tab1.waitForSelector("#cart-lines li");
  await tab2.click("#products li:nth-child(2) button.add");
  await tab2.waitForSelector("#cart-conflict:not([hidden])");
  const conflict = await tab2.textContent("#cart-conflict");
  check(conflict.includes("412"), `the conflict names the 412: ${conflict}`);
  await tab2.waitForFunction(() => document.querySelectorAll("#cart-lines li").length === 1);
  await shot(tab2, "cart-412-explained");

  // 8. An upload straight to S3, with progress, until the service confirms it.
  await tab1.setInputFiles("#upload-form [name=file]", {
    name: "notes.txt",
    mimeType: "text/plain",
    buffer: Buffer.from("a file from the browser\n".repeat(2000)),
  });
  await tab1.click("#upload-form button[type=submit]");
  await tab1.waitForSelector("#upload-list li .status, #upload-problem:not([hidden])");
  check(await tab1.isHidden("#upload-problem"), `the upload went through: ${await tab1.textContent("#upload-problem")}`);
  check(Number(await tab1.getAttribute("#upload-progress", "value")) === 100, "the progress bar reached 100");
  await shot(tab1, "upload-sent-pending");
  await tab1.waitForSelector("#upload-list li .status[data-status=ready]");
  await shot(tab1, "upload-ready");

  // 9. A type the service does not take: refused, and the user told so.
  await tab1.setInputFiles("#upload-form [name=file]", {
    name: "tool.exe",
    mimeType: "application/x-msdownload",
    buffer: Buffer.from("MZ"),
  });
  await tab1.click("#upload-form button[type=submit]");
  await tab1.waitForSelector("#upload-problem:not([hidden])");
  const refusal = await tab1.textContent("#upload-problem");
  check(/refused/i.test(refusal) && /HTTP 4\d\d/.test(refusal), `the refused upload is explained: ${refusal}`);
  await shot(tab1, "upload-of-a-refused-type");

  // 10. An export job, live until it succeeded, and its download.
  await tab1.click("#export");
  await tab1.waitForSelector("#job-list li .status[data-status=succeeded]");
  const download = await tab1.getAttribute("#job-list li a.download", "href");
  const exported = await laptop.request.get(download);
  check(exported.ok(), `the export downloads (HTTP ${exported.status()})`);
  check((await exported.text()).includes(email), "the export holds the account");
  await shot(tab1, "export-succeeded-with-its-download");

  // 11. Logout in one tab is seen by the other at once.
  await tab1.click("#logout");
  await loggedOut(tab1);
  await loggedOut(tab2);
  check((await tab2.textContent("#notice")).includes("another tab"), "tab 2 says why it is logged out");
  check(!(await laptop.cookies(API)).some((c) => c.name === "__Host-refresh_token" && c.value), "the logout removed the cookie");
  await shot(tab2, "logged-out-in-the-other-tab");

  // 12. A page of another origin: CORS refuses it the API and the bucket.
  foreign = await foreignSite();
  const foreignTab = await laptop.newPage();
  await foreignTab.goto(`http://127.0.0.1:${foreign.address().port}/`);
  await foreignTab.waitForSelector("body[data-done=true]");
  const results = await foreignTab.evaluate(() => window.results);
  for (const [what, result] of Object.entries(results)) {
    check(result.startsWith("refused"), `another origin's ${what} is refused by CORS (${result})`);
  }
  await shot(foreignTab, "another-origin-refused-by-cors");

  for (const page of [tab1, tab2]) {
    check(page.errors.every((e) => !/Content Security Policy/i.test(e)), `no CSP violation: ${page.errors.join("; ")}`);
  }
  console.log(`the journey passed: ${step} steps`);
} catch (error) {
  console.error(`the journey failed at step ${step + 1}: ${error.message}`);
  for (const context of contexts) {
    for (const page of context.pages()) {
      if (page.errors && page.errors.length) console.error(`page errors: ${page.errors.join("; ")}`);
      await page.screenshot({ path: path.join(SHOTS, `failed-${step + 1}-${contexts.indexOf(context)}.png`), fullPage: true }).catch(() => undefined);
    }
  }
  process.exitCode = 1;
} finally {
  for (const context of contexts) await context.close().catch(() => undefined);
  if (foreign) foreign.close();
  for (const dir of profiles) fs.rmSync(dir, { recursive: true, force: true });
}
