import { connect as connectTcp } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Draw } from "../harness/draw.js";
import { boundedHeap, quietRss } from "../harness/memory.js";
import { freePort, startNatsServer, type NatsServer } from "../harness/nats-server.js";
import { startService, type StartedService } from "../harness/services.js";

/**
 * The dashboard's HTTP server under hostile input, over raw sockets: seeded junk request lines,
 * targets, headers and bodies to every route. Every answer is a well-formed HTTP response with a
 * 2xx or 4xx status (never a 5xx, never a crash), and afterwards the evaluator is up, has logged no
 * failed request, and holds no more memory than before.
 */

const seed = BigInt(process.env.FUZZ_SEED ?? Date.now() % 1_000_000);
const draw = new Draw(seed);
const token = "fuzz-token-0123456789-abcdefghijklmnopqrstuvwxyz";
const requests = 1_500;
const warmUp = 300;

let nats: NatsServer;
let evaluator: StartedService;
let port: number;

beforeAll(async () => {
  console.log(`HTTP fuzz seed ${seed} (FUZZ_SEED=${seed} npx vitest run test/fuzz/http.test.ts repeats it)`);
  nats = await startNatsServer();
  port = await freePort();
  evaluator = await startService("evaluator", { ...boundedHeap, NATS_URL: nats.url, DASHBOARD_PORT: String(port), AUTH_TOKEN: token, DASHBOARD_HOSTS: "mnist.example.org" });
}, 60_000);
afterAll(async () => {
  evaluator?.child.kill("SIGTERM");
  await evaluator?.exited;
  await nats?.stop();
});

interface Answer {
  /** The status line's code; undefined when the server closed without answering. */
  status?: number;
  head: string;
}

/**
 * Sends raw bytes and reads the answer's head (a stream's first bytes are enough). `halfClose`
 * ends the client's side at once (junk that may promise a body it never sends): Node's server then
 * answers what it can at once and drops requests still being handled, so whole requests keep it open.
 */
function exchange(bytes: Uint8Array | string, { halfClose = false, timeoutMs = 10_000 } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const socket = connectTcp(port, "127.0.0.1");
    let received = "";
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer within ${timeoutMs} ms to ${JSON.stringify(Buffer.from(bytes).toString("latin1").slice(0, 200))}`));
    }, timeoutMs);
    const done = () => {
      clearTimeout(timer);
      socket.destroy();
      const status = /^HTTP\/1\.1 (\d{3}) /.exec(received)?.[1];
      resolve({ status: status === undefined ? undefined : Number(status), head: received.split("\r\n\r\n")[0]! });
    };
    socket.on("data", (chunk: Buffer) => {
      received += chunk.toString("latin1");
      if (received.includes("\r\n\r\n")) done();
    });
    socket.on("end", done);
    socket.on("error", done);
    if (halfClose) socket.end(bytes);
    else socket.write(bytes);
  });
}

const request = (method: string, target: string, headers: Record<string, string>, body = "") =>
  `${method} ${target} HTTP/1.1\r\n${Object.entries(headers)
    .map(([name, value]) => `${name}: ${value}\r\n`)
    .join("")}\r\n${body}`;

const routes = ["/", "/index.html", "/style.css", "/app.js", "/uplot.js", "/api/session", "/api/runs", "/api/cluster", "/api/events", "/api/runs/run-mxdyvq2x-2d9400", "/api/runs/run-mxdyvq2x-2d9400/stop", "/api/runs/run-mxdyvq2x-2d9400/eta"];
const methods = ["GET", "GET", "GET", "HEAD", "POST", "POST", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "TRACE", "G\u0000T", "get", ""];
const hosts = () => [`127.0.0.1:${port}`, "localhost", "[::1]", "mnist.example.org", "evil.example", "", "a b", "127.0.0.1:99999", "[::1", "x".repeat(300)];

/** One seeded request: a route or junk as the target, hostile headers, a JSON body or junk. */
function junkRequest(): Uint8Array | string {
  const roll = draw.int(10);
  if (roll === 0) return draw.bytes(draw.int(600));
  let target = draw.pick(routes);
  const mutation = draw.int(12);
  if (mutation === 0) target = `/${Buffer.from(draw.bytes(draw.int(40))).toString("latin1").replace(/[\s]/g, "_")}`;
  if (mutation === 1) target += draw.pick(["%", "%E0%A4%A", "%00", "%FF%FE", "/..%2F..%2Fetc%2Fpasswd", "?x=%zz", "#frag"]);
  if (mutation === 2) target = draw.pick(["//", "//[", "http://[", "//a:b", "/\\\\", "*", "http://evil.example/api/runs", "//:99999", ""]);
  if (mutation === 3) target += "/".repeat(draw.int(3)) + "a".repeat(draw.int(9_000));
  const headers: Record<string, string> = {};
  if (draw.int(8) !== 0) headers.host = draw.int(2) === 0 ? `127.0.0.1:${port}` : draw.pick(hosts());
  if (draw.int(3) !== 0) headers.authorization = draw.pick([`Bearer ${token}`, "Bearer wrong", "Basic Zm9vOmJhcg==", "Bearer", `Bearer ${"t".repeat(5_000)}`]);
  if (draw.int(3) === 0) headers.origin = draw.pick([`http://127.0.0.1:${port}`, "http://evil.example", "null", "", "http://mnist.example.org"]);
  if (draw.int(3) === 0) headers["content-type"] = draw.pick(["application/json", "text/plain", "application/json; charset=utf-8", "multipart/form-data; boundary=x"]);
  if (draw.int(6) === 0) headers.cookie = draw.pick(["mnist_session=abc", "mnist_session=", "a=b; mnist_session=%%%", "=".repeat(100)]);
  let body = draw.pick(["", "{}", '{"token":"wrong"}', `{"token":"${token}"}`, '{"eta":0.1}', '{"eta":"x"}', '{"reason":7}', "[1,2]", "null", "{", "\u0000\u0001", '{"eta":1e999}', "x".repeat(20_000)]);
  if (draw.int(6) === 0) body = Buffer.from(draw.bytes(draw.int(300))).toString("latin1");
  const length = draw.int(8);
  // A matching Content-Length, none, one that promises more than comes, or one that is no number.
  if (length < 5) headers["content-length"] = String(Buffer.byteLength(body, "latin1"));
  if (length === 5) headers["content-length"] = String(Buffer.byteLength(body, "latin1") + 1 + draw.int(100));
  if (length === 6) headers["content-length"] = draw.pick(["-1", "abc", "99999999999999999999", "1, 2"]);
  if (draw.int(10) === 0) headers["x-junk"] = "j".repeat(draw.int(20_000));
  return Buffer.from(request(draw.pick(methods), target, headers, body), "latin1");
}

describe("the dashboard's HTTP server under hostile requests", () => {
  it("answers a request target that is no path, bad percent-encoding and an unfinished body with a 4xx naming the field", async () => {
    const host = `127.0.0.1:${port}`;
    const bearer = `Bearer ${token}`;
    for (const target of ["//", "//[", "http://[", "/\\\\", "//a:b"]) {
      const answer = await exchange(request("GET", target, { host, connection: "close" }));
      expect([answer.status, answer.head], target).toEqual([400, expect.stringContaining("content-type: application/json")]);
    }
    expect((await exchange(request("GET", "/api/runs/%E0%A4%A", { host, authorization: bearer, connection: "close" }))).status).toBe(400);
    // A body shorter than its Content-Length, then the client goes.
    const unfinished = await exchange(request("POST", "/api/session", { host, "content-type": "application/json", "content-length": "50", connection: "close" }, '{"token":'), { halfClose: true });
    expect([undefined, 400]).toContain(unfinished.status);
    expect(evaluator.child.exitCode).toBeNull();
  });

  it("answers only its own Host names (DNS rebinding) and refuses a change from another Origin (CSRF)", async () => {
    const get = (host: string) => exchange(request("GET", "/api/runs", { host, authorization: `Bearer ${token}`, connection: "close" }));
    for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`, "mnist.example.org", `dashboard.localhost:${port}`]) expect((await get(host)).status, host).toBe(200);
    for (const host of ["evil.example", `evil.example:${port}`, "127.0.0.1.evil.example", "mnist.example.org.evil.example", ""]) expect((await get(host)).status, host).toBe(421);
    const stop = (origin: string) =>
      exchange(request("POST", "/api/runs/run-nothing-123456/stop", { host: `127.0.0.1:${port}`, origin, authorization: `Bearer ${token}`, "content-type": "application/json", "content-length": "2", connection: "close" }, "{}"));
    for (const origin of ["http://evil.example", "null", `https://127.0.0.1:${port}`, `http://localhost:${port}`]) expect((await stop(origin)).status, origin).toBe(403);
    // Its own origin gets through to the handler, which knows no such run.
    expect((await stop(`http://127.0.0.1:${port}`)).status).toBe(404);
  });

  it(`answers ${requests} seeded junk requests with a 2xx or 4xx, stays up, logs no failure and keeps its memory flat`, async () => {
    const statuses = new Map<string, number>();
    const violations: string[] = [];
    const send = async (count: number) => {
      for (let i = 0; i < count; i++) {
        const bytes = junkRequest();
        const answer = await exchange(bytes, { halfClose: true });
        const key = String(answer.status ?? "closed");
        statuses.set(key, (statuses.get(key) ?? 0) + 1);
        if (answer.status !== undefined && (answer.status < 200 || answer.status >= 500)) violations.push(`${answer.head.split("\r\n")[0]} for ${Buffer.from(bytes).toString("latin1").slice(0, 200)}`);
      }
    };
    const rss = () => quietRss({ evaluator: evaluator.child.pid! }, 3_000);
    await send(warmUp);
    const before = await rss();
    await send(requests);
    const after = await rss();
    console.log(`HTTP fuzz seed ${seed}: ${[...statuses].map(([status, count]) => `${status} ${count}`).join(", ")}; evaluator RSS ${(before.evaluator! / 2 ** 20).toFixed(1)} → ${(after.evaluator! / 2 ** 20).toFixed(1)} MB`);
    expect(violations.slice(0, 10)).toEqual([]);
    // Wrong tokens from one address: past the first few, it waits (429), and each refusal is logged with the address only.
    expect(statuses.get("429") ?? 0).toBeGreaterThan(0);
    const refused = evaluator.logs.filter((line) => line.msg === "rejected" && line.source === "dashboard-auth");
    expect(new Set(refused.map((line) => line.reason))).toEqual(new Set(["invalid-token", "too-many-failures"]));
    expect(new Set(refused.map((line) => line.address))).toEqual(new Set(["127.0.0.1"]));
    // Most junk is answered (a server may close on what is not HTTP at all, and on a body that never comes).
    expect((statuses.get("closed") ?? 0) / (warmUp + requests)).toBeLessThan(0.5);
    expect(evaluator.child.exitCode).toBeNull();
    expect(evaluator.logs.filter((line) => line.level === "error" || line.level === "fatal")).toEqual([]);
    expect(after.evaluator!).toBeLessThanOrEqual(before.evaluator! * 1.1);
    const page = await fetch(`http://127.0.0.1:${port}/`);
    expect(page.status).toBe(200);
  }, 300_000);
});
