import { create } from "@bufbuild/protobuf";
import { InvalidArgument } from "@mnist/errors";
import { RunSpecSchema, type RunSpec } from "@mnist/protocol";
import { costs, specDefaults } from "@mnist/core";
import { activationByName, costByName, evalSetByName, initByName, presets, resolveRunSpec, runDefaults, stoppingMetricByName, type AugmentSettings, type ResolvedRunSpec } from "@mnist/spec";
import { UsageError } from "./errors.js";
import { FlagReader, type FlagValues } from "./flags.js";

/** The hyper-parameter flags `train`, `run` and `sweep` share: one flag per RunSpec field. */
export const specFlags = {
  name: { type: "string" },
  sizes: { type: "string" },
  epochs: { type: "string" },
  mb: { type: "string" },
  eta: { type: "string" },
  lambda: { type: "string" },
  l1: { type: "string" },
  cost: { type: "string" },
  activation: { type: "string" },
  init: { type: "string" },
  dropout: { type: "string" },
  momentum: { type: "string" },
  nesterov: { type: "boolean" },
  "train-limit": { type: "string" },
  "eval-on": { type: "string" },
  monitor: { type: "string" },
  seed: { type: "string" },
  "early-stop": { type: "string" },
  "decay-after": { type: "string" },
  "decay-factor": { type: "string" },
  "min-eta-fraction": { type: "string" },
  "min-eta": { type: "string" },
  metric: { type: "string" },
  "min-delta": { type: "string" },
  cooldown: { type: "string" },
  "start-from-epoch": { type: "string" },
  "restore-best-on-decay": { type: "boolean" },
  augment: { type: "string" },
} as const;

export type SpecFlagValues = FlagValues<typeof specFlags>;

export const specFlagsHelp = [
  "network and training (defaults as the chapter's network2):",
  "  --sizes 784,30,10          layer sizes            --epochs 30          most epochs",
  "  --mb 10                    mini-batch size        --eta 0.5            learning rate",
  "  --lambda 0                 L2 regularisation      --l1 0               L1 regularisation",
  "  --cost cross-entropy|quadratic|log-likelihood    --activation sigmoid|tanh|relu",
  "  --init default|large       --dropout 0 (fraction of hidden units)   --momentum 0 [--nesterov]",
  "  --train-limit N            first N training images (0 = all 50,000)",
  "  --eval-on validation|test  --monitor eval-accuracy[,eval-cost,train-cost,train-accuracy,test-accuracy]",
  "  --seed 1                   fixes initialisation, shuffling, dropout and augmentation",
  "stopping and schedule (off unless set; judged on the evaluation data):",
  "  --early-stop N             stop after N epochs without a new best",
  "  --decay-after M            multiply eta by --decay-factor (0.5) after M epochs without one,",
  "                             stop once eta has fallen to --min-eta-fraction (1/1024) of its start",
  "                             or to --min-eta ETA, an absolute floor",
  "  --metric eval-accuracy|eval-cost   the figure the rules watch (accuracy: higher is better)",
  "  --min-delta D              a new best must beat the old by more than D",
  "  --cooldown C               epochs after a decay before the decay rule counts again",
  "  --start-from-epoch E       no stop or decay before epoch E",
  "  --restore-best-on-decay    on each decay, train on from the best epoch's weights",
  "augmentation: --augment ITEM[,ITEM...] from none, shifts (the chapter's 1-pixel expansion ×5),",
  "  affine, elastic (presets), rotate=DEG, translate=PX, skew=S, scale=F, elastic=ALPHA/SIGMA",
].join("\n");

const monitorNames = ["train-cost", "train-accuracy", "eval-cost", "eval-accuracy", "test-accuracy"] as const;
const stoppingMetricNames = ["eval-accuracy", "eval-cost"] as const;

// The flag behind each RunSpec field, so an InvalidArgument can name what the user typed.
const flagOfField: [RegExp, string][] = [
  [/^sizes/, "sizes"],
  [/^miniBatch$/, "mb"],
  [/^trainLimit$/, "train-limit"],
  [/^evalOn$/, "eval-on"],
  [/^stopping\.earlyStopPatience$/, "early-stop"],
  [/^stopping\.decayAfter$/, "decay-after"],
  [/^stopping\.decayFactor$/, "decay-factor"],
  [/^stopping\.minEtaFraction$/, "min-eta-fraction"],
  [/^stopping\.minEta$/, "min-eta"],
  [/^stopping\.metric$/, "metric"],
  [/^stopping\.minDelta$/, "min-delta"],
  [/^stopping\.cooldown$/, "cooldown"],
  [/^stopping\.startFromEpoch$/, "start-from-epoch"],
  [/^augment\./, "augment"],
];

export function flagForField(field: string): string {
  return flagOfField.find(([pattern]) => pattern.test(field))?.[1] ?? field;
}

/** Parses --augment's comma-separated items into the run spec's augmentation settings. */
export function parseAugment(reader: FlagReader, raw: string): Partial<AugmentSettings> {
  const settings: Partial<AugmentSettings> = {};
  const bad = (item: string): never =>
    reader.fail("augment", raw, `comma-separated items from none, shifts, affine, elastic, rotate=DEG, translate=PX, skew=S, scale=F, elastic=ALPHA/SIGMA (bad item ${JSON.stringify(item)})`);
  const number = (item: string, text: string): number => {
    const value = Number(text);
    if (text.trim() === "" || !Number.isFinite(value)) bad(item);
    return value;
  };
  for (const item of raw.split(",").map((part) => part.trim())) {
    const [key, value] = item.split("=", 2) as [string, string | undefined];
    if (value === undefined) {
      if (key === "none") continue;
      if (key === "shifts") settings.expandShifts = true;
      else if (key === "affine" || key === "elastic") Object.assign(settings, withoutShifts(presets[key]));
      else bad(item);
    } else if (key === "rotate") Object.assign(settings, { rotateProbability: 1, rotateDegrees: number(item, value) });
    else if (key === "translate") Object.assign(settings, { translateProbability: 1, translatePixels: number(item, value) });
    else if (key === "skew") Object.assign(settings, { skewProbability: 1, skew: number(item, value) });
    else if (key === "scale") Object.assign(settings, { scaleProbability: 1, scale: number(item, value) });
    else if (key === "elastic") {
      const [alpha, sigma] = value.split("/");
      if (sigma === undefined) bad(item);
      Object.assign(settings, { elasticProbability: 1, elasticAlpha: number(item, alpha!), elasticSigma: number(item, sigma!) });
    } else bad(item);
  }
  return settings;
}

function withoutShifts({ expandShifts: _ignored, ...rest }: Readonly<AugmentSettings>): Partial<AugmentSettings> {
  return rest;
}

/** Builds the RunSpec message from the flags (syntax checked here, ranges by resolveRunSpec). */
export function runSpecFromFlags(command: string, values: SpecFlagValues): RunSpec {
  const reader = new FlagReader(command);
  const monitor = reader.choices("monitor", values.monitor, monitorNames);
  const earlyStop = reader.integer("early-stop", values["early-stop"]);
  const decayAfter = reader.integer("decay-after", values["decay-after"]);
  const negative = (flag: string, value: number | undefined) => {
    if (value !== undefined && value < 0) reader.fail(flag, String(value), "a whole number of at least 0");
    return value;
  };
  return create(RunSpecSchema, {
    name: values.name ?? "",
    sizes: values.sizes === undefined ? [] : reader.integers("sizes", values.sizes)!.map((size) => negative("sizes", size)!),
    activation: activationByName[reader.choice("activation", values.activation, ["sigmoid", "tanh", "relu"] as const) ?? "sigmoid"],
    cost: costByName[reader.choice("cost", values.cost, costs) ?? specDefaults.cost],
    init: initByName[reader.choice("init", values.init, ["default", "large"] as const) ?? "default"],
    epochs: negative("epochs", reader.integer("epochs", values.epochs)),
    miniBatch: negative("mb", reader.integer("mb", values.mb)),
    eta: reader.number("eta", values.eta),
    lambda: reader.number("lambda", values.lambda) ?? 0,
    l1: reader.number("l1", values.l1) ?? 0,
    dropout: reader.number("dropout", values.dropout) ?? 0,
    momentum: reader.number("momentum", values.momentum) ?? 0,
    nesterov: values.nesterov ?? false,
    seed: reader.bigint("seed", values.seed),
    trainLimit: negative("train-limit", reader.integer("train-limit", values["train-limit"])) ?? 0,
    evalOn: evalSetByName[reader.choice("eval-on", values["eval-on"], ["validation", "test"] as const) ?? "validation"],
    monitor: monitor && {
      trainCost: monitor.includes("train-cost"),
      trainAccuracy: monitor.includes("train-accuracy"),
      evalCost: monitor.includes("eval-cost"),
      evalAccuracy: monitor.includes("eval-accuracy"),
      testAccuracy: monitor.includes("test-accuracy"),
    },
    stopping: {
      earlyStopPatience: negative("early-stop", earlyStop) ?? 0,
      decayAfter: negative("decay-after", decayAfter) ?? 0,
      decayFactor: reader.number("decay-factor", values["decay-factor"]),
      minEtaFraction: reader.number("min-eta-fraction", values["min-eta-fraction"]),
      minEta: reader.number("min-eta", values["min-eta"]) ?? 0,
      metric: stoppingMetricByName[reader.choice("metric", values.metric, stoppingMetricNames) ?? runDefaults.metric],
      minDelta: reader.number("min-delta", values["min-delta"]) ?? 0,
      cooldown: negative("cooldown", reader.integer("cooldown", values.cooldown)) ?? 0,
      startFromEpoch: negative("start-from-epoch", reader.integer("start-from-epoch", values["start-from-epoch"])) ?? 0,
      restoreBestOnDecay: values["restore-best-on-decay"] ?? false,
    },
    augment: values.augment === undefined ? undefined : parseAugment(reader, values.augment),
  });
}

/** Checks every field as the evaluator will; a bad one is a UsageError naming its flag. */
export function resolveFlagsSpec(command: string, spec: RunSpec): ResolvedRunSpec {
  try {
    return resolveRunSpec(spec);
  } catch (error) {
    if (error instanceof InvalidArgument) throw new UsageError(`mnistctl ${command}: --${flagForField(error.field)}: ${error.message}`);
    throw error;
  }
}
