import { describe, expect, it } from "vitest";
import { augmentLabel, augmentSettings, presets } from "../src/index.js";

describe("augmentLabel", () => {
  it("names plain data, the presets and the shift expansion", () => {
    expect(augmentLabel(undefined)).toBe("none");
    expect(augmentLabel(presets.none)).toBe("none");
    expect(augmentLabel(presets.affine)).toBe("affine");
    expect(augmentLabel(presets.elastic)).toBe("elastic");
    expect(augmentLabel({ ...presets.affine, expandShifts: true })).toBe("shifts,affine");
    expect(augmentLabel(augmentSettings({ expandShifts: true }))).toBe("shifts");
  });

  it("lists transforms one by one when no preset matches, with a probability other than 1 after @", () => {
    expect(augmentLabel({ ...presets.elastic, elasticSigma: 6 })).toBe("affine,elastic=34/6");
    expect(augmentLabel({ ...presets.affine, rotateDegrees: 10 })).toBe("rotate=10,translate=2,skew=0.3,scale=0.1");
    expect(augmentLabel(augmentSettings({ rotateProbability: 0.5, rotateDegrees: 10 }))).toBe("rotate=10@0.5");
    expect(augmentLabel(augmentSettings({ elasticProbability: 1, elasticAlpha: 8, elasticSigma: 3 }))).toBe("elastic=8/3");
  });
});
