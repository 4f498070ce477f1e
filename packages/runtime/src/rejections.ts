import type { Logger } from "pino";

export interface RejectionsOptions {
  /** Rejections logged one by one per interval; the rest are only counted. */
  logBudget?: number;
  /** How often the totals are logged (only when they changed). */
  intervalMs?: number;
}

const defaults: Required<RejectionsOptions> = { logBudget: 20, intervalMs: 5_000 };

/**
 * What a service refused from outside: bad NATS messages, junk records in a bucket. Each is
 * counted by where it came from and why; the first few of each interval are logged with their
 * details and the totals once per interval, so a flood of junk cannot flood the log too.
 */
export class Rejections {
  private readonly counts = new Map<string, number>();
  private total = 0;
  private reported = 0;
  private budget: number;
  private readonly options: Required<RejectionsOptions>;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly logger: Logger,
    options: RejectionsOptions = {},
  ) {
    this.options = { ...defaults, ...options };
    this.budget = this.options.logBudget;
  }

  /** Logs the totals every interval in which something was rejected. */
  start(): this {
    this.timer = setInterval(() => this.report(), this.options.intervalMs);
    this.timer.unref();
    return this;
  }

  stop(): void {
    clearInterval(this.timer);
    this.report();
  }

  /** Counts one rejection of something from `source` (a subject, a bucket) for `reason`. */
  reject(source: string, reason: string, fields: Record<string, unknown> = {}): void {
    const key = `${source}/${reason}`;
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
    this.total++;
    if (this.budget > 0) {
      this.budget--;
      this.logger.warn({ source, reason, ...fields, rejected: this.total }, "rejected");
    }
  }

  /** Totals by `source/reason`. */
  snapshot(): Record<string, number> {
    return Object.fromEntries([...this.counts].sort(([a], [b]) => a.localeCompare(b)));
  }

  private report(): void {
    this.budget = this.options.logBudget;
    if (this.total === this.reported) return;
    this.reported = this.total;
    this.logger.info({ rejected: this.total, rejections: this.snapshot() }, "rejections");
  }
}
