/**
 * The chapter's experiments with the chapter's own settings (network2.SGD calls in
 * /work/shared/seed): every run is sigmoid, cross-entropy, mini-batch 10. Runs are separate from
 * the rows that read them, because one run answers several of the chapter's statements.
 */

export interface RunSettings {
  sizes: number[];
  eta: number;
  lambda: number;
  epochs: number;
  init: "default" | "large";
  evalOn: "test" | "validation";
  /** 0 = all 50,000 training images; 1000 = training_data[:1000]. */
  trainLimit: number;
}

export const runs = {
  ce30: { sizes: [784, 30, 10], eta: 0.5, lambda: 0, epochs: 30, init: "large", evalOn: "test", trainLimit: 0 },
  ce100: { sizes: [784, 100, 10], eta: 0.5, lambda: 0, epochs: 30, init: "large", evalOn: "test", trainLimit: 0 },
  overfit: { sizes: [784, 30, 10], eta: 0.5, lambda: 0, epochs: 400, init: "large", evalOn: "test", trainLimit: 1000 },
  overfitL2: { sizes: [784, 30, 10], eta: 0.5, lambda: 0.1, epochs: 400, init: "large", evalOn: "test", trainLimit: 1000 },
  l2: { sizes: [784, 30, 10], eta: 0.5, lambda: 5, epochs: 30, init: "large", evalOn: "test", trainLimit: 0 },
  l2h100: { sizes: [784, 100, 10], eta: 0.5, lambda: 5, epochs: 30, init: "large", evalOn: "validation", trainLimit: 0 },
  l2h100slow: { sizes: [784, 100, 10], eta: 0.1, lambda: 5, epochs: 60, init: "large", evalOn: "validation", trainLimit: 0 },
  initDefault: { sizes: [784, 30, 10], eta: 0.1, lambda: 5, epochs: 30, init: "default", evalOn: "validation", trainLimit: 0 },
  initLarge: { sizes: [784, 30, 10], eta: 0.1, lambda: 5, epochs: 30, init: "large", evalOn: "validation", trainLimit: 0 },
  trap: { sizes: [784, 30, 10], eta: 10, lambda: 1000, epochs: 30, init: "default", evalOn: "validation", trainLimit: 0 },
} as const satisfies Record<string, RunSettings>;

export type RunName = keyof typeof runs;

/** Which epoch's accuracy a statement is about. */
export type Measure = "final" | "peak" | "epoch1";

/**
 * The chapter's figure, in percent: "=" a measured figure (95.49), "<" / ">" a bound ("under 87
 * percent"), "~" an approximate one ("almost 93 percent"; "no better than chance") with its tolerance.
 */
export interface ChapterFigure {
  relation: "=" | "<" | ">" | "~";
  percent: number;
  tolerance?: number;
}

export interface Row {
  experiment: string;
  run: RunName;
  measure: Measure;
  chapter: ChapterFigure;
}

export const rows: Row[] = [
  { experiment: "cross-entropy, 30 hidden", run: "ce30", measure: "final", chapter: { relation: "=", percent: 95.49 } },
  { experiment: "cross-entropy, 100 hidden", run: "ce100", measure: "final", chapter: { relation: "=", percent: 96.82 } },
  { experiment: "overfitting: first 1,000 images", run: "overfit", measure: "peak", chapter: { relation: "=", percent: 82.27 } },
  { experiment: "L2 on 1,000 images", run: "overfitL2", measure: "peak", chapter: { relation: "=", percent: 87.1 } },
  { experiment: "L2 on 50,000 images", run: "l2", measure: "final", chapter: { relation: "=", percent: 96.49 } },
  { experiment: "L2, 100 hidden", run: "l2h100", measure: "final", chapter: { relation: "=", percent: 97.92 } },
  { experiment: "L2, 100 hidden, η=0.1, 60 epochs", run: "l2h100slow", measure: "final", chapter: { relation: "=", percent: 98.04 } },
  { experiment: "1/√n_in init, after epoch 1", run: "initDefault", measure: "epoch1", chapter: { relation: "~", percent: 93, tolerance: 1 } },
  { experiment: "large init, after epoch 1", run: "initLarge", measure: "epoch1", chapter: { relation: "<", percent: 87 } },
  { experiment: "1/√n_in init, after 30 epochs", run: "initDefault", measure: "final", chapter: { relation: ">", percent: 96 } },
  { experiment: "large init, after 30 epochs", run: "initLarge", measure: "final", chapter: { relation: ">", percent: 96 } },
  { experiment: "hyper-parameter trap", run: "trap", measure: "final", chapter: { relation: "~", percent: 10, tolerance: 1.5 } },
];

export function describeRun(r: RunSettings): string {
  const data = r.trainLimit ? `first ${r.trainLimit.toLocaleString("en")} images` : "50,000 images";
  return `[${r.sizes.join(",")}] η=${r.eta} λ=${r.lambda} ${r.epochs} epochs, ${r.init} init, ${data}`;
}

export function describeMeasure(measure: Measure, evalOn: RunSettings["evalOn"]): string {
  const what = { final: "last epoch", peak: "peak", epoch1: "epoch 1" }[measure];
  return `${evalOn}, ${what}`;
}

export function describeFigure(f: ChapterFigure): string {
  const sign = { "=": "", "<": "< ", ">": "> ", "~": "~" }[f.relation];
  return `${sign}${f.percent}%`;
}
