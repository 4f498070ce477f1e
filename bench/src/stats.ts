/** Small summaries of repeated measurements; inputs are never empty. */

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export function mean(values: readonly number[]): number {
  return values.reduce((sum, v) => sum + v, 0) / values.length;
}

/** Sample standard deviation (n − 1); 0 for a single value. */
export function stdev(values: readonly number[]): number {
  if (values.length < 2) return 0;
  const m = mean(values);
  return Math.sqrt(values.reduce((sum, v) => sum + (v - m) ** 2, 0) / (values.length - 1));
}

export interface Spread {
  n: number;
  mean: number;
  stdev: number;
  min: number;
  max: number;
}

export function spread(values: readonly number[]): Spread {
  return { n: values.length, mean: mean(values), stdev: stdev(values), min: Math.min(...values), max: Math.max(...values) };
}
