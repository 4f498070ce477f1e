#!/usr/bin/env node
// A screenshot of a dashboard page in Debian's chromium (puppeteer-core, no browser download):
//   node scripts/dashboard-screenshot.mjs http://127.0.0.1:8080/ RUN_ID docs/dashboard.png [WIDTH]
// RUN_ID "-" takes the runs table instead of a run's page. With AUTH_TOKEN set in the environment
// it signs in first.
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import puppeteer from "puppeteer-core";

const [url, runId, file, width = "1280"] = process.argv.slice(2);
if (!url || !runId || !file) {
  console.error("usage: node scripts/dashboard-screenshot.mjs DASHBOARD_URL RUN_ID|- FILE [WIDTH]");
  process.exit(2);
}
const browser = await puppeteer.launch({ executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium", headless: true, args: ["--no-sandbox", "--disable-dev-shm-usage"] });
try {
  const page = await browser.newPage();
  await page.setViewport({ width: Number(width), height: 900, deviceScaleFactor: 1 });
  const errors = [];
  page.on("pageerror", (error) => errors.push(String(error)));
  page.on("console", (message) => message.type() === "error" && errors.push(message.text()));
  await page.goto(url, { waitUntil: "domcontentloaded" });
  if (process.env.AUTH_TOKEN) {
    await page.waitForSelector("#token");
    await page.type("#token", process.env.AUTH_TOKEN);
    await page.click("form button");
  }
  await page.waitForSelector("#connection.live", { timeout: 15_000 });
  if (runId !== "-") {
    await page.goto(`${url.replace(/\/$/, "")}/#/runs/${encodeURIComponent(runId)}`);
    await page.waitForSelector("#accuracy-chart canvas", { timeout: 15_000 });
  }
  await new Promise((resolve) => setTimeout(resolve, 500));
  mkdirSync(dirname(file), { recursive: true });
  await page.screenshot({ path: file, fullPage: true });
  if (errors.length > 0) {
    console.error(`the page reported errors:\n${errors.join("\n")}`);
    process.exitCode = 1;
  }
  console.log(file);
} finally {
  await browser.close();
}
