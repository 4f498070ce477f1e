import type { Command } from "../command.js";
import { applyCommand } from "./apply.js";
import { completionCommand } from "./completion.js";
import { augmentCommand } from "./augment.js";
import { evaluateCommand } from "./evaluate.js";
import { exportCommand } from "./export.js";
import { healthCommand } from "./health.js";
import { plotCommand } from "./plot.js";
import { predictCommand } from "./predict.js";
import { runCommand } from "./run.js";
import { setCommand } from "./set.js";
import { deleteCommand, describeCommand, getCommand, logsCommand } from "./objects.js";
import { listCommand, pauseRunCommand, resumeRunCommand, setLearningRateCommand, stopCommand, watchCommand } from "./runs.js";
import { sweepCommand } from "./sweep.js";
import { trainCommand } from "./train.js";
import { upCommand } from "./up.js";

/** Every command, in the order `--help` lists them. */
export const commands: Command[] = [
  upCommand,
  trainCommand,
  evaluateCommand,
  augmentCommand,
  runCommand,
  applyCommand,
  listCommand,
  getCommand,
  describeCommand,
  logsCommand,
  watchCommand,
  stopCommand,
  pauseRunCommand,
  resumeRunCommand,
  deleteCommand,
  setCommand,
  setLearningRateCommand,
  sweepCommand,
  predictCommand,
  exportCommand,
  plotCommand,
  healthCommand,
];
commands.push(completionCommand(() => commands));
