// A real headless browser (Debian chromium, driven by playwright-core) opens the status
// page and uses it: node browser_check.mjs PAGE_URL SIDE_MQTT_URL SCREENSHOT [CAFILE]
// The page connects back over MQTT-over-WebSockets, a subscription typed into the page
// receives a retained and a live message (published by an MQTT.js client here), and a
// message published from the page's form reaches that client. Prints one JSON line.
import { createRequire } from "module";
import fs from "fs";
import os from "os";
import path from "path";

const require = createRequire(process.env.MQTT_NODE_MODULES + "/");
const { chromium } = require("playwright-core");
const mqtt = require("mqtt");
const [pageUrl, sideUrl, shot, ca] = process.argv.slice(2);
const profile = fs.mkdtempSync(path.join(os.tmpdir(), "chromium-profile-"));
let browser = null;
const out = { steps: [] };
const done = async (code) => {
  if (browser) await browser.close().catch(() => {});
  fs.rmSync(profile, { recursive: true, force: true });
  console.log(JSON.stringify(out));
  process.exit(code);
};
setTimeout(() => { out.error = "timeout after " + out.steps.join(", "); done(1); }, 50000);

try {
  browser = await chromium.launchPersistentContext(profile, {
    executablePath: "/usr/bin/chromium", headless: true, ignoreHTTPSErrors: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync",
      "--ignore-certificate-errors"],
  });
  const page = browser.pages()[0] || await browser.newPage();
  page.on("console", (m) => out.steps.push("console: " + m.text()));
  await page.goto(pageUrl);
  await page.waitForFunction(() => document.getElementById("state").textContent === "connected",
    null, { timeout: 10000 });
  out.steps.push("connected");
  await page.fill("#filter", "browser/#");
  await page.click("#subf button");
  await page.waitForFunction(() => window.statusPage.got.some((m) => m[0] === "browser/retained"),
    null, { timeout: 10000 });
  out.steps.push("retained");
  const side = mqtt.connect(sideUrl, { reconnectPeriod: 0, ca: ca ? fs.readFileSync(ca) : undefined });
  const fromPage = new Promise((resolve) => side.on("message", (t, p) => resolve([t, p.toString()])));
  await new Promise((resolve, reject) => {
    side.on("error", reject);
    side.on("connect", () => side.subscribe("page/#", { qos: 1 }, resolve));
  });
  side.publish("browser/live", "live one", { qos: 1 });
  await page.waitForFunction(() => window.statusPage.got.some((m) => m[0] === "browser/live"),
    null, { timeout: 10000 });
  out.steps.push("live");
  await page.fill("#topic", "page/out");
  await page.fill("#payload", "typed in the page");
  await page.selectOption("#qos", "1");
  await page.click("#pubf button");
  out.fromPage = await fromPage;
  out.steps.push("published");
  await page.waitForFunction(() => document.getElementById("clients").textContent !== "-" &&
    document.getElementById("rate").textContent !== "-", null, { timeout: 10000 });
  out.figures = await page.evaluate(() => ({
    clients: document.getElementById("clients").textContent,
    rate: document.getElementById("rate").textContent,
    free: document.getElementById("free").textContent,
    uptime: document.getElementById("uptime").textContent }));
  out.got = await page.evaluate(() => window.statusPage.got);
  if (shot) await page.screenshot({ path: shot, fullPage: true });
  side.end(true);
  await done(0);
} catch (e) {
  out.error = String(e && e.stack || e);
  await done(1);
}
