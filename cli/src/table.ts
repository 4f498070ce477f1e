/** Columns padded to their widest cell; numbers right-aligned, text left-aligned. */
export function formatTable(headers: string[], rows: (string | number)[][]): string {
  const cells = [headers, ...rows.map((row) => row.map(String))];
  const widths = headers.map((_, column) => Math.max(...cells.map((row) => (row[column] ?? "").length)));
  const numeric = headers.map((_, column) => rows.length > 0 && rows.every((row) => typeof row[column] === "number" || /^[-+]?[\d.,%]+$/.test(String(row[column] ?? ""))));
  return cells
    .map((row) => row.map((cell, column) => (numeric[column] ? cell.padStart(widths[column]!) : cell.padEnd(widths[column]!))).join("  ").trimEnd())
    .join("\n");
}

export function percent(fraction: number | undefined, digits = 2): string {
  return fraction === undefined ? "" : `${(fraction * 100).toFixed(digits)}%`;
}

export function fixed(value: number | undefined, digits: number): string {
  return value === undefined ? "" : value.toFixed(digits);
}
