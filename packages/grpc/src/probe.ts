import { Health } from "@mnist/protocol";
import type { ClientTls } from "./access.js";
import { createClient } from "./client.js";
import { GrpcStatusError, status } from "./errors.js";
import { ServingStatus } from "./health.js";

export interface ProbeResult {
  serving: boolean;
  /** "SERVING", "NOT_SERVING", … or why the server could not be asked. */
  detail: string;
}

/**
 * One grpc.health.v1.Health/Check of `service` ("" is the whole server) at `address`, as
 * Kubernetes' gRPC probes and grpc_health_probe ask it.
 */
export async function probeHealth(address: string, options: { service?: string; timeoutMs?: number; tls?: ClientTls } = {}): Promise<ProbeResult> {
  const client = createClient(Health, address, { tls: options.tls });
  try {
    const response = await client.check({ service: options.service ?? "" }, { timeoutMs: options.timeoutMs ?? 2_000 });
    return { serving: response.status === ServingStatus.SERVING, detail: ServingStatus[response.status] };
  } catch (error) {
    if (error instanceof GrpcStatusError) return { serving: false, detail: `${status[error.code]}: ${error.message}` };
    throw error;
  } finally {
    client.close();
  }
}

/** Probes until the server answers SERVING; rejects with the last answer once `timeoutMs` has passed or `signal` aborts. */
export async function waitUntilServing(address: string, options: { timeoutMs: number; intervalMs?: number; signal?: AbortSignal; tls?: ClientTls }): Promise<void> {
  const until = Date.now() + options.timeoutMs;
  for (;;) {
    const result = await probeHealth(address, { timeoutMs: Math.max(100, Math.min(2_000, until - Date.now())), tls: options.tls });
    if (result.serving) return;
    if (options.signal?.aborted) throw new Error(`stopped waiting for ${address} to be SERVING (last answer: ${result.detail})`);
    if (Date.now() >= until) throw new Error(`${address} not SERVING within ${options.timeoutMs} ms (last answer: ${result.detail})`);
    await new Promise((resolve) => setTimeout(resolve, options.intervalMs ?? 200));
  }
}
