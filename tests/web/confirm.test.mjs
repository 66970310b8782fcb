// Confirm links in a real browser (Debian's headless Chromium, driven by playwright-core).
// Started by run.sh, which sets (among others):
//   ONCELINK_WEB_URL, ONCELINK_WEB_TOKEN          the default gateway's page and API token
//   ONCELINK_WEB_TLS_URL, ONCELINK_WEB_TLS_TOKEN  one serving TLS (self-signed, 127.0.0.1)
// For each gateway: (1) a scanner in its own browser context opens the link, fetches every URL
// the page names, waits for scripts (there are none) — and the link's uses stay 0; (2) a person
// in a fresh context opens the link, clicks the button and gets the file, once; opening it again
// and clicking gets 403 link_already_used.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";

const gateways = [
  { name: "http", page: process.env.ONCELINK_WEB_URL, token: process.env.ONCELINK_WEB_TOKEN, secure: false },
  { name: "https", page: process.env.ONCELINK_WEB_TLS_URL, token: process.env.ONCELINK_WEB_TLS_TOKEN, secure: true },
];
for (const gw of gateways) {
  assert.ok(gw.page?.endsWith("/_oncelink/") && gw.token, `the ${gw.name} gateway's page and token from run.sh`);
  gw.base = new URL(gw.page).origin;
}
// The TLS gateway's certificate is self-signed: node's fetch (the API calls) must accept it.
process.env.NODE_TLS_REJECT_UNAUTHORIZED = "0";

const profiles = [];
after(() => {
  for (const profile of profiles) rmSync(profile, { recursive: true, force: true });
});

// A fresh browser (its own profile: no cookie of any other context).
async function browser() {
  const profile = mkdtempSync(join(tmpdir(), "oncelink-confirm-"));
  profiles.push(profile);
  return chromium.launchPersistentContext(profile, {
    executablePath: "/usr/bin/chromium",
    headless: true,
    acceptDownloads: true,
    ignoreHTTPSErrors: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
      "--disable-component-update", "--disable-sync"],
  });
}

async function api(gw, path, init = {}) {
  const res = await fetch(gw.base + "/_oncelink" + path, {
    ...init, headers: { authorization: "Bearer " + gw.token, "content-type": "application/json", ...(init.headers ?? {}) },
  });
  return { status: res.status, body: await res.json() };
}

// A confirm link to fresh bytes: { url, id, bytes }.
async function confirmLink(gw, key) {
  const bytes = Buffer.from(`confirm ${gw.name} ${key} ${Date.now()}\n`.repeat(5000));
  const put = await api(gw, "/links", { method: "POST", body: JSON.stringify({ key, method: "PUT" }) });
  assert.equal(put.status, 201, JSON.stringify(put.body));
  const stored = await fetch(put.body.url, { method: "PUT", body: bytes });
  assert.equal(stored.status, 200, await stored.text());
  const link = await api(gw, "/links", { method: "POST", body: JSON.stringify({ key, confirm: true, filename: "Contract <final>.txt" }) });
  assert.equal(link.status, 201, JSON.stringify(link.body));
  assert.equal(link.body.confirm, true);
  return { url: link.body.url, id: link.body.link_id, bytes };
}

async function uses(gw, id) {
  const state = await api(gw, "/links/" + id);
  assert.equal(state.status, 200, JSON.stringify(state.body));
  return state.body.uses;
}

for (const gw of gateways) {
  test(`${gw.name}: a scanner that opens the page, follows everything on it and runs its scripts spends nothing`, async () => {
    const link = await confirmLink(gw, `confirm/scanned-${gw.name}.txt`);
    const scanner = await browser();
    const downloads = [];
    scanner.on("page", (p) => p.on("download", (d) => downloads.push(d)));
    try {
      const page = await scanner.newPage();
      page.on("download", (d) => downloads.push(d));
      const answer = await page.goto(link.url);
      assert.equal(answer.status(), 200);
      const headers = answer.headers();
      assert.equal(headers["content-type"], "text/html; charset=utf-8");
      assert.match(headers["content-security-policy"], /default-src 'none'/);
      assert.equal(headers["cache-control"], "no-store, private");
      // Whatever the page could run, let it run.
      await page.waitForLoadState("networkidle");
      await page.waitForTimeout(500);
      assert.equal(await page.locator("script").count(), 0, "the page has no script");
      assert.equal(await page.locator("a[href]").count(), 0, "the page has no link to follow");
      assert.equal(await page.locator("button").count(), 1);
      assert.match(await page.textContent("body"), /Contract <final>\.txt/);
      // Every URL the page names, resolved as a browser would, fetched as a navigation and as
      // a plain request (with this context's cookies).
      const urls = await page.evaluate(() => {
        const found = new Set();
        const attrs = ["href", "src", "action", "formaction", "data", "poster", "srcset", "background"];
        for (const el of document.querySelectorAll("*")) {
          for (const attr of attrs) {
            const value = el.getAttribute(attr);
            if (value) found.add(new URL(value.split(/\s+/)[0], document.baseURI).href);
          }
        }
        return [...found];
      });
      assert.deepEqual(urls, [link.url], "the only URL on the page is the form's action: the link itself");
      for (const url of urls) {
        const followed = await page.goto(url);
        assert.equal(followed.status(), 200, `following ${url}`);
        assert.equal(followed.headers()["content-type"], "text/html; charset=utf-8");
        const fetched = await scanner.request.get(url);
        assert.equal(fetched.status(), 200);
        assert.equal(fetched.headers()["content-type"], "text/html; charset=utf-8");
        const head = await scanner.request.head(url);
        assert.equal(head.status(), 200);
      }
      await page.waitForTimeout(500);
      assert.equal(downloads.length, 0, "the scanner downloaded nothing");
      assert.equal((await scanner.cookies()).filter((c) => c.name === "oncelink_confirm").length, 0, "no proof without a click");
      assert.equal(await uses(gw, link.id), 0, "the scanner spent a use");
    } finally {
      await scanner.close();
    }
  });

  test(`${gw.name}: a person's click downloads once; opening it again and clicking is 403`, async () => {
    const link = await confirmLink(gw, `confirm/clicked-${gw.name}.txt`);
    const person = await browser();
    try {
      const page = await person.newPage();
      const opened = await page.goto(link.url);
      assert.equal(opened.status(), 200);
      assert.equal(await uses(gw, link.id), 0, "opening the page spent a use");
      const [download] = await Promise.all([page.waitForEvent("download"), page.locator("button").click()]);
      assert.equal(download.suggestedFilename(), "Contract _final_.txt");
      const saved = readFileSync(await download.path());
      assert.ok(saved.equals(link.bytes), "the downloaded file differs from the stored one");
      assert.equal(await uses(gw, link.id), 1);
      const proof = (await person.cookies(link.url)).find((c) => c.name === "oncelink_confirm");
      assert.ok(proof, "the click's proof cookie");
      assert.deepEqual([proof.httpOnly, proof.sameSite, proof.secure, proof.path], [true, "Lax", gw.secure, new URL(link.url).pathname]);
      assert.equal(await page.evaluate(() => document.cookie.includes("oncelink_confirm")), false, "the proof is not readable by script");

      // Again, in the same browser: the page, and a click that is refused (used).
      const again = await person.newPage();
      const reopened = await again.goto(link.url);
      assert.equal(reopened.status(), 200, "a new visit sees the page again");
      assert.equal(await again.locator("button").count(), 1);
      const [refused] = await Promise.all([
        again.waitForResponse((r) => r.url() === link.url && r.request().method() === "GET"),
        again.locator("button").click(),
      ]);
      assert.equal(refused.status(), 403);
      assert.equal((await refused.json()).error, "link_already_used");
      assert.equal(await uses(gw, link.id), 1);
    } finally {
      await person.close();
    }
  });
}
