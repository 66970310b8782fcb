// The gateway's web page in a real browser (Debian's headless Chromium, driven by
// playwright-core). Started by run.sh, which sets ONCELINK_WEB_URL to the page URL with the token.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";

const pageUrl = process.env.ONCELINK_WEB_URL;
assert.ok(pageUrl && pageUrl.includes("#token="), "ONCELINK_WEB_URL must be the page URL printed by oncelink serve");
const origin = new URL(pageUrl).origin;

let context;
let profile;

before(async () => {
  profile = mkdtempSync(join(tmpdir(), "oncelink-chromium-"));
  context = await chromium.launchPersistentContext(profile, {
    executablePath: "/usr/bin/chromium",
    headless: true,
    acceptDownloads: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
      "--disable-component-update", "--disable-sync"],
  });
  await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin });
});

after(async () => {
  await context?.close();
  if (profile) rmSync(profile, { recursive: true, force: true });
});

// ~3 MB so that the upload reports progress on the way.
const content = Buffer.alloc(3 * 1024 * 1024, "oncelink web test\n");

async function upload(page, name, uses) {
  await page.locator("#file").setInputFiles({ name, mimeType: "text/plain", buffer: content });
  await page.locator("#uses").fill(String(uses));
  await page.locator("#upload").click();
  await page.locator("#result").waitFor({ state: "visible", timeout: 30_000 });
  return (await page.locator("#result-url").textContent()).trim();
}

test("upload, copy the link, open it (200), open it again (403)", async () => {
  const page = await context.newPage();
  await page.goto(pageUrl);
  // The token moved from the fragment into storage and out of the address bar.
  assert.equal(new URL(page.url()).hash, "");
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

  // The list shows it as used.
  await page.reload();
  const row = page.locator("#links tr").first();
  await row.locator(".state").filter({ hasText: "used" }).waitFor();
  assert.equal((await row.locator(".state").textContent()).trim(), "used");
});

test("revoke from the list", async () => {
  const page = await context.newPage();
  await page.goto(origin + "/_oncelink/"); // token already stored by the first test
  const link = await upload(page, "second.txt", 3);
  const row = page.locator("#links tr").first();
  await row.locator(".state", { hasText: "unused" }).waitFor();
  await row.locator("button", { hasText: "Revoke" }).click();
  await page.locator("#links tr").first().locator(".state", { hasText: "revoked" }).waitFor();
  const opened = await context.newPage();
  const answer = await opened.goto(link);
  assert.equal(answer.status(), 403);
  assert.match(await opened.textContent("body"), /link_revoked/);
});
