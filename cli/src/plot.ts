import sharp from "sharp";

/**
 * Learning curves in the manner of the chapter's figures: cost per epoch and accuracy per epoch,
 * training data against held-out data, with the learning-rate schedule marked. Hand-written SVG so
 * that the same records always give the same bytes; PNG goes through sharp (librsvg).
 */

/** One epoch of a run; a field is absent when it was not monitored. Accuracies are fractions. */
export interface EpochRecord {
  epoch: number;
  /** The learning rate the epoch trained with. */
  eta: number;
  trainCost?: number;
  trainAccuracy?: number;
  /** The evaluation set's (validation unless the run evaluated on the test set). */
  valCost?: number;
  valAccuracy?: number;
  testAccuracy?: number;
}

export interface PlotOptions {
  /** Run name or id, shown at the top. */
  title?: string;
  width?: number;
  height?: number;
}

export const plotDefaults = { title: "learning curves", width: 1000, height: 440 } as const;

/** Records that cannot be drawn: the caller's input, so the CLI reports it as a usage error. */
export class PlotInputError extends Error {
  override readonly name = "PlotInputError";
}

type MetricField = Exclude<keyof EpochRecord, "epoch" | "eta">;

interface Series {
  field: MetricField;
  label: string;
  colour: string;
}

// One colour per data set in both panels, so the legend reads the same on either side.
const training = "#1f77b4", validation = "#ff7f0e", test = "#2ca02c";

const costSeries: Series[] = [
  { field: "trainCost", label: "training data", colour: training },
  { field: "valCost", label: "validation data", colour: validation },
];
const accuracySeries: Series[] = [
  { field: "trainAccuracy", label: "training data", colour: training },
  { field: "valAccuracy", label: "validation data", colour: validation },
  { field: "testAccuracy", label: "test data", colour: test },
];
const metricFields = [...costSeries, ...accuracySeries].map((series) => series.field);

/** Above this many epochs the points are joined by lines only; markers would blur into them. */
const MARKERS_UP_TO = 40;
const FONT = "DejaVu Sans, Helvetica, Arial, sans-serif";

export function escapeXml(text: string): string {
  // XML 1.0 forbids most control characters even when escaped; librsvg rejects the whole file.
  return text
    .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]/g, "\ufffd")
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;")
    .replace(/'/g, "&#39;");
}

/** Coordinates with at most two decimals and no trailing zeros: short, and stable across runs. */
function n(value: number): string {
  return String(Number(value.toFixed(2)));
}

/** η as it was set: a handful of significant digits, no float noise. */
export function formatEta(eta: number): string {
  return String(Number(eta.toPrecision(4)));
}

function describe(record: unknown, index: number): string {
  const epoch = typeof record === "object" && record !== null ? (record as { epoch?: unknown }).epoch : undefined;
  return typeof epoch === "number" ? `epoch ${epoch}` : `record ${index}`;
}

/** Checked copies sorted by epoch; non-finite metrics (a diverged epoch) become gaps. */
function checkRecords(curves: readonly EpochRecord[]): EpochRecord[] {
  if (!Array.isArray(curves) || curves.length === 0) throw new PlotInputError("no epoch records to plot");
  const seen = new Set<number>();
  const records = curves.map((record, index) => {
    const where = describe(record, index);
    if (typeof record !== "object" || record === null) throw new PlotInputError(`${where}: expected an object with epoch and eta`);
    const { epoch, eta } = record;
    if (typeof epoch !== "number" || !Number.isInteger(epoch) || epoch < 0) throw new PlotInputError(`${where}: epoch is ${JSON.stringify(epoch)}; expected a whole number from 0`);
    if (seen.has(epoch)) throw new PlotInputError(`epoch ${epoch} appears twice; plot one run at a time`);
    seen.add(epoch);
    if (typeof eta !== "number" || !Number.isFinite(eta) || eta <= 0) throw new PlotInputError(`${where}: eta is ${JSON.stringify(eta)}; expected a learning rate greater than 0`);
    const checked: EpochRecord = { epoch, eta };
    for (const field of metricFields) {
      const value = record[field];
      if (value === undefined) continue;
      if (typeof value !== "number") throw new PlotInputError(`${where}: ${field} is ${JSON.stringify(value)}; expected a number`);
      if (!Number.isFinite(value)) continue;
      if (field.endsWith("Accuracy") && (value < 0 || value > 1)) throw new PlotInputError(`${where}: ${field} is ${value}; accuracies are fractions from 0 to 1`);
      checked[field] = value;
    }
    return checked;
  });
  records.sort((a, b) => a.epoch - b.epoch);
  if (!records.some((record) => metricFields.some((field) => record[field] !== undefined))) {
    throw new PlotInputError("the records carry no cost or accuracy: nothing to plot (monitor cost or accuracy while training)");
  }
  return records;
}

interface Axis {
  lo: number;
  hi: number;
  ticks: number[];
  decimals: number;
}

/** 1, 2 or 5 times a power of ten, giving about `target` intervals over span. */
function niceStep(span: number, target: number): number {
  const rough = span / target;
  const magnitude = 10 ** Math.floor(Math.log10(rough));
  const ratio = rough / magnitude;
  return (ratio <= 1 ? 1 : ratio <= 2 ? 2 : ratio <= 5 ? 5 : 10) * magnitude;
}

function decimalsOf(step: number): number {
  return Math.max(0, -Math.floor(Math.log10(step) + 1e-9));
}

/** Ticks at whole multiples of the step, computed from integers so no float noise reaches the labels. */
function ticksBetween(lo: number, hi: number, step: number): number[] {
  const ticks: number[] = [];
  const first = Math.ceil(lo / step - 1e-9), last = Math.floor(hi / step + 1e-9);
  const decimals = decimalsOf(step);
  for (let k = first; k <= last; k++) ticks.push(Number((k * step).toFixed(decimals)));
  return ticks;
}

/** Epochs: the exact range of the run with whole-number ticks; one epoch sits in the middle. */
function epochAxis(records: EpochRecord[]): Axis {
  const first = records[0]!.epoch, last = records.at(-1)!.epoch;
  const [lo, hi] = first === last ? [first - 0.5, first + 0.5] : [first, last];
  const step = Math.max(1, niceStep(hi - lo, 8));
  return { lo, hi, ticks: ticksBetween(lo, hi, step), decimals: 0 };
}

/**
 * Values: padded a little so no point lies on the frame, then widened to whole ticks, but never
 * past what the quantity allows (cost ≥ 0, accuracy ≤ 100 %), where points may touch the frame.
 */
function valueAxis(values: number[], bounds: { min?: number; max?: number }): Axis {
  let lo = Math.min(...values), hi = Math.max(...values);
  const pad = hi - lo > 1e-9 ? 0.04 * (hi - lo) : Math.abs(lo) > 1e-9 ? Math.abs(lo) * 0.05 : 0.5;
  lo -= pad;
  hi += pad;
  if (bounds.min !== undefined) lo = Math.max(lo, bounds.min);
  if (bounds.max !== undefined) hi = Math.min(hi, bounds.max);
  const step = niceStep(hi - lo, 5);
  const decimals = decimalsOf(step);
  lo = Number((Math.floor(lo / step + 1e-9) * step).toFixed(decimals));
  hi = Number((Math.ceil(hi / step - 1e-9) * step).toFixed(decimals));
  return { lo, hi, ticks: ticksBetween(lo, hi, step), decimals };
}

interface Frame {
  left: number;
  top: number;
  width: number;
  height: number;
}

interface Panel {
  name: string;
  heading: string;
  yLabel: string;
  series: Series[];
  /** Display value of a stored one (accuracy fraction → percent). */
  scale: number;
  /** What the displayed quantity can reach. */
  bounds: { min?: number; max?: number };
}

interface EtaChange {
  /** Midway between the last epoch at the old η and the first at the new one. */
  at: number;
  eta: number;
}

function etaChanges(records: EpochRecord[]): EtaChange[] {
  const changes: EtaChange[] = [];
  for (let i = 1; i < records.length; i++) {
    const before = records[i - 1]!, after = records[i]!;
    if (after.eta !== before.eta) changes.push({ at: (before.epoch + after.epoch) / 2, eta: after.eta });
  }
  return changes;
}

function monitored(records: EpochRecord[], series: Series[]): Series[] {
  return series.filter((one) => records.some((record) => record[one.field] !== undefined));
}

interface LegendEntry {
  label: string;
  colour: string;
  dashed: boolean;
}

const LEGEND_ROW = 18;

/**
 * One legend for both panels (a data set has the same colour in each), in rows under the axis
 * labels. Entry widths are estimated from the label length: there are no font metrics here.
 */
function legendRows(entries: LegendEntry[], width: number): LegendEntry[][] {
  const rows: LegendEntry[][] = [[]];
  let used = 0;
  for (const entry of entries) {
    const size = legendEntryWidth(entry);
    if (used > 0 && used + size > width) {
      rows.push([]);
      used = 0;
    }
    rows.at(-1)!.push(entry);
    used += size;
  }
  return rows;
}

function legendEntryWidth(entry: LegendEntry): number {
  return 30 + entry.label.length * 7 + 22;
}

function drawLegend(rows: LegendEntry[][], left: number, top: number): string {
  const out: string[] = [`<g class="legend">`];
  rows.forEach((row, index) => {
    let x = left;
    const y = top + index * LEGEND_ROW;
    for (const entry of row) {
      const dash = entry.dashed ? ` stroke-dasharray="5 4"` : ` stroke-width="2.5"`;
      out.push(`<line x1="${n(x)}" y1="${n(y - 4)}" x2="${n(x + 24)}" y2="${n(y - 4)}" stroke="${entry.colour}"${dash}/>`);
      out.push(text(x + 30, y, entry.label, `font-size="12"`));
      x += legendEntryWidth(entry);
    }
  });
  out.push("</g>");
  return out.join("\n");
}

function text(x: number, y: number, content: string, attributes = ""): string {
  return `<text x="${n(x)}" y="${n(y)}"${attributes ? ` ${attributes}` : ""}>${escapeXml(content)}</text>`;
}

function drawPanel(records: EpochRecord[], panel: Panel, frame: Frame, xAxis: Axis, changes: EtaChange[]): string {
  const { left, top, width, height } = frame;
  const bottom = top + height, right = left + width;
  const present = monitored(records, panel.series);
  const out: string[] = [`<g class="panel" data-panel="${panel.name}">`];
  out.push(text(left + width / 2, top - 10, panel.heading, `text-anchor="middle" font-size="14" font-weight="bold"`));
  out.push(`<rect x="${n(left)}" y="${n(top)}" width="${n(width)}" height="${n(height)}" fill="none" stroke="#333" stroke-width="1"/>`);

  const x = (epoch: number) => left + ((epoch - xAxis.lo) / (xAxis.hi - xAxis.lo)) * width;
  for (const tick of xAxis.ticks) {
    out.push(`<line x1="${n(x(tick))}" y1="${n(bottom)}" x2="${n(x(tick))}" y2="${n(bottom + 5)}" stroke="#333"/>`);
    out.push(text(x(tick), bottom + 18, tick.toFixed(xAxis.decimals), `text-anchor="middle" font-size="11"`));
  }
  out.push(text(left + width / 2, bottom + 38, "epoch", `text-anchor="middle" font-size="12"`));
  const yLabelX = left - 52, yLabelY = top + height / 2;
  out.push(text(yLabelX, yLabelY, panel.yLabel, `text-anchor="middle" font-size="12" transform="rotate(-90 ${n(yLabelX)} ${n(yLabelY)})"`));

  if (present.length === 0) {
    out.push(text(left + width / 2, top + height / 2, "not monitored", `text-anchor="middle" font-size="13" fill="#888"`));
  } else {
    const values = present.flatMap((series) => records.flatMap((record) => (record[series.field] === undefined ? [] : [record[series.field]! * panel.scale])));
    const yAxis = valueAxis(values, panel.bounds);
    const y = (value: number) => bottom - ((value - yAxis.lo) / (yAxis.hi - yAxis.lo)) * height;
    for (const tick of yAxis.ticks) {
      out.push(`<line x1="${n(left)}" y1="${n(y(tick))}" x2="${n(right)}" y2="${n(y(tick))}" stroke="#e4e4e4"/>`);
      out.push(`<line x1="${n(left - 5)}" y1="${n(y(tick))}" x2="${n(left)}" y2="${n(y(tick))}" stroke="#333"/>`);
      out.push(text(left - 8, y(tick) + 4, tick.toFixed(yAxis.decimals), `text-anchor="end" font-size="11"`));
    }
    for (const series of present) out.push(drawSeries(records, series, panel.scale, x, y));
  }

  for (const change of changes) {
    const at = x(change.at);
    out.push(`<line class="eta-change" data-eta="${formatEta(change.eta)}" x1="${n(at)}" y1="${n(top)}" x2="${n(at)}" y2="${n(bottom)}" stroke="#777" stroke-width="1" stroke-dasharray="5 4"/>`);
    const labelX = at - 4, labelY = top + 6;
    out.push(text(labelX, labelY, `η = ${formatEta(change.eta)}`, `class="eta-label" text-anchor="end" font-size="11" fill="#555" transform="rotate(-90 ${n(labelX)} ${n(labelY)})"`));
  }

  out.push("</g>");
  return out.join("\n");
}

/** Lines through consecutive monitored epochs; a missing epoch breaks the line. */
function drawSeries(records: EpochRecord[], series: Series, scale: number, x: (epoch: number) => number, y: (value: number) => number): string {
  const segments: string[][] = [];
  let current: string[] | undefined;
  const points: string[] = [];
  for (const record of records) {
    const value = record[series.field];
    if (value === undefined) {
      current = undefined;
      continue;
    }
    const point = `${n(x(record.epoch))},${n(y(value * scale))}`;
    if (!current) segments.push((current = []));
    current.push(point);
    points.push(point);
  }
  const out = [`<g class="series" data-series="${series.field}" stroke="${series.colour}" fill="${series.colour}">`];
  for (const segment of segments) if (segment.length > 1) out.push(`<polyline points="${segment.join(" ")}" fill="none" stroke-width="2"/>`);
  const markers = records.length <= MARKERS_UP_TO ? points : segments.filter((segment) => segment.length === 1).flat();
  for (const point of markers) {
    const [cx, cy] = point.split(",");
    out.push(`<circle cx="${cx}" cy="${cy}" r="2.5"/>`);
  }
  out.push("</g>");
  return out.join("\n");
}

export function learningCurvesSvg(curves: readonly EpochRecord[], options: PlotOptions = {}): string {
  const records = checkRecords(curves);
  const width = options.width ?? plotDefaults.width, height = options.height ?? plotDefaults.height;
  if (!Number.isInteger(width) || width < 400 || width > 10_000) throw new PlotInputError(`width ${width}: expected a whole number of pixels from 400 to 10000`);
  if (!Number.isInteger(height) || height < 250 || height > 10_000) throw new PlotInputError(`height ${height}: expected a whole number of pixels from 250 to 10000`);
  const title = options.title ?? plotDefaults.title;
  const shortTitle = title.length > 120 ? `${title.slice(0, 119)}…` : title;
  const xAxis = epochAxis(records);
  const changes = etaChanges(records);
  const first = records[0]!, last = records.at(-1)!;
  const subtitle =
    (first === last ? `epoch ${first.epoch}` : `epochs ${first.epoch}–${last.epoch}`) +
    `; η = ${formatEta(first.eta)}` +
    (changes.length === 0 ? " throughout" : `, changed ${changes.length} time${changes.length === 1 ? "" : "s"}, finally ${formatEta(last.eta)}`);

  const panels: Panel[] = [
    { name: "cost", heading: "Cost per epoch", yLabel: "cost", series: costSeries, scale: 1, bounds: { min: 0 } },
    { name: "accuracy", heading: "Accuracy per epoch", yLabel: "accuracy (%)", series: accuracySeries, scale: 100, bounds: { min: 0, max: 100 } },
  ];
  const entries: LegendEntry[] = [];
  for (const series of monitored(records, [...costSeries, ...accuracySeries])) {
    if (!entries.some((entry) => entry.label === series.label)) entries.push({ label: series.label, colour: series.colour, dashed: false });
  }
  if (changes.length > 0) entries.push({ label: "η changed", colour: "#777", dashed: true });

  const margin = { left: 72, right: 24, top: 84 };
  const rows = legendRows(entries, width - margin.left - margin.right);
  // Under each frame: tick labels, the axis label, then the legend rows.
  const frameHeight = height - margin.top - 52 - rows.length * LEGEND_ROW;
  const panelWidth = width / 2;
  const frame = (index: number): Frame => ({ left: index * panelWidth + margin.left, top: margin.top, width: panelWidth - margin.left - margin.right, height: frameHeight });
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="${FONT}">`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
    // A bold 18 px glyph is about 11 px wide: a longer title is set smaller so that it fits the width.
    text(width / 2, 28, shortTitle, `class="title" text-anchor="middle" font-size="${Math.max(10, Math.min(18, Math.floor((width - 40) / (shortTitle.length * 0.62))))}" font-weight="bold"`),
    text(width / 2, 48, subtitle, `text-anchor="middle" font-size="12" fill="#555"`),
    ...panels.map((panel, index) => drawPanel(records, panel, frame(index), xAxis, changes)),
    drawLegend(rows, margin.left, margin.top + frameHeight + 62),
    "</svg>",
    "",
  ].join("\n");
}

/** Writes the curves as a PNG of the SVG's size. */
export async function renderLearningCurves(curves: readonly EpochRecord[], outPath: string, options: PlotOptions = {}): Promise<void> {
  await sharp(Buffer.from(learningCurvesSvg(curves, options))).png().toFile(outPath);
}
