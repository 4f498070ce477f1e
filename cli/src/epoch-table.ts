import { fixed, percent, type Column } from "./table.js";

/** The figures an epoch may have, each shown only by the tables that have it. */
export type EpochFigure = "valAccuracy" | "valCost" | "trainCost" | "trainAccuracy" | "testAccuracy";

/**
 * An epoch as a table row: `mnistctl train`'s report or a cluster run's metrics, with the same
 * names (valAccuracy and valCost: the evaluation set's, validation unless --eval-on test).
 */
export type EpochRow = { epoch: number; eta: number; trainSeconds: number; imagesPerSecond: number; decision: string; restoreEpoch?: number } & Partial<Record<EpochFigure, number>>;

const columns: [figure: EpochFigure | undefined, column: Column<EpochRow>][] = [
  [undefined, ["epoch", 5, (r) => String(r.epoch)]],
  [undefined, ["eta", 11, (r) => String(Number(r.eta.toPrecision(6)))]],
  [undefined, ["train s", 8, (r) => fixed(r.trainSeconds, 3)]],
  [undefined, ["images/s", 9, (r) => String(Math.round(r.imagesPerSecond))]],
  ["valAccuracy", ["val acc", 8, (r) => percent(r.valAccuracy)]],
  ["valCost", ["val cost", 8, (r) => fixed(r.valCost, 4)]],
  ["trainCost", ["train cost", 10, (r) => fixed(r.trainCost, 4)]],
  ["trainAccuracy", ["train acc", 9, (r) => percent(r.trainAccuracy)]],
  ["testAccuracy", ["test acc", 8, (r) => percent(r.testAccuracy)]],
  // A decay that goes back to the best epoch's weights says which: "decay-eta, from 12".
  [undefined, ["decision", 9, (r) => (r.restoreEpoch === undefined ? r.decision : `${r.decision}, from ${r.restoreEpoch}`), "left"]],
];

/**
 * The epoch table's columns, in the one order every epoch table prints them: epoch, eta, timing
 * and decision always, each figure when `shows` says the table has it.
 */
export function epochColumns(shows: (figure: EpochFigure) => boolean): Column<EpochRow>[] {
  return columns.filter(([figure]) => figure === undefined || shows(figure)).map(([, column]) => column);
}
