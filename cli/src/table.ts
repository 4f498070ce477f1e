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

/** A column of a table printed row by row as results arrive: fixed width, right-aligned unless "left" (text of any length, last). */
export type Column<T> = [header: string, width: number, cell: (row: T) => string, align?: "left"];

const pad = (text: string, width: number, align?: "left") => (align === "left" ? text.padEnd(width) : text.padStart(width));

export function headerLine<T>(columns: Column<T>[]): string {
  return columns.map(([header, width, , align]) => pad(header, width, align)).join("  ").trimEnd();
}

export function rowLine<T>(columns: Column<T>[], row: T): string {
  return columns.map(([, width, cell, align]) => pad(cell(row), width, align)).join("  ").trimEnd();
}

/** A duration for people: "45 s", "12 min", "2 h 5 min". */
export function duration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return "?";
  if (seconds < 90) return `${Math.round(seconds)} s`;
  if (seconds < 5400) return `${Math.round(seconds / 60)} min`;
  return `${Math.floor(seconds / 3600)} h ${Math.round((seconds % 3600) / 60)} min`;
}
