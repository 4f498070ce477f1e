import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import puppeteer, { type Browser, type Page } from "puppeteer-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startCluster, type Cluster } from "../harness/cluster.js";
import { freePort } from "../harness/nats-server.js";

/**
 * The evaluator's dashboard in a real browser (Debian's chromium, driven by puppeteer-core) and
 * its API over HTTP, on a real cluster: a run launched during the test appears, its curve grows
 * as epochs finish, η is set and the run stopped from the page, through RunService.
 */

const chromium = "/usr/bin/chromium";
let cluster: Cluster;
let dashboard: string;
let browser: Browser;
const shots = mkdtempSync(join(tmpdir(), "mnist-dashboard-"));

beforeAll(async () => {
  const port = await freePort();
  cluster = await startCluster({ augmentReplicas: 2, evaluatorEnv: { DASHBOARD_PORT: String(port) } });
  dashboard = String(cluster.evaluator.logs.find((line) => line.msg === "ready")!.dashboard);
  browser = await puppeteer.launch({ executablePath: chromium, headless: true, args: ["--no-sandbox", "--disable-dev-shm-usage"] });
}, 60_000);
afterAll(async () => {
  await browser?.close();
  await cluster?.stop();
  rmSync(shots, { recursive: true, force: true });
});

/** A page that records every console error and uncaught exception. */
async function open(path = ""): Promise<{ page: Page; errors: string[] }> {
  const page = await browser.newPage();
  await page.setViewport({ width: 1280, height: 900 });
  const errors: string[] = [];
  page.on("console", (message) => {
    if (message.type() === "error") errors.push(message.text());
  });
  page.on("pageerror", (error) => errors.push(String(error)));
  page.on("dialog", (dialog) => void dialog.accept());
  await page.goto(`${dashboard}${path}`, { waitUntil: "domcontentloaded" });
  await page.waitForSelector("#connection.live", { timeout: 15_000 });
  return { page, errors };
}

const launch = async (args: string[]) => {
  const launched = await cluster.cli(["run", ...args]);
  expect(launched.stderr).toBe("");
  return launched.stdout.trim().split("\n")[0]!.trim();
};

describe("the dashboard's HTTP side", () => {
  it("names its address in the evaluator's ready line and serves the page, its code and uPlot from the evaluator itself", async () => {
    expect(dashboard).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    const page = await fetch(dashboard);
    expect(page.status).toBe(200);
    expect(page.headers.get("content-security-policy")).toContain("default-src 'self'");
    const html = await page.text();
    // Nothing from another origin: every script and stylesheet is a path on this server.
    for (const match of html.matchAll(/(?:src|href)="([^"]+)"/g)) expect(match[1], match[0]).toMatch(/^(\/|#|data:)/);
    for (const asset of ["/app.js", "/api.js", "/charts.js", "/uplot.js", "/uplot.css", "/style.css"]) {
      const response = await fetch(new URL(asset, dashboard));
      expect(response.status, asset).toBe(200);
      expect((await response.arrayBuffer()).byteLength, asset).toBeGreaterThan(100);
    }
    const missing = await fetch(new URL("/nothing-here", dashboard));
    expect(missing.status).toBe(404);
  });

  it("refuses bad requests with a status and a message naming what is wrong", async () => {
    const post = (path: string, body: unknown, type = "application/json") =>
      fetch(new URL(path, dashboard), { method: "POST", headers: { "content-type": type }, body: typeof body === "string" ? body : JSON.stringify(body) });
    const unknown = await post("/api/runs/run-nothing-123456/stop", {});
    expect(unknown.status).toBe(404);
    expect(((await unknown.json()) as { error: string }).error).toContain("run-nothing-123456");
    const badId = await fetch(new URL("/api/runs/not%20an%20id", dashboard));
    expect(badId.status).toBe(400);
    expect(((await badId.json()) as { error: string }).error).toMatch(/runId/);
    const runId = await launch(["--sizes", "784,10,10", "--train-limit", "1000", "--epochs", "1"]);
    const notNumber = await post(`/api/runs/${runId}/eta`, { eta: "fast" });
    expect(notNumber.status).toBe(400);
    expect(((await notNumber.json()) as { error: string }).error).toBe('eta: "fast" is not a number');
    const negative = await post(`/api/runs/${runId}/eta`, { eta: -1 });
    expect(negative.status).toBeGreaterThanOrEqual(400);
    expect(((await negative.json()) as { error: string }).error).toMatch(/eta/);
    expect((await post(`/api/runs/${runId}/stop`, "{}", "text/plain")).status).toBe(415);
    expect((await post(`/api/runs/${runId}/stop`, "{not json")).status).toBe(400);
    expect((await post(`/api/runs/${runId}/stop`, "x".repeat(20_000))).status).toBe(413);
  });
});

describe("the dashboard in a browser", () => {
  it("shows a run launched while it is open, grows its curves as epochs finish, sets η and stops it through RunService", async () => {
    const { page, errors } = await open();
    await page.waitForSelector("#runs");
    // Long enough to watch (about 0.15 s an epoch here), short enough to stop by hand.
    const runId = await launch(["--name", "watched", "--sizes", "784,30,10", "--train-limit", "5000", "--epochs", "400", "--monitor", "eval-accuracy,eval-cost,test-accuracy"]);
    await page.waitForSelector(`#runs tr[data-run="${runId}"]`, { timeout: 15_000 });
    expect(await page.$eval(`#runs tr[data-run="${runId}"] a`, (link) => link.textContent)).toBe("watched");

    await page.click(`#runs tr[data-run="${runId}"] a`);
    await page.waitForSelector("#accuracy-chart[data-points]", { timeout: 30_000 });
    const points = () => page.$eval("#accuracy-chart", (chart) => Number((chart as HTMLElement).dataset.points));
    const first = await points();
    await page.waitForFunction((before: number) => Number(document.querySelector<HTMLElement>("#accuracy-chart")!.dataset.points) >= before + 3, { timeout: 30_000 }, first);
    expect(await points()).toBeGreaterThanOrEqual(first + 3);
    expect(await page.$eval("#accuracy-chart", (chart) => chart.querySelectorAll("canvas").length)).toBeGreaterThan(0);

    await page.$eval("#eta-input", (input) => ((input as HTMLInputElement).value = ""));
    await page.type("#eta-input", "0.125");
    expect(await page.$eval("#eta-input", (input) => (input as HTMLInputElement).value)).toBe("0.125");
    await page.click("#set-eta");
    await page.waitForSelector("#action-message.ok", { timeout: 15_000 });
    await page.click("#stop");
    await page.waitForSelector('h1 [data-state="stopped"]', { timeout: 30_000 });

    // The same record mnistctl reads: stopped, η changed, both by the dashboard, in the audit trail.
    const record = JSON.parse((await cluster.cli(["get", runId, "--json"])).stdout) as { state: string; events: { kind: string; actor: string; detail: string }[] };
    expect(record.state).toBe("stopped");
    const change = record.events.find((event) => event.kind === "change");
    expect(change).toMatchObject({ detail: "eta=0.125", actor: expect.stringMatching(/^dashboard \(127\.0\.0\.1:\d+\)$/) });
    expect(record.events.find((event) => event.kind === "stop" && event.actor.startsWith("dashboard"))).toBeDefined();
    // The η change is marked on the curves (the run page's chart draws it), and the events list shows the stop.
    await page.waitForSelector('#events tr[data-kind="stop"]', { timeout: 15_000 });
    expect(await page.$$eval('#events tr[data-kind="place"]', (rows) => rows.length)).toBeGreaterThan(0);

    // A run's page by its name, as a link someone shares.
    await page.goto(`${dashboard}#/runs/watched`);
    await page.waitForSelector('h1 [data-state="stopped"]', { timeout: 15_000 });
    expect(await page.$eval("h1", (title) => title.textContent)).toContain("watched");

    const shot = join(shots, "run.png");
    await page.screenshot({ path: shot, fullPage: true });
    expect(readFileSync(shot).subarray(1, 4).toString()).toBe("PNG");
    expect(errors).toEqual([]);
    await page.close();
  });

  it("compares runs side by side and shows the cluster's trainers and augment replicas", async () => {
    const first = await launch(["--name", "narrow", "--sizes", "784,10,10", "--train-limit", "1000", "--epochs", "3"]);
    const second = await launch(["--name", "wide", "--sizes", "784,20,10", "--train-limit", "1000", "--epochs", "3", "--lambda", "1"]);
    const { page, errors } = await open(`#/compare?runs=${first},${second}`);
    await page.waitForSelector("#compare-table th a", { timeout: 30_000 });
    expect(await page.$$eval("#compare-table thead a", (links) => links.map((link) => link.textContent))).toEqual(["narrow", "wide"]);
    const differing = await page.$$eval("#compare-table tr.diff th", (cells) => cells.map((cell) => cell.textContent));
    expect(differing).toEqual(expect.arrayContaining(["network", "λ (L2)"]));
    expect(differing).not.toContain("mini-batch");

    // The runs table groups a sweep's trials under their sweep, and sorts by a column on a click.
    const sweep = await cluster.cli(["sweep", "--sizes", "784,10,10", "--train-limit", "1000", "--epochs", "1", "--eta", "0.5,1", "--json"]);
    expect(sweep.code, sweep.stderr).toBe(0);
    await page.goto(`${dashboard}#/`);
    await page.waitForSelector("#runs tr.group[data-sweep^='sweep-'] a", { timeout: 15_000 });
    const grouped = await page.$$eval("#runs tbody tr", (rows) => rows.map((row) => (row.classList.contains("group") ? `group:${row.getAttribute("data-sweep")}` : row.getAttribute("data-run"))));
    const sweepAt = grouped.findIndex((entry) => entry?.startsWith("group:sweep-"));
    expect(grouped.slice(sweepAt + 1, sweepAt + 3).every((entry) => entry?.startsWith("run-"))).toBe(true);
    await page.click('#runs th[data-key="name"]');
    await page.waitForSelector('#runs th.sorted-asc[data-key="name"]');
    const lone = await page.$$eval("#runs tbody tr:not(.group)", (rows) => rows.map((row) => row.querySelector("td:nth-child(2)")!.textContent!));
    const outside = lone.filter((name) => !name.startsWith("sweep-"));
    expect(outside).toEqual([...outside].sort((a, b) => a.localeCompare(b)));

    await page.goto(`${dashboard}#/cluster`);
    await page.waitForFunction(() => document.querySelectorAll("#replicas tbody tr td.num").length > 0, { timeout: 15_000 });
    expect(await page.$$eval("#replicas tbody tr", (rows) => rows.length)).toBe(2);
    expect(await page.$$eval("#trainers tbody tr", (rows) => rows.map((row) => row.querySelector("td")!.textContent))).toHaveLength(1);
    expect(errors).toEqual([]);
    await page.close();
  });
});

describe("the dashboard with AUTH_TOKEN", () => {
  let secured: Cluster;
  let url: string;
  const token = "dashboard-test-token-0123456789abcdef";
  beforeAll(async () => {
    secured = await startCluster({ env: { AUTH_TOKEN: token }, cliEnv: { MNISTCTL_TOKEN: token }, evaluatorEnv: { DASHBOARD_PORT: String(await freePort()) } });
    url = String(secured.evaluator.logs.find((line) => line.msg === "ready")!.dashboard);
  }, 60_000);
  afterAll(async () => {
    await secured?.stop();
  });

  it("serves the page but no data without the token; a sign-in sets a session cookie that is not the token", async () => {
    expect((await fetch(url)).status).toBe(200);
    const refused = await fetch(new URL("/api/runs", url));
    expect(refused.status).toBe(401);
    expect(await refused.text()).not.toContain(token);
    expect((await fetch(new URL("/api/events", url))).status).toBe(401);
    const wrong = await fetch(new URL("/api/session", url), { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ token: "guess" }) });
    expect(wrong.status).toBe(401);
    const signedIn = await fetch(new URL("/api/session", url), { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ token }) });
    expect(signedIn.status).toBe(200);
    const cookie = signedIn.headers.get("set-cookie")!;
    // A session that carries its own expiry (12 hours), signed with the token: never the token, never the same twice.
    expect(cookie).toMatch(/^mnist_session=\d{13}\.[0-9a-f]{32}\.[0-9a-f]{64}; Path=\/; Max-Age=43200; HttpOnly; SameSite=Strict$/);
    expect(cookie).not.toContain(token);
    const expiresAt = Number(/=(\d{13})\./.exec(cookie)![1]);
    expect(Math.abs(expiresAt - (Date.now() + 43_200_000))).toBeLessThan(60_000);
    const again = (await fetch(new URL("/api/session", url), { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ token }) })).headers.get("set-cookie")!;
    expect(again.split(";")[0]).not.toBe(cookie.split(";")[0]);
    const session = { cookie: cookie.split(";")[0]! };
    expect((await fetch(new URL("/api/runs", url), { headers: session })).status).toBe(200);
    expect((await fetch(new URL("/api/runs", url), { headers: { authorization: `Bearer ${token}` } })).status).toBe(200);
    // Forged: another expiry under the same signature, an expired one, junk.
    const [, expiry, rest] = /^mnist_session=(\d{13})(\..*)$/.exec(session.cookie)!;
    for (const forged of [`mnist_session=${Number(expiry) + 1e9}${rest}`, `mnist_session=${Date.now() - 1000}${rest}`, "mnist_session=1.2.3"]) {
      expect((await fetch(new URL("/api/runs", url), { headers: { cookie: forged } })).status, forged).toBe(401);
    }
    // Sign-out clears the cookie and ends the session, even for a copy of it.
    const signedOut = await fetch(new URL("/api/session", url), { method: "DELETE", headers: session });
    expect(signedOut.headers.get("set-cookie")).toBe("mnist_session=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict");
    expect((await fetch(new URL("/api/runs", url), { headers: session })).status).toBe(401);
    expect(((await (await fetch(new URL("/api/session", url), { headers: session })).json()) as { signedIn: boolean }).signedIn).toBe(false);

    // In the browser: the sign-in form, then the runs.
    const page = await browser.newPage();
    await page.goto(url, { waitUntil: "domcontentloaded" });
    await page.waitForSelector("#token");
    await page.type("#token", token);
    await page.click("form button");
    await page.waitForSelector("#connection.live", { timeout: 15_000 });
    await page.waitForSelector("#runs");
    // And its sign-out button, back to the form.
    await page.click("#sign-out");
    await page.waitForSelector("#token");
    await page.close();
    expect(secured.evaluator.logs.some((line) => JSON.stringify(line).includes(token))).toBe(false);
  });
});

it("the browser is Debian's chromium, not a download", () => {
  expect(existsSync(chromium)).toBe(true);
});
