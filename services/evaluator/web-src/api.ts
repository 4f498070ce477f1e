// The dashboard API's JSON, as services/evaluator/src/dashboard/views.ts makes it, and the calls.

export type StateName = "queued" | "running" | "finished" | "stopped" | "failed" | "unspecified";

export interface HyperParameters {
  sizes: number[];
  cost: string;
  activation: string;
  init: string;
  eta: number;
  lambda: number;
  l1: number;
  dropout: number;
  momentum: number;
  nesterov: boolean;
  miniBatch: number;
  epochs: number;
  trainLimit: number;
  augment: string;
  seed: string;
  evalOn: string;
  decayAfter: number;
  earlyStop: number;
}

export interface RunSummary {
  id: string;
  name: string;
  state: StateName;
  paused: boolean;
  sweep: string;
  network: string;
  epochs: number;
  maxEpochs: number;
  bestEpoch: number | null;
  bestValAccuracy: number | null;
  testAccuracy: number | null;
  eta: number;
  trainer: string;
  stopReason: string;
  error: string;
  createdAt: number | null;
  hyper: HyperParameters | null;
}

export interface EpochView {
  epoch: number;
  eta: number;
  trainSeconds: number;
  imagesPerSecond: number;
  valAccuracy: number | null;
  valCost: number | null;
  trainCost: number | null;
  trainAccuracy: number | null;
  testAccuracy: number | null;
  testCost: number | null;
  decision: string;
  restoreEpoch: number | null;
}

export interface EventView {
  time: number | null;
  epoch: number;
  kind: string;
  reason: string;
  actor: string;
  detail: string;
}

export interface RunDetail extends RunSummary {
  epochList: EpochView[];
  etaHistory: { epoch: number; eta: number }[];
  events: EventView[];
  startedAt: number | null;
  finishedAt: number | null;
  wallSeconds: number;
  evalOn: string;
}

export interface ProgressView {
  id: string;
  epoch: number;
  examples: number;
  total: number;
  imagesPerSecond: number;
  /** The share of the epoch done, and the seconds left in it and to the run's epoch cap (RunProgress's estimate). */
  share: number;
  epochSecondsLeft: number;
  capSecondsLeft: number;
}

export interface ClusterView {
  trainers: { id: string; address: string; capacity: number; runs: string[] }[];
  augment: { id: string; imagesPerSecond: number; imagesServed: number; slicesServed: number; queued: number; inFlight: number; rejected: number; concurrency: number }[];
}

export interface Snapshot {
  runs: RunSummary[];
  progress: ProgressView[];
  cluster: ClusterView;
}

/** An API refusal: the HTTP status and the server's message (which names the field and value). */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

async function request<T>(method: "GET" | "POST" | "DELETE", path: string, body?: unknown): Promise<T> {
  const response = await fetch(path, {
    method,
    headers: body === undefined ? {} : { "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: "same-origin",
  });
  const answer = (await response.json().catch(() => ({}))) as { error?: string };
  if (!response.ok) throw new ApiError(response.status, answer.error ?? `${method} ${path}: HTTP ${response.status}`);
  return answer as T;
}

export const api = {
  session: () => request<{ auth: boolean; signedIn: boolean }>("GET", "/api/session"),
  signIn: (token: string) => request<{ signedIn: boolean }>("POST", "/api/session", { token }),
  signOut: () => request<{ signedIn: boolean }>("DELETE", "/api/session"),
  run: (id: string) => request<RunDetail>("GET", `/api/runs/${encodeURIComponent(id)}`),
  stop: (id: string, reason: string) => request<RunDetail>("POST", `/api/runs/${encodeURIComponent(id)}/stop`, { reason }),
  setEta: (id: string, eta: number, reason: string) => request<RunDetail>("POST", `/api/runs/${encodeURIComponent(id)}/eta`, { eta, reason }),
};
