import type { Logger } from "./logger.js";

/**
 * On the first SIGTERM or SIGINT runs `stop` and exits 0. If stopping fails or takes longer
 * than graceMs it logs so and exits 1, so an orchestrator never waits on us for long.
 * A second signal exits at once.
 */
export function exitOnSignal(logger: Logger, stop: () => Promise<void>, graceMs: number): void {
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) {
      logger.warn({ signal }, "second signal, exiting now");
      process.exit(130);
    }
    stopping = true;
    logger.info({ signal, graceMs }, "shutting down");
    const timer = setTimeout(() => {
      logger.error({ graceMs }, "shutdown grace period over, exiting");
      process.exit(1);
    }, graceMs);
    timer.unref();
    stop().then(
      () => {
        logger.info("stopped");
        process.exit(0);
      },
      (error: unknown) => {
        logger.error({ err: error }, "error while shutting down");
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", onSignal);
  process.on("SIGINT", onSignal);
}
