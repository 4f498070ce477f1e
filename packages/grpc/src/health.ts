import { EventEmitter } from "node:events";
import { HealthCheckResponse_ServingStatus as ServingStatus, Health } from "@mnist/protocol";
import { GrpcStatusError, status } from "./errors.js";
import type { ServiceImpl } from "./handlers.js";

export { ServingStatus };

/**
 * The standard grpc.health.v1.Health service. The empty service name stands for the whole
 * server, which is what Kubernetes gRPC probes and grpc_health_probe ask about.
 */
export class HealthStatus {
  private readonly statuses = new Map<string, ServingStatus>();
  private readonly changes = new EventEmitter();

  constructor(services: readonly string[]) {
    for (const name of ["", ...services]) this.statuses.set(name, ServingStatus.NOT_SERVING);
    this.changes.setMaxListeners(0);
  }

  set(serving: ServingStatus, service?: string): void {
    const names = service === undefined ? [...this.statuses.keys()] : [service];
    for (const name of names) {
      this.statuses.set(name, serving);
      this.changes.emit(name, serving);
    }
  }

  get(service: string): ServingStatus | undefined {
    return this.statuses.get(service);
  }

  impl(): ServiceImpl<typeof Health> {
    return {
      check: (request) => {
        const serving = this.statuses.get(request.service);
        if (serving === undefined) throw new GrpcStatusError(status.NOT_FOUND, `unknown service ${JSON.stringify(request.service)}`);
        return { status: serving };
      },
      watch: (request, context) => this.watch(request.service, context.signal),
    };
  }

  private async *watch(service: string, signal: AbortSignal) {
    const queue: ServingStatus[] = [this.statuses.get(service) ?? ServingStatus.SERVICE_UNKNOWN];
    let wake: (() => void) | undefined;
    const onChange = (serving: ServingStatus) => {
      queue.push(serving);
      wake?.();
    };
    const onAbort = () => wake?.();
    this.changes.on(service, onChange);
    signal.addEventListener("abort", onAbort);
    try {
      while (!signal.aborted) {
        const next = queue.shift();
        if (next === undefined) await new Promise<void>((resolve) => (wake = resolve));
        else yield { status: next };
      }
    } finally {
      this.changes.off(service, onChange);
      signal.removeEventListener("abort", onAbort);
    }
  }
}
