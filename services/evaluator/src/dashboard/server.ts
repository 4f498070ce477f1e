import { readdirSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { FieldMaskSchema } from "@bufbuild/protobuf/wkt";
import { FailedSignIns, localCallContext, sameSecret, status, statusOf, type ServerTls } from "@mnist/grpc";
import { GetRunRequestSchema, RunRecordSchema, StopRunRequestSchema, UpdateRunRequestSchema } from "@mnist/protocol";
import { boundHttpServer, type Logger, type Rejections } from "@mnist/runtime";
import { actorHeader, type RunServiceImpl } from "../run-service.js";
import type { DashboardFeed } from "./feed.js";
import { hostAllowed, originAllowed } from "./hosts.js";
import { issueSession, RevokedSessions, sessionLifetimeMs, verifySession, type Session } from "./sessions.js";
import { runDetail } from "./views.js";

export interface DashboardOptions {
  host: string;
  port: number;
  /** Serve HTTPS with the gRPC certificate (and ask browsers for a client certificate when it has a CA). */
  tls?: ServerTls;
  /** AUTH_TOKEN: the API then needs it, as a bearer token or the session cookie a sign-in sets. */
  token?: string;
  logger: Logger;
  feed: DashboardFeed;
  /** The RunService handlers gRPC serves: the page's buttons go through the same checks and audit trail. */
  runService: RunServiceImpl;
  /** DASHBOARD_HOSTS: DNS names the dashboard answers to besides IP addresses and localhost. */
  hosts?: readonly string[];
  /** Failed sign-ins by address, shared with gRPC: an address past its free failures waits. */
  signIns?: FailedSignIns;
  /** Refused tokens are counted and logged here (the address, never the value). */
  rejections?: Rejections;
}

export interface DashboardServer {
  /** The bound port. */
  port: number;
  url: string;
  close(): Promise<void>;
}

/**
 * The static files: the page and its stylesheet beside the package (web/), the browser code
 * compiled from web-src/ into dist/web, uPlot from its package. Nothing from a CDN.
 */
function staticAssets(): Record<string, { file: string; type: string }> {
  const javascript = "text/javascript; charset=utf-8";
  const webDir = fileURLToPath(new URL("../../web/", import.meta.url));
  const compiledDir = fileURLToPath(new URL("../web/", import.meta.url));
  const require = createRequire(import.meta.url);
  const assets: Record<string, { file: string; type: string }> = {
    "/": { file: `${webDir}index.html`, type: "text/html; charset=utf-8" },
    "/style.css": { file: `${webDir}style.css`, type: "text/css; charset=utf-8" },
    "/uplot.js": { file: require.resolve("uplot/dist/uPlot.iife.min.js"), type: javascript },
    "/uplot.css": { file: require.resolve("uplot/dist/uPlot.min.css"), type: "text/css; charset=utf-8" },
  };
  for (const name of readdirSync(compiledDir)) if (name.endsWith(".js")) assets[`/${name}`] = { file: `${compiledDir}${name}`, type: javascript };
  return assets;
}

const securityHeaders = {
  "content-security-policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
};

const sessionCookie = "mnist_session";
const maxBodyBytes = 16 * 1024;
const maxConnections = 1_024;

/** An answer the API gives instead of its result: an HTTP status and a message naming what is wrong. */
class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** gRPC status → HTTP status, for RunService's refusals. */
const httpStatusOf: Partial<Record<number, number>> = {
  [status.INVALID_ARGUMENT]: 400,
  [status.OUT_OF_RANGE]: 400,
  [status.UNAUTHENTICATED]: 401,
  [status.PERMISSION_DENIED]: 403,
  [status.NOT_FOUND]: 404,
  [status.FAILED_PRECONDITION]: 409,
  [status.ALREADY_EXISTS]: 409,
  [status.RESOURCE_EXHAUSTED]: 429,
  [status.UNAVAILABLE]: 503,
};

/**
 * The evaluator's web dashboard: the page, a JSON API over the run records, an event stream of
 * their changes, and the page's two actions (stop, set η), which call RunService's own handlers.
 */
export async function serveDashboard(options: DashboardOptions): Promise<DashboardServer> {
  const { feed, logger } = options;
  const assets = staticAssets();
  const { token } = options;
  const signIns = options.signIns ?? new FailedSignIns();
  const revoked = new RevokedSessions();
  /** A token presented (signing in, or as a bearer token): refused unread while its address must wait, and counted when wrong. */
  const checkToken = (request: IncomingMessage, given: string): boolean => {
    const peer = request.socket.remoteAddress ?? "?";
    const waitMs = signIns.waitMs(peer);
    if (waitMs > 0) {
      options.rejections?.reject("dashboard-auth", "too-many-failures", { address: peer });
      throw new HttpError(429, `too many failed sign-ins from ${peer}: try again in ${Math.ceil(waitMs / 1000)} s`);
    }
    if (token !== undefined && sameSecret(given, token)) return true;
    signIns.failed(peer);
    options.rejections?.reject("dashboard-auth", "invalid-token", { address: peer });
    return false;
  };
  const secure = options.tls ? "; Secure" : "";

  /** The request's session from its cookie, when it is valid now. */
  const sessionOf = (request: IncomingMessage): Session | undefined => {
    const cookie = cookies(request)[sessionCookie];
    const session = token === undefined || cookie === undefined ? undefined : verifySession(token, cookie, Date.now());
    return session && !revoked.has(session, Date.now()) ? session : undefined;
  };

  const authorized = (request: IncomingMessage): boolean => {
    if (token === undefined) return true;
    const bearer = /^Bearer (.+)$/i.exec(request.headers.authorization ?? "")?.[1];
    if (bearer !== undefined) return checkToken(request, bearer);
    return sessionOf(request) !== undefined;
  };

  async function api(request: IncomingMessage, response: ServerResponse, path: string): Promise<void> {
    const method = request.method ?? "GET";
    if (path === "/api/session") {
      if (method === "GET") return json(response, 200, { auth: token !== undefined, signedIn: authorized(request), expiresAt: sessionOf(request)?.expiresAt });
      if (method === "DELETE") {
        // Sign-out: the cookie goes from the browser, and the session is refused even if it was copied.
        const session = sessionOf(request);
        if (session) revoked.revoke(session);
        response.setHeader("set-cookie", `${sessionCookie}=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict${secure}`);
        return json(response, 200, { auth: token !== undefined, signedIn: false });
      }
      if (method !== "POST") throw new HttpError(405, `${method} ${path}: POST a token to sign in, DELETE to sign out, or GET to ask whether one is needed`);
      const { token: given } = await body(request);
      if (typeof given !== "string" || given === "") throw new HttpError(400, "token: the AUTH_TOKEN of this cluster, as a string");
      if (token === undefined) return json(response, 200, { auth: false, signedIn: true });
      if (!checkToken(request, given)) throw new HttpError(401, "token: not this cluster's AUTH_TOKEN");
      const session = issueSession(token, Date.now());
      response.setHeader("set-cookie", `${sessionCookie}=${session.value}; Path=/; Max-Age=${Math.floor(sessionLifetimeMs / 1000)}; HttpOnly; SameSite=Strict${secure}`);
      return json(response, 200, { auth: true, signedIn: true, expiresAt: session.expiresAt });
    }
    if (!authorized(request)) throw new HttpError(401, "sign in with this cluster's AUTH_TOKEN (POST /api/session), or send authorization: Bearer <token>");
    if (path === "/api/events" && method === "GET") return feed.subscribe(response);
    if (path === "/api/runs" && method === "GET") return json(response, 200, { runs: feed.runs() });
    if (path === "/api/cluster" && method === "GET") return json(response, 200, feed.clusterState());
    const match = /^\/api\/runs\/([^/]+)(?:\/(stop|eta))?$/.exec(path);
    if (!match) throw new HttpError(404, `${method} ${path}: no such endpoint (GET /api/runs, /api/runs/ID, /api/cluster, /api/events; POST /api/runs/ID/stop, /api/runs/ID/eta)`);
    const runId = decoded(match[1]!, "run id");
    const action = match[2];
    if (action === undefined) {
      if (method !== "GET") throw new HttpError(405, `${method} ${path}: GET only`);
      const { run } = await call(() => options.runService.getRun!(create(GetRunRequestSchema, { runId }), context(request)));
      return json(response, 200, runDetail(create(RunRecordSchema, run)));
    }
    if (method !== "POST") throw new HttpError(405, `${method} ${path}: POST only`);
    if (!(request.headers["content-type"] ?? "").startsWith("application/json")) throw new HttpError(415, "content-type: application/json");
    const fields = await body(request);
    const reason = fields.reason ?? "";
    if (typeof reason !== "string") throw new HttpError(400, `reason: ${JSON.stringify(reason)} is not a string`);
    let updated: { run?: MessageInitShape<typeof RunRecordSchema> };
    if (action === "stop") {
      updated = await call(() => options.runService.stopRun!(create(StopRunRequestSchema, { runId, reason: reason || "stopped from the dashboard" }), context(request)));
    } else {
      const eta = fields.eta;
      if (typeof eta !== "number") throw new HttpError(400, `eta: ${JSON.stringify(eta)} is not a number`);
      const change = create(UpdateRunRequestSchema, { runId, eta, reason, updateMask: create(FieldMaskSchema, { paths: ["eta"] }) });
      updated = await call(() => options.runService.updateRun!(change, context(request)));
    }
    logger.info({ run: runId, action, peer: peerOf(request) }, "dashboard action");
    return json(response, 200, runDetail(create(RunRecordSchema, updated.run)));
  }

  const scheme = options.tls ? "https" : "http";
  const hosts = options.hosts ?? [];
  /** Everything a request is checked for before it is served; the answer, or an HttpError. */
  async function serve(request: IncomingMessage, response: ServerResponse): Promise<void> {
    if (!hostAllowed(request.headers.host, hosts)) {
      const shown = JSON.stringify((request.headers.host ?? "(none)").slice(0, 100));
      throw new HttpError(421, `host: ${shown} is not this dashboard's: an IP address, localhost, or a name in DASHBOARD_HOSTS`);
    }
    const path = requestPath(request.url);
    const changes = request.method !== "GET" && request.method !== "HEAD";
    if (changes && !originAllowed(request.headers.origin, request.headers.host, scheme)) {
      throw new HttpError(403, `origin: ${JSON.stringify(String(request.headers.origin).slice(0, 100))} is not this dashboard's (${scheme}://${request.headers.host})`);
    }
    return path.startsWith("/api/") ? api(request, response, path) : staticFile(assets, request, response, path);
  }

  const handler = (request: IncomingMessage, response: ServerResponse): void => {
    for (const [name, value] of Object.entries(securityHeaders)) response.setHeader(name, value);
    // Browsers that once reached the dashboard over TLS never try it in plaintext again.
    if (options.tls) response.setHeader("strict-transport-security", "max-age=31536000");
    // Whatever a client sends ends here: an answer, never an exception out of the handler.
    serve(request, response).catch((error: unknown) => {
      if (error instanceof HttpError) return json(response, error.status, { error: error.message });
      logger.error({ err: error, url: request.url?.slice(0, 200) }, "dashboard request failed");
      json(response, 500, { error: "the dashboard failed to answer; the evaluator's log says why" });
    });
  };

  const server: Server = options.tls
    ? createHttpsServer({ cert: options.tls.cert, key: options.tls.key, ...(options.tls.ca ? { ca: options.tls.ca, requestCert: true, rejectUnauthorized: true } : {}) }, handler)
    : createHttpServer(handler);
  // Each open page holds one connection for its live feed.
  boundHttpServer(server, maxConnections);
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.host, () => resolve());
  });
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : options.port;
  const shownHost = options.host === "0.0.0.0" || options.host === "::" ? "127.0.0.1" : options.host;
  return {
    port,
    url: `${options.tls ? "https" : "http"}://${shownHost.includes(":") ? `[${shownHost}]` : shownHost}:${port}/`,
    close: () =>
      new Promise((resolve) => {
        feed.close();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

async function staticFile(assets: Record<string, { file: string; type: string }>, request: IncomingMessage, response: ServerResponse, path: string): Promise<void> {
  const asset = Object.hasOwn(assets, path) ? assets[path] : path === "/index.html" ? assets["/"] : undefined;
  if (!asset) throw new HttpError(404, `${path}: not found (the dashboard is at /)`);
  if (request.method !== "GET" && request.method !== "HEAD") throw new HttpError(405, `${request.method} ${path}: GET only`);
  const content = await readFile(asset.file);
  response.writeHead(200, { "content-type": asset.type, "content-length": content.length, "cache-control": "no-cache" });
  response.end(request.method === "HEAD" ? undefined : content);
}

function json(response: ServerResponse, statusCode: number, value: unknown): void {
  if (response.headersSent) {
    response.end();
    return;
  }
  const text = JSON.stringify(value);
  response.writeHead(statusCode, { "content-type": "application/json; charset=utf-8", "cache-control": "no-store" }).end(text);
}

/** The request's JSON object body, at most maxBodyBytes. */
async function body(request: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of request as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > maxBodyBytes) throw new HttpError(413, `request body: more than ${maxBodyBytes} bytes`);
      chunks.push(chunk);
    }
  } catch (error) {
    if (error instanceof HttpError) throw error;
    // The connection closed or timed out before the body was whole.
    throw new HttpError(400, `request body: not received whole (${size} bytes came)`);
  }
  const text = Buffer.concat(chunks).toString("utf8");
  let value: unknown;
  try {
    value = text === "" ? {} : JSON.parse(text);
  } catch {
    throw new HttpError(400, "request body: not JSON");
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw new HttpError(400, "request body: a JSON object");
  return value as Record<string, unknown>;
}

/** The request target's path; a target that is no path (an absolute URL, `*`, junk) is refused. */
function requestPath(target: string | undefined): string {
  if (target === undefined || !target.startsWith("/") || target.startsWith("//")) throw new HttpError(400, `request target: ${JSON.stringify((target ?? "").slice(0, 100))} is not a path`);
  try {
    return new URL(target, "http://dashboard").pathname;
  } catch {
    throw new HttpError(400, `request target: ${JSON.stringify(target.slice(0, 100))} is not a path`);
  }
}

/** A percent-encoded path segment, decoded; bad encoding is refused naming `what`. */
function decoded(segment: string, what: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new HttpError(400, `${what}: ${JSON.stringify(segment.slice(0, 100))} is not valid percent-encoding`);
  }
}

/** A RunService handler's answer, its refusals as HTTP errors with the handler's own message. */
async function call<T>(handler: () => Promise<T> | T): Promise<T> {
  try {
    return await handler();
  } catch (error) {
    const known = statusOf(error);
    if (!known) throw error;
    throw new HttpError(httpStatusOf[known.code] ?? 500, known.details);
  }
}

function peerOf(request: IncomingMessage): string {
  return `${request.socket.remoteAddress ?? "?"}:${request.socket.remotePort ?? "?"}`;
}

/** The audit trail names the dashboard and the browser's address as the actor. */
function context(request: IncomingMessage) {
  const signal = new AbortController().signal;
  return localCallContext(peerOf(request), { [actorHeader]: "dashboard" }, signal);
}

function cookies(request: IncomingMessage): Record<string, string> {
  const found: Record<string, string> = {};
  for (const part of (request.headers.cookie ?? "").split(";")) {
    const [name, ...value] = part.trim().split("=");
    if (name) found[name] = value.join("=");
  }
  return found;
}

