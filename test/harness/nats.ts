import { inject } from "vitest";

/** The URL of the nats-server the global setup started for this test run. */
export function natsUrl(): string {
  return inject("natsUrl");
}
