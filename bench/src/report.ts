import { mkdirSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";

/** A Markdown table: benchmark output is meant to be pasted into docs as it is. */
export function markdownTable(header: string[], rows: (string | number)[][]): string {
  const line = (cells: (string | number)[]) => `| ${cells.join(" | ")} |`;
  return [line(header), line(header.map(() => "---")), ...rows.map(line)].join("\n");
}

export function writeReport(path: string, text: string): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, text);
}

export function fixed(value: number, digits: number): string {
  return value.toFixed(digits);
}
