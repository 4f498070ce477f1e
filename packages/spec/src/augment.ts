import type { AugmentSpec } from "@mnist/protocol";
import { InvalidArgument } from "@mnist/errors";

/** The fields of the protocol's AugmentSpec as a plain object; a protobuf AugmentSpec is one. */
export type AugmentSettings = Omit<AugmentSpec, "$typeName" | "$unknown">;

/** Plain MNIST: no expansion, every probability 0. */
export const noAugmentation: Readonly<AugmentSettings> = Object.freeze({
  expandShifts: false,
  rotateProbability: 0,
  rotateDegrees: 0,
  translateProbability: 0,
  translatePixels: 0,
  skewProbability: 0,
  skew: 0,
  scaleProbability: 0,
  scale: 0,
  elasticProbability: 0,
  elasticAlpha: 0,
  elasticSigma: 0,
});

export type PresetName = "none" | "affine" | "elastic";

/**
 * What `mnistctl augment bench|preview --transform NAME` runs: "affine" rotates (within 15°),
 * translates (2 px), skews (0.3) and scales (10%) every image; "elastic" adds Simard's elastic
 * distortion (alpha 34, sigma 4) on top, all composed into one resampling pass.
 */
const affine: Readonly<AugmentSettings> = Object.freeze({
  ...noAugmentation,
  rotateProbability: 1,
  rotateDegrees: 15,
  translateProbability: 1,
  translatePixels: 2,
  skewProbability: 1,
  skew: 0.3,
  scaleProbability: 1,
  scale: 0.1,
});

export const presets: Readonly<Record<PresetName, Readonly<AugmentSettings>>> = Object.freeze({
  none: noAugmentation,
  affine,
  elastic: Object.freeze({ ...affine, elasticProbability: 1, elasticAlpha: 34, elasticSigma: 4 }),
});

/** A complete settings object from a partial one (missing fields are off). */
export function augmentSettings(partial: Partial<AugmentSettings> = {}): AugmentSettings {
  return { ...noAugmentation, ...partial };
}

/** The ranges each field may take (the same as the run spec's). */
export const augmentRanges = {
  rotateDegrees: { min: 0, max: 180, allowed: "degrees from 0 to 180" },
  translatePixels: { min: 0, max: 14, allowed: "pixels from 0 to 14" },
  skew: { min: 0, max: 2, allowed: "a shear factor from 0 to 2" },
  scale: { min: 0, max: 0.9, allowed: "a fraction from 0 to 0.9" },
  elasticAlpha: { min: 0, max: 200, allowed: "a displacement scale from 0 to 200" },
  elasticSigma: { min: 0, max: 30, allowed: "a smoothing sigma from 0 to 30" },
} as const;

const probabilityFields = ["rotateProbability", "translateProbability", "skewProbability", "scaleProbability", "elasticProbability"] as const;

/**
 * Checks every field; the first bad one throws an InvalidArgument naming it (prefixed
 * with `prefix`, such as "augment."). Returns a plain copy.
 */
export function checkAugmentSettings(spec: AugmentSettings | undefined, prefix = "augment."): AugmentSettings {
  if (spec === undefined || spec === null) return { ...noAugmentation };
  if (typeof spec !== "object") throw new InvalidArgument(prefix.replace(/\.$/, ""), spec, "an AugmentSpec object");
  const settings = augmentSettings(pick(spec));
  if (typeof settings.expandShifts !== "boolean") throw new InvalidArgument(`${prefix}expandShifts`, settings.expandShifts, "true or false");
  for (const field of probabilityFields) check(`${prefix}${field}`, settings[field], 0, 1, "a probability from 0 to 1");
  for (const [field, range] of Object.entries(augmentRanges) as [keyof typeof augmentRanges, (typeof augmentRanges)[keyof typeof augmentRanges]][]) {
    check(`${prefix}${field}`, settings[field], range.min, range.max, range.allowed);
  }
  if (settings.elasticProbability > 0 && settings.elasticAlpha > 0 && settings.elasticSigma <= 0) {
    throw new InvalidArgument(`${prefix}elasticSigma`, settings.elasticSigma, "greater than 0 when elastic distortion is on");
  }
  return settings;
}

/** Examples per epoch: the training images, times 5 with the shift expansion. */
export function epochSize(trainingImages: number, spec: AugmentSettings | undefined): number {
  return spec?.expandShifts ? trainingImages * 5 : trainingImages;
}

/** True when the settings change nothing (plain MNIST). */
export function isIdentity(spec: AugmentSettings | undefined): boolean {
  if (!spec) return true;
  return !spec.expandShifts && probabilityFields.every((field) => spec[field] === 0);
}

/**
 * The settings as `--augment` items (what `mnistctl run --augment` parses back to the same
 * settings): "none", a preset's name, or the transforms one by one ("rotate=10,elastic=34/6"),
 * "shifts" first when the expansion is on. A transform with a probability other than 1 cannot be
 * written as a flag and is shown as "rotate=15@0.5".
 */
export function augmentLabel(spec: AugmentSettings | undefined): string {
  const settings = augmentSettings(spec ? pick(spec) : {});
  const items = settings.expandShifts ? ["shifts"] : [];
  const rest = { ...settings, expandShifts: false };
  const preset = (["affine", "elastic"] as const).find((name) => probabilityFields.every((field) => sameTransform(presets[name], rest, field)));
  if (preset) return [...items, preset].join(",");
  const at = (probability: number) => (probability === 1 ? "" : `@${probability}`);
  // The affine preset with an elastic field of its own: "affine,elastic=34/6", as the flag is written.
  const affineFields = probabilityFields.filter((field) => field !== "elasticProbability");
  if (settings.elasticProbability > 0 && affineFields.every((field) => sameTransform(presets.affine, rest, field))) {
    return [...items, "affine", `elastic=${settings.elasticAlpha}/${settings.elasticSigma}${at(settings.elasticProbability)}`].join(",");
  }
  if (settings.rotateProbability > 0) items.push(`rotate=${settings.rotateDegrees}${at(settings.rotateProbability)}`);
  if (settings.translateProbability > 0) items.push(`translate=${settings.translatePixels}${at(settings.translateProbability)}`);
  if (settings.skewProbability > 0) items.push(`skew=${settings.skew}${at(settings.skewProbability)}`);
  if (settings.scaleProbability > 0) items.push(`scale=${settings.scale}${at(settings.scaleProbability)}`);
  if (settings.elasticProbability > 0) items.push(`elastic=${settings.elasticAlpha}/${settings.elasticSigma}${at(settings.elasticProbability)}`);
  return items.length === 0 ? "none" : items.join(",");
}

/** The parameters each transform's probability switches on. */
const transformParameters: Record<(typeof probabilityFields)[number], (keyof AugmentSettings)[]> = {
  rotateProbability: ["rotateDegrees"],
  translateProbability: ["translatePixels"],
  skewProbability: ["skew"],
  scaleProbability: ["scale"],
  elasticProbability: ["elasticAlpha", "elasticSigma"],
};

/** True when the transform is off in both, or on with the same probability and parameters. */
function sameTransform(a: Readonly<AugmentSettings>, b: Readonly<AugmentSettings>, field: (typeof probabilityFields)[number]): boolean {
  if (a[field] !== b[field]) return false;
  return a[field] === 0 || transformParameters[field].every((parameter) => a[parameter] === b[parameter]);
}

function pick(spec: AugmentSettings): AugmentSettings {
  return {
    expandShifts: spec.expandShifts ?? false,
    rotateProbability: spec.rotateProbability ?? 0,
    rotateDegrees: spec.rotateDegrees ?? 0,
    translateProbability: spec.translateProbability ?? 0,
    translatePixels: spec.translatePixels ?? 0,
    skewProbability: spec.skewProbability ?? 0,
    skew: spec.skew ?? 0,
    scaleProbability: spec.scaleProbability ?? 0,
    scale: spec.scale ?? 0,
    elasticProbability: spec.elasticProbability ?? 0,
    elasticAlpha: spec.elasticAlpha ?? 0,
    elasticSigma: spec.elasticSigma ?? 0,
  };
}

function check(field: string, value: unknown, min: number, max: number, allowed: string): void {
  if (typeof value !== "number" || !Number.isFinite(value) || value < min || value > max) throw new InvalidArgument(field, value, allowed);
}
