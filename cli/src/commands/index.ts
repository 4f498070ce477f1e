import type { Command } from "../command.js";
import { NotImplementedError } from "../errors.js";
import { augmentCommand } from "./augment.js";
import { evaluateCommand } from "./evaluate.js";
import { trainCommand } from "./train.js";

function notYet(name: string, summary: string, usage: string): Command {
  return {
    name,
    summary,
    usage,
    run: async () => {
      throw new NotImplementedError(name);
    },
  };
}

/** Every command, in the order `--help` lists them. */
export const commands: Command[] = [
  trainCommand,
  evaluateCommand,
  augmentCommand,
  notYet("run", "launch a run on the cluster (prints its id; --follow streams its epochs)", "mnistctl run --sizes 784,30,10 [flags] [--follow]"),
  notYet("list", "list runs", "mnistctl list [--json]"),
  notYet("get", "show one run", "mnistctl get ID [--json]"),
  notYet("watch", "stream a run's epochs until it ends", "mnistctl watch ID [--json]"),
  notYet("stop", "stop a run", "mnistctl stop ID [--reason TEXT]"),
  notYet("set-lr", "set a run's learning rate", "mnistctl set-lr ID ETA"),
  notYet("sweep", "grid or random search over eta, lambda, hidden sizes and mini-batch size", "mnistctl sweep --eta 0.1,0.5 --lambda 1,5 [flags]"),
  notYet("predict", "classify a PNG or JPEG digit", "mnistctl predict IMAGE (--model FILE | --run ID)"),
  notYet("export", "write a run's best network in the chapter's JSON format", "mnistctl export ID --out model.json"),
  notYet("plot", "draw a run's learning curves to PNG", "mnistctl plot ID --out curves.png"),
];
