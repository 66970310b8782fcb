// The gateway's web page in a real browser (Debian's headless Chromium, driven by
// playwright-core). Started by run.sh, which starts two gateways and sets:
//   ONCELINK_WEB_URL, ONCELINK_WEB_TOKEN                the default gateway's page and API token
//   ONCELINK_WEB_INLINE_URL, ONCELINK_WEB_INLINE_TOKEN  one started with --inline-active-content true
//   ONCELINK_WEB_TLS_URL, ONCELINK_WEB_TLS_TOKEN        one serving TLS (self-signed, 127.0.0.1)
//   ONCELINK_WEB_STDOUT, ONCELINK_WEB_LOG               the default gateway's stdout and log
// The tests run in order: the first logs in, the last logs out.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";

const pageUrl = process.env.ONCELINK_WEB_URL;
const token = process.env.ONCELINK_WEB_TOKEN;
const inlinePageUrl = process.env.ONCELINK_WEB_INLINE_URL;
const inlineToken = process.env.ONCELINK_WEB_INLINE_TOKEN;
const tlsPageUrl = process.env.ONCELINK_WEB_TLS_URL;
const tlsToken = process.env.ONCELINK_WEB_TLS_TOKEN;
assert.ok(tlsPageUrl?.startsWith("https://") && tlsToken, `the TLS gateway's page, https: ${tlsPageUrl}`);
for (const url of [pageUrl, inlinePageUrl, tlsPageUrl]) {
  assert.ok(url && url.endsWith("/_oncelink/") && !url.includes("#"), `a plain page URL as printed by oncelink serve: ${url}`);
}
assert.ok(token && inlineToken, "the API tokens from the data dirs");
const origin = new URL(pageUrl).origin;
const inlineOrigin = new URL(inlinePageUrl).origin;

const profiles = [];
async function browser(options = {}) {
  const profile = mkdtempSync(join(tmpdir(), "oncelink-chromium-"));
  profiles.push(profile);
  return chromium.launchPersistentContext(profile, {
    ...options,
    executablePath: "/usr/bin/chromium",
    headless: true,
    acceptDownloads: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
      "--disable-component-update", "--disable-sync"],
  });
}

// One browser per gateway: cookies are per host, not per port, so two gateways on 127.0.0.1
// would share (and overwrite) one session cookie in one browser.
let context;
let inlineContext;

before(async () => {
  context = await browser();
  inlineContext = await browser();
  await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin });
});

after(async () => {
  await context?.close();
  await inlineContext?.close();
  for (const profile of profiles) rmSync(profile, { recursive: true, force: true });
});

// ~3 MB so that the upload reports progress on the way.
const content = Buffer.alloc(3 * 1024 * 1024, "oncelink web test\n");

async function upload(page, name, uses, tag = "") {
  await page.locator("#file").setInputFiles({ name, mimeType: "text/plain", buffer: content });
  await page.locator("#uses").fill(String(uses));
  await page.locator("#tag").fill(tag);
  await page.locator("#upload").click();
  await page.locator("#result").waitFor({ state: "visible", timeout: 30_000 });
  return (await page.locator("#result-url").textContent()).trim();
}

async function logIn(page, url, apiToken) {
  await page.goto(url);
  await page.locator("#login").waitFor({ state: "visible" });
  assert.ok(await page.locator("#app").isHidden(), "nothing but the login form before logging in");
  await page.locator("#token-input").fill(apiToken);
  await page.locator("#login-button").click();
  await page.locator("#app").waitFor({ state: "visible" });
}

/// The API token is in no storage a script could read, and the session cookie is not visible to
/// script either.
async function assertNothingReadable(page, secret) {
  const seen = await page.evaluate(() => {
    const dump = (s) => Array.from({ length: s.length }, (_, i) => [s.key(i), s.getItem(s.key(i))]);
    return { local: dump(localStorage), session: dump(sessionStorage), cookie: document.cookie, url: location.href };
  });
  for (const [key, value] of [...seen.local, ...seen.session]) {
    assert.ok(!key.includes(secret) && !String(value).includes(secret), `the API token is in web storage under ${key}`);
  }
  assert.ok(!seen.cookie.includes("oncelink_session") && !seen.cookie.includes(secret), `document.cookie shows ${seen.cookie}`);
  assert.ok(!seen.url.includes(secret), "the API token is in the URL");
}

// The browser's session cookie for a gateway (Path=/_oncelink/: asked for a URL under it).
async function sessionCookie(ctx, gatewayOrigin) {
  return (await ctx.cookies(gatewayOrigin + "/_oncelink/")).find((c) => c.name === "oncelink_session");
}

// The gateway's own API, as a script (not the browser) calls it.
async function issue(base, apiToken, body) {
  const res = await fetch(base + "/_oncelink/links", {
    method: "POST", headers: { authorization: "Bearer " + apiToken, "content-type": "application/json" }, body: JSON.stringify(body),
  });
  assert.equal(res.status, 201, await res.clone().text());
  return res.json();
}

// The API answers the gateway has given so far, by code, from its Prometheus text.
async function apiAnswersByCode(base) {
  const text = await (await fetch(base + "/_oncelink/metrics")).text();
  const counts = {};
  for (const m of text.matchAll(/^oncelink_api_answers_total\{code="([a-z_]+)"\} (\d+)$/gm)) counts[m[1]] = Number(m[2]);
  return counts;
}

// All API answers so far (every code).
async function apiAnswers(base) {
  return Object.values(await apiAnswersByCode(base)).reduce((sum, n) => sum + n, 0);
}

const MARKER = "OBJECT SCRIPT RAN";
// An object that, if its script ran, would try to take the session and use the API.
const hostile = `<!doctype html><html><head><title>object</title></head><body>
<h1>an HTML object</h1>
<script>
document.title = ${JSON.stringify(MARKER)};
const loot = { cookie: document.cookie, storage: (() => { try { return JSON.stringify(localStorage); } catch (e) { return String(e); } })() };
fetch("/_oncelink/links", { method: "POST", credentials: "include", headers: { "content-type": "application/json" },
  body: JSON.stringify({ key: "stolen.txt", loot }) }).then((r) => { document.title = ${JSON.stringify(MARKER)} + " " + r.status; });
</script></body></html>`;

async function storeHostile(base, apiToken, key) {
  const put = await issue(base, apiToken, { key, method: "PUT" });
  const res = await fetch(put.url, { method: "PUT", headers: { "content-type": "text/html" }, body: hostile });
  assert.equal(res.status, 200, await res.text());
  return (await issue(base, apiToken, { key })).url;
}

test("log in, upload, copy the link, open it (200), open it again (403); no readable token", async () => {
  // The banner did not print the token (stdout is not a terminal), nor did the log.
  for (const file of [process.env.ONCELINK_WEB_STDOUT, process.env.ONCELINK_WEB_LOG]) {
    assert.ok(!readFileSync(file, "utf8").includes(token), `the API token is in ${file}`);
  }
  const page = await context.newPage();
  // A wrong token: an error, no cookie.
  await page.goto(pageUrl);
  await page.locator("#token-input").fill("not-the-token-not-the-token-0000");
  await page.locator("#login-button").click();
  await page.locator("#login-status", { hasText: "not the API token" }).waitFor();
  assert.equal(await sessionCookie(context, origin), undefined);

  await logIn(page, pageUrl, token);
  const cookie = await sessionCookie(context, origin);
  assert.ok(cookie, "a session cookie");
  assert.deepEqual([cookie.httpOnly, cookie.sameSite, cookie.path], [true, "Strict", "/_oncelink/"]);
  assert.ok(!cookie.value.includes(token));
  assert.equal(await page.locator("#token-input").inputValue(), "", "the form forgets the token");
  await assertNothingReadable(page, token);

  const link = await upload(page, "hello report.txt", 1);
  assert.ok(link.startsWith(origin + "/uploads/"), link);
  assert.equal(await page.locator("#progress").evaluate((p) => p.value), 100);
  assert.match(await page.locator("#status").textContent(), /Uploaded 3145728 bytes/);
  assert.ok(await page.locator("#result-expires").getAttribute("datetime"));

  await page.locator("#copy").click();
  await page.locator("#copied").waitFor({ state: "visible" });
  const copied = await page.evaluate(() => navigator.clipboard.readText());
  assert.equal(copied, link);

  // First open: 200, and the browser saves the file under its name, with the exact bytes.
  const first = await context.newPage();
  const responses = [];
  first.on("response", (r) => { if (r.url() === copied) responses.push(r.status()); });
  const [download] = await Promise.all([first.waitForEvent("download"), first.goto(copied).catch(() => {})]);
  assert.deepEqual(responses, [200]);
  assert.equal(download.suggestedFilename(), "hello report.txt");
  const saved = readFileSync(await download.path());
  assert.ok(saved.equals(content), "the downloaded file differs from the uploaded one");

  // Second open: 403, link already used.
  const second = await context.newPage();
  const answer = await second.goto(copied);
  assert.equal(answer.status(), 403);
  assert.match(await second.textContent("body"), /link_already_used/);

  // The list shows it as used (the state comes from GET /_oncelink/links/{id} with the cookie).
  await page.reload();
  const row = page.locator("#links tr").first();
  await row.locator(".state").filter({ hasText: "used" }).waitFor();
  assert.equal((await row.locator(".state").textContent()).trim(), "used");
  await assertNothingReadable(page, token);
  for (const p of [page, first, second]) await p.close();
});

test("revoke from the list (still logged in: the cookie, not storage)", async () => {
  const page = await context.newPage();
  await page.goto(pageUrl);
  await page.locator("#app").waitFor({ state: "visible" });
  const link = await upload(page, "second.txt", 3);
  const row = page.locator("#links tr").first();
  await row.locator(".state", { hasText: "unused" }).waitFor();
  await row.locator("button", { hasText: "Revoke" }).click();
  await page.locator("#links tr").first().locator(".state", { hasText: "revoked" }).waitFor();
  const opened = await context.newPage();
  const answer = await opened.goto(link);
  assert.equal(answer.status(), 403);
  assert.match(await opened.textContent("body"), /link_revoked/);
  await assertNothingReadable(page, token);
  for (const p of [page, opened]) await p.close();
});

// A link's status row, as the page shows it: the summary line and the trail's rows.
async function statusOf(details) {
  return {
    summary: (await details.locator(".summary").textContent()).trim(),
    trail: await details.locator(".trail-entry").evaluateAll((rows) => rows.map((r) => Object.fromEntries(
      ["at", "outcome", "network", "agent", "bytes"].map((c) => [c, r.querySelector("." + c).textContent.trim()])))),
  };
}

test("a tagged link's status on the page: its trail shows the use, then the refusal", async (t) => {
  const page = await context.newPage();
  // Script errors and CSP violations on the page (the browser's own favicon.ico request, a 403
  // from the gateway since it is no link, is not the page's doing).
  const problems = [];
  page.on("console", (m) => { if (m.type() === "error" && !m.text().startsWith("Failed to load resource")) problems.push(m.text()); });
  page.on("pageerror", (e) => problems.push(String(e)));
  await page.addInitScript(() => document.addEventListener("securitypolicyviolation", (e) => console.error("CSP: " + e.violatedDirective)));
  await page.goto(pageUrl);
  await page.locator("#app").waitFor({ state: "visible" });

  // A tag the API would refuse is refused before anything is uploaded.
  await page.locator("#file").setInputFiles({ name: "never.txt", mimeType: "text/plain", buffer: Buffer.from("x") });
  await page.locator("#tag").fill("not a tag");
  await page.locator("#upload").click();
  await page.locator("#status", { hasText: "A tag is 1 to 64 characters" }).waitFor();
  assert.ok(await page.locator("#result").isHidden());

  const link = await upload(page, "tagged.txt", 1, "order-1234");
  const id = await page.locator("#links > tr").first().getAttribute("data-link-id");
  assert.match(id, /^[A-Za-z0-9_-]{22}$/);
  const row = page.locator(`#links > tr:not(.details)[data-link-id="${id}"]`);
  const details = page.locator(`#links > tr.details[data-link-id="${id}"]`);
  assert.equal((await row.locator(".tag").textContent()).trim(), "order-1234");
  assert.equal(await details.count(), 0, "no status shown before it is asked for");

  const first = await context.newPage();
  const [download] = await Promise.all([first.waitForEvent("download"), first.goto(link).catch(() => {})]);
  assert.ok(readFileSync(await download.path()).equals(content), "the tagged link's file");

  await row.locator("button", { hasText: "Status" }).click();
  await details.locator(".trail-entry").first().waitFor();
  let shown = await statusOf(details);
  assert.match(shown.summary, /^Tag order-1234 · 1 of 1 used · not revoked · first used .+ · 0 resumes · 0 refused attempts$/);
  assert.deepEqual(shown.trail.map((e) => [e.outcome, e.network]), [["used", "127.0.0.0/24"]]);
  t.diagnostic(`the browser's User-Agent family: ${shown.trail[0].agent}`);
  assert.ok(["headless-chrome", "chrome"].includes(shown.trail[0].agent), shown.trail[0].agent);
  assert.ok(!JSON.stringify(shown).includes("127.0.0.1"), "an address on the page");

  // The second open is refused, and the status, asked again, shows the refusal after the use.
  const second = await context.newPage();
  assert.equal((await second.goto(link)).status(), 403);
  await row.locator("button", { hasText: "Status" }).click();
  await details.locator(".trail-entry .outcome", { hasText: "link_already_used" }).waitFor();
  shown = await statusOf(details);
  assert.deepEqual(shown.trail.map((e) => [e.outcome, e.network, e.bytes]),
    [["used", "127.0.0.0/24", String(content.length)], ["link_already_used", "127.0.0.0/24", "-"]]);
  assert.match(shown.summary, /· 1 refused attempt$/);
  assert.equal((await row.locator(".state").textContent()).trim(), "used");

  await details.locator("button", { hasText: "Hide" }).click();
  await details.waitFor({ state: "detached" });
  assert.deepEqual(problems, [], "script errors or CSP violations on the page");
  await assertNothingReadable(page, token);
  for (const p of [page, first, second]) await p.close();
});

test("an HTML object opened in the logged-in browser is a download, not a page", async () => {
  const link = await storeHostile(origin, token, "x/hostile.html");
  const before = await apiAnswers(origin);
  const page = await context.newPage();
  const [download] = await Promise.all([page.waitForEvent("download"), page.goto(link).catch(() => {})]);
  assert.equal(readFileSync(await download.path(), "utf8"), hostile, "the object itself, saved");
  assert.notEqual(await page.title(), MARKER);
  assert.equal(page.url(), "about:blank", "the browser stayed where it was: nothing rendered");
  assert.equal(await apiAnswers(origin), before, "the gateway answered an API request during the download");
  await page.close();
});

test("with --inline-active-content the object renders sandboxed: its script never runs, the API hears nothing", async (t) => {
  const page = await inlineContext.newPage();
  await logIn(page, inlinePageUrl, inlineToken);
  assert.ok(await sessionCookie(inlineContext, inlineOrigin), "logged in: the session cookie is there to be abused");
  const link = await storeHostile(inlineOrigin, inlineToken, "x/hostile.html");

  // The control: the same document without the gateway's headers does run its script.
  const control = await inlineContext.newPage();
  await control.setContent(hostile);
  await control.waitForFunction((m) => document.title.startsWith(m), MARKER);
  await control.close();

  const before = await apiAnswers(inlineOrigin);
  const opened = await inlineContext.newPage();
  const answer = await opened.goto(link);
  assert.equal(answer.status(), 200);
  assert.equal(answer.headers()["content-security-policy"], "sandbox");
  assert.equal(answer.headers()["content-disposition"], undefined, "inline, as asked");
  assert.equal(await opened.locator("h1").textContent(), "an HTML object", "the document rendered");
  await opened.waitForTimeout(1500); // time for a script (and its fetch) that should never run
  assert.equal(await opened.title(), "object", "the object's script ran");
  assert.equal(await apiAnswers(inlineOrigin), before, "the gateway answered an API request while the object was open");

  // Even a sandboxed document that may run scripts gets nothing from the API: its origin is
  // opaque, so the browser sends Origin: null (and, SameSite=Strict, no cookie). A simple
  // request (no preflight) reaches the gateway, which must not answer it "ok".
  const framed = await inlineContext.newPage();
  await framed.goto(inlineOrigin + "/_oncelink/healthz"); // a document on the origin, without the page's CSP
  const beforeFrame = await apiAnswersByCode(inlineOrigin);
  const sent = await framed.evaluate(() => new Promise((resolve) => {
    window.onmessage = (e) => resolve(e.data);
    const frame = document.createElement("iframe");
    frame.sandbox = "allow-scripts";
    frame.srcdoc = `<script>fetch(${JSON.stringify(location.origin)} + "/_oncelink/links", { method: "POST", mode: "no-cors",
      credentials: "include", body: '{"key":"stolen.txt"}' }).then(() => parent.postMessage("sent", "*"), (e) => parent.postMessage(String(e), "*"));<\/script>`;
    document.body.append(frame);
  }));
  assert.equal(sent, "sent");
  const afterFrame = await apiAnswersByCode(inlineOrigin);
  const grew = Object.keys(afterFrame).filter((code) => afterFrame[code] !== (beforeFrame[code] || 0));
  t.diagnostic(`a script in a sandboxed frame calling the API was answered: ${grew.join(", ")}`);
  assert.equal(grew.length, 1, `exactly one API answer for the frame's request: ${JSON.stringify([beforeFrame, afterFrame])}`);
  assert.ok(["unauthorized", "invalid_origin"].includes(grew[0]), `the frame's request was answered ${grew[0]}`);
  for (const p of [page, opened, framed]) await p.close();
});

test("the session cookie with Origin: null (a sandboxed document's) is refused; with the own origin it works", async () => {
  const cookie = await sessionCookie(context, origin);
  assert.ok(cookie, "still logged in");
  const call = (originHeader) => fetch(origin + "/_oncelink/links", {
    method: "POST",
    headers: { cookie: `oncelink_session=${cookie.value}`, origin: originHeader, "content-type": "application/json" },
    body: JSON.stringify({ key: "a.txt" }),
  });
  const refused = await call("null");
  assert.equal(refused.status, 403);
  assert.equal((await refused.json()).error, "invalid_origin");
  const foreign = await call("https://evil.example");
  assert.equal(foreign.status, 403);
  const own = await call(origin);
  assert.equal(own.status, 201, "the same cookie from the page's own origin");
});

test("over TLS the page, its API calls and the link all run on HTTP/2, and the session cookie is Secure", async () => {
  // The certificate is self-signed: this browser is told to accept it (and nothing else differs).
  const tlsContext = await browser({ ignoreHTTPSErrors: true });
  try {
    const tlsOrigin = new URL(tlsPageUrl).origin;
    const page = await tlsContext.newPage();
    await logIn(page, tlsPageUrl, tlsToken);
    const cookie = await sessionCookie(tlsContext, tlsOrigin);
    assert.ok(cookie?.secure, "the session cookie is Secure on an https page");
    const link = await upload(page, "over-h2.txt", 1);
    assert.ok(link.startsWith(tlsOrigin + "/uploads/"), link);
    const protocols = await page.evaluate(() => [
      ...performance.getEntriesByType("navigation").map((e) => ["page", e.nextHopProtocol]),
      ...performance.getEntriesByType("resource").filter((e) => e.name.includes("/_oncelink/links"))
        .map((e) => ["api", e.nextHopProtocol]),
    ]);
    assert.ok(protocols.some(([kind]) => kind === "api"), JSON.stringify(protocols));
    assert.deepEqual(protocols.filter(([, p]) => p !== "h2"), [], `everything on h2: ${JSON.stringify(protocols)}`);

    const first = await tlsContext.newPage();
    const [download] = await Promise.all([first.waitForEvent("download"), first.goto(link).catch(() => {})]);
    assert.ok(readFileSync(await download.path()).equals(content), "the whole file over HTTP/2");
    const second = await tlsContext.newPage();
    const answer = await second.goto(link);
    assert.equal(answer.status(), 403);
    assert.match(await second.textContent("body"), /link_already_used/);
    assert.equal(await second.evaluate(() => performance.getEntriesByType("navigation")[0].nextHopProtocol), "h2");
  } finally {
    await tlsContext.close();
  }
});

test("log out: the cookie is gone and the API refuses the page", async () => {
  const page = await context.newPage();
  await page.goto(pageUrl);
  await page.locator("#app").waitFor({ state: "visible" });
  await page.locator("#logout").click();
  await page.locator("#login").waitFor({ state: "visible" });
  assert.equal(await sessionCookie(context, origin), undefined);
  const status = await page.evaluate(() => fetch("/_oncelink/links", { method: "POST", credentials: "same-origin",
    headers: { "content-type": "application/json" }, body: '{"key":"a.txt"}' }).then((r) => r.status));
  assert.equal(status, 401);
  await page.reload();
  await page.locator("#login").waitFor({ state: "visible" });
  await page.close();
});
