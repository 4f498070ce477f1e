// Learning curves with uPlot: x is the epoch, each series one figure; η's changes drawn as the
// chapter's figures mark them, a dashed vertical line at the first epoch trained with the new η.

export const palette = ["#2f6fde", "#d9480f", "#1a7f4b", "#8e44ad", "#c2362f", "#0b7285", "#a86400", "#5c7cfa", "#e64980", "#495057"];

export interface SeriesSpec {
  label: string;
  color: string;
  /** One value per x, null where the figure was not measured. */
  values: (number | null)[];
  dash?: number[];
}

export interface Marker {
  x: number;
  label: string;
}

export interface ChartSpec {
  title: string;
  yLabel: string;
  /** Shown as "98.50 %" rather than "0.985". */
  percent?: boolean;
  x: number[];
  series: SeriesSpec[];
  markers?: Marker[];
}

/** A chart that keeps its uPlot instance and takes new data as epochs arrive. */
export class LineChart {
  private plot: uPlot | undefined;
  private markers: Marker[] = [];
  private shape = "";

  constructor(private readonly container: HTMLElement) {}

  update(spec: ChartSpec): void {
    this.markers = spec.markers ?? [];
    const shape = `${spec.title}|${spec.series.map((series) => series.label).join("|")}`;
    const data = [spec.x, ...spec.series.map((series) => series.values.map((value) => (value === null ? null : spec.percent ? value * 100 : value)))] as uPlot.AlignedData;
    this.container.dataset.points = String(spec.x.length);
    if (this.plot && shape === this.shape) {
      this.plot.setData(data);
      return;
    }
    this.plot?.destroy();
    this.shape = shape;
    this.plot = new uPlot(this.options(spec), data, this.container);
  }

  resize(): void {
    if (this.plot) this.plot.setSize({ width: this.width(), height: 300 });
  }

  destroy(): void {
    this.plot?.destroy();
    this.plot = undefined;
  }

  private width(): number {
    return Math.max(320, this.container.clientWidth || 600);
  }

  private options(spec: ChartSpec): uPlot.Options {
    const format = (value: number | null) => (value === null ? "–" : spec.percent ? `${value.toFixed(2)} %` : value.toPrecision(4));
    return {
      width: this.width(),
      height: 300,
      title: spec.title,
      scales: { x: { time: false } },
      axes: [
        { label: "epoch", stroke: "#667085", grid: { stroke: "#eef0f4" } },
        { label: spec.yLabel, stroke: "#667085", grid: { stroke: "#eef0f4" }, size: 60, values: (_plot, ticks) => ticks.map((tick) => (spec.percent ? `${tick.toFixed(1)}` : String(Number(tick.toPrecision(3))))) },
      ],
      series: [
        { label: "epoch" },
        ...spec.series.map((series) => ({ label: series.label, stroke: series.color, width: 1.6, dash: series.dash, spanGaps: true, points: { show: spec.x.length < 60, size: 4 }, value: (_plot: uPlot, value: number | null) => format(value) })),
      ],
      hooks: { draw: [(plot: uPlot) => this.drawMarkers(plot)] },
    };
  }

  /** η's changes: a dashed line and its new value at each marker's epoch. */
  private drawMarkers(plot: uPlot): void {
    const context = plot.ctx;
    const { top, height } = plot.bbox;
    context.save();
    context.strokeStyle = "#a86400";
    context.fillStyle = "#a86400";
    context.setLineDash([5, 4]);
    context.lineWidth = devicePixelRatio;
    context.font = `${11 * devicePixelRatio}px system-ui, sans-serif`;
    // Labels go in the first of three rows where they do not overlap the last one there; with no room, only the line.
    const rowEnds = [-Infinity, -Infinity, -Infinity];
    for (const marker of this.markers) {
      const x = Math.round(plot.valToPos(marker.x, "x", true));
      if (!Number.isFinite(x)) continue;
      context.beginPath();
      context.moveTo(x, top);
      context.lineTo(x, top + height);
      context.stroke();
      const start = x + 3 * devicePixelRatio;
      const row = rowEnds.findIndex((end) => end < start);
      if (row < 0) continue;
      context.fillText(marker.label, start, top + (12 + row * 13) * devicePixelRatio);
      rowEnds[row] = start + context.measureText(marker.label).width + 8 * devicePixelRatio;
    }
    context.restore();
  }
}
