import type { EpochProgress } from "@mnist/protocol";
import { duration } from "./table.js";

const grouped = new Intl.NumberFormat("en-US");

/**
 * One terminal line for the epoch in training, fitted to `columns`:
 * `epoch 12 ██████████░░░░░░░░░░  26,000/50,000 images  71,230 images/s  0 s left`.
 */
export function progressLine(progress: EpochProgress, columns: number): string {
  const fraction = progress.total > 0 ? Math.min(1, progress.examples / progress.total) : 0;
  const label = `epoch ${progress.epoch} `;
  const left = progress.imagesPerSecond > 0 ? `  ${duration((progress.total - progress.examples) / progress.imagesPerSecond)} left` : "";
  const counts = `  ${grouped.format(progress.examples)}/${grouped.format(progress.total)} images  ${grouped.format(Math.round(progress.imagesPerSecond))} images/s${left}`;
  const barWidth = Math.max(10, Math.min(40, columns - 1 - label.length - counts.length));
  const filled = Math.round(fraction * barWidth);
  return `${label}${"█".repeat(filled)}${"░".repeat(barWidth - filled)}${counts}`.slice(0, Math.max(0, columns - 1));
}

/** A single status line at the bottom of a terminal, redrawn in place; printed lines go above it. */
export class StatusLine {
  private shown = false;

  constructor(private readonly out: NodeJS.WriteStream) {}

  show(text: string): void {
    this.out.write(`\r\x1b[2K${text}`);
    this.shown = true;
  }

  clear(): void {
    if (!this.shown) return;
    this.out.write("\r\x1b[2K");
    this.shown = false;
  }

  /** Writes whole lines above the status line (which the next show() redraws). */
  print(text: string): void {
    this.clear();
    this.out.write(text.endsWith("\n") ? text : `${text}\n`);
  }
}
