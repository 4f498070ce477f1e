// An independent, plain double-precision implementation of the network's cost, for checking the
// native float32 code against finite differences. Deliberately naive: per example, per unit.
import type { NetworkSpec } from "../src/index.js";

export interface RefOptions {
  lambda?: number;
  l1?: number;
  trainSize?: number;
  dropoutMask?: Float32Array;
}

const sigmoid = (z: number) => 1 / (1 + Math.exp(-z));

function hidden(act: NetworkSpec["activation"], z: number): number {
  if (act === "sigmoid") return sigmoid(z);
  if (act === "tanh") return Math.tanh(z);
  return Math.max(0, z);
}

/** Output activations of every example, in double. */
export function refOutputs(spec: NetworkSpec, params: ArrayLike<number>, inputs: Uint8Array | Float32Array, count: number, mask?: Float32Array): number[][] {
  const { sizes } = spec;
  const L = sizes.length - 1;
  const outs: number[][] = [];
  // mask offsets per hidden layer
  const maskOffset: number[] = [];
  let mo = 0;
  for (let l = 1; l < L; l++) {
    maskOffset[l] = mo;
    mo += count * sizes[l]!;
  }
  for (let i = 0; i < count; i++) {
    let a: number[] = [];
    for (let k = 0; k < sizes[0]!; k++) {
      const v = inputs[i * sizes[0]! + k]!;
      a.push(inputs instanceof Uint8Array ? v / 255 : v);
    }
    let off = 0;
    for (let l = 0; l < L; l++) {
      const nIn = sizes[l]!, nOut = sizes[l + 1]!;
      const z: number[] = [];
      for (let j = 0; j < nOut; j++) {
        let s = params[off + nOut * nIn + j]!;
        for (let k = 0; k < nIn; k++) s += params[off + j * nIn + k]! * a[k]!;
        z.push(s);
      }
      off += nOut * nIn + nOut;
      if (l < L - 1) {
        a = z.map((v) => hidden(spec.activation, v));
        if (mask) a = a.map((v, j) => v * mask[maskOffset[l + 1]! + i * nOut + j]!);
      } else if (spec.cost === "log-likelihood") {
        const m = Math.max(...z);
        const e = z.map((v) => Math.exp(v - m));
        const s = e.reduce((x, y) => x + y, 0);
        a = e.map((v) => v / s);
      } else {
        a = z.map(sigmoid);
      }
    }
    outs.push(a);
  }
  return outs;
}

/** Mean cost over the examples plus 0.5(λ/n)Σw² + (l1/n)Σ|w|: the function computeGradient differentiates. */
export function refCost(spec: NetworkSpec, params: ArrayLike<number>, inputs: Uint8Array | Float32Array, labels: Uint8Array, count: number, o: RefOptions = {}): number {
  const outs = refOutputs(spec, params, inputs, count, o.dropoutMask);
  let total = 0;
  outs.forEach((a, i) => {
    const y = labels[i]!;
    a.forEach((v, j) => {
      const t = j === y ? 1 : 0;
      if (spec.cost === "quadratic") total += 0.5 * (v - t) ** 2;
      else if (spec.cost === "cross-entropy") total += -t * Math.log(v) - (1 - t) * Math.log(1 - v);
      else if (j === y) total += -Math.log(v);
    });
  });
  let cost = total / count;
  const n = o.trainSize ?? 1;
  let off = 0;
  const { sizes } = spec;
  for (let l = 0; l + 1 < sizes.length; l++) {
    const nw = sizes[l]! * sizes[l + 1]!;
    for (let i = 0; i < nw; i++) {
      const w = params[off + i]!;
      cost += 0.5 * ((o.lambda ?? 0) / n) * w * w + ((o.l1 ?? 0) / n) * Math.abs(w);
    }
    off += nw + sizes[l + 1]!;
  }
  return cost;
}

/** Deterministic test data without Math.random: a small LCG. */
export function testData(count: number, inputs: number, classes: number, seed = 1) {
  let s = seed >>> 0;
  const next = () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0);
  const pixels = new Uint8Array(count * inputs).map(() => next() >>> 24);
  const labels = new Uint8Array(count).map(() => (next() >>> 8) % classes);
  return { pixels, labels };
}
