import { crc32 } from "node:zlib";
import { formatValue, invalidArgument } from "@mnist/errors";
import { corruptData } from "./errors.js";
import { checkNetwork, layerView, networkFrom, type Network } from "./network.js";
import { activations, costCodes, costs, maxLayerSize, maxWeightLayers, paramCount, resolveSpec, type ActivationName, type CostName } from "./options.js";

// ---------------------------------------------------------------------------------------------
// The chapter's JSON format (network2.save / network2.load):
//   {"sizes": [...], "weights": [W_l as [rows][cols]], "biases": [b_l as [rows][1]], "cost": "CrossEntropyCost"}
// Extensions, absent from files network2 writes and ignored by its loader:
//   "cost": "LogLikelihoodCost" (softmax output), "activation": "tanh" | "relu" (omitted for sigmoid).
// network2 stores float64; values are rounded to float32 on load. "init" is not stored: it only
// matters before training, and a loaded network takes "default".

const costNames: Record<CostName, string> = {
  "cross-entropy": "CrossEntropyCost",
  quadratic: "QuadraticCost",
  "log-likelihood": "LogLikelihoodCost",
};

export interface NetworkJson {
  sizes: number[];
  weights: number[][][];
  biases: number[][][];
  cost: string;
  activation?: ActivationName;
}

/** 9 significant digits always round-trip a float32 and keep files short. */
function short(value: number): number {
  return Number(value.toPrecision(9));
}

export function networkToJson(network: Network): NetworkJson {
  const net = checkNetwork(network);
  const { sizes } = net.spec;
  const weights: number[][][] = [];
  const biases: number[][][] = [];
  for (let l = 0; l + 1 < sizes.length; l++) {
    const view = layerView(net, l);
    const rows: number[][] = [];
    for (let j = 0; j < view.rows; j++) rows.push(Array.from(view.weights.subarray(j * view.cols, (j + 1) * view.cols), short));
    weights.push(rows);
    biases.push(Array.from(view.biases, (b) => [short(b)]));
  }
  const json: NetworkJson = { sizes: [...sizes], weights, biases, cost: costNames[net.spec.cost] };
  if (net.spec.activation !== "sigmoid") json.activation = net.spec.activation;
  return json;
}

export function saveNetworkJson(network: Network): string {
  return JSON.stringify(networkToJson(network));
}

/** Parses and validates a network in the chapter's format; `source` names it in errors. */
export function loadNetworkJson(text: string, source = "network JSON"): Network {
  if (typeof text !== "string") throw invalidArgument("text", text, "a JSON string");
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (error) {
    throw corruptData(source, `not JSON (${(error as Error).message})`);
  }
  return networkFromJson(data, source);
}

export function networkFromJson(data: unknown, source = "network JSON"): Network {
  const bad = (problem: string) => corruptData(source, problem);
  if (typeof data !== "object" || data === null || Array.isArray(data)) throw bad(`expected an object with sizes, weights, biases, cost; got ${formatValue(data)}`);
  const d = data as Record<string, unknown>;
  const sizes = d.sizes;
  if (!Array.isArray(sizes) || sizes.length < 2 || sizes.length > maxWeightLayers + 1) throw bad(`sizes is ${formatValue(sizes)}; expected 2 to ${maxWeightLayers + 1} layer sizes`);
  sizes.forEach((s, i) => {
    if (!Number.isInteger(s) || s < 1 || s > maxLayerSize) throw bad(`sizes[${i}] is ${formatValue(s)}; expected an integer from 1 to ${maxLayerSize}`);
  });
  const costEntry = Object.entries(costNames).find(([, name]) => name === d.cost);
  if (!costEntry) throw bad(`cost is ${formatValue(d.cost)}; expected one of ${Object.values(costNames).join(", ")}`);
  const activation = d.activation ?? "sigmoid";
  if (!(activations as readonly unknown[]).includes(activation)) throw bad(`activation is ${formatValue(d.activation)}; expected one of ${activations.join(", ")}`);
  const layers = sizes.length - 1;
  const weights = d.weights, biases = d.biases;
  if (!Array.isArray(weights) || weights.length !== layers) throw bad(`weights has ${Array.isArray(weights) ? `${weights.length} layers` : formatValue(weights)}, sizes say ${layers}`);
  if (!Array.isArray(biases) || biases.length !== layers) throw bad(`biases has ${Array.isArray(biases) ? `${biases.length} layers` : formatValue(biases)}, sizes say ${layers}`);

  const network = networkFrom({ sizes, activation: activation as ActivationName, cost: costEntry[0] as CostName }, new Float32Array(paramCount(sizes)));
  const number = (field: string, value: unknown): number => {
    if (typeof value !== "number" || !Number.isFinite(value)) throw bad(`${field} is ${formatValue(value)}; expected a finite number`);
    return value;
  };
  for (let l = 0; l < layers; l++) {
    const rows = sizes[l + 1] as number, cols = sizes[l] as number;
    const view = layerView(network, l);
    const w = weights[l], b = biases[l];
    if (!Array.isArray(w) || w.length !== rows) throw bad(`weights[${l}] has ${Array.isArray(w) ? `${w.length} rows` : formatValue(w)}, sizes say ${rows}`);
    if (!Array.isArray(b) || b.length !== rows) throw bad(`biases[${l}] has ${Array.isArray(b) ? `${b.length} rows` : formatValue(b)}, sizes say ${rows}`);
    for (let j = 0; j < rows; j++) {
      const row = w[j];
      if (!Array.isArray(row) || row.length !== cols) throw bad(`weights[${l}][${j}] has ${Array.isArray(row) ? `${row.length} entries` : formatValue(row)}, sizes say ${cols}`);
      for (let k = 0; k < cols; k++) view.weights[j * cols + k] = number(`weights[${l}][${j}][${k}]`, row[k]);
      const bias = b[j];
      // network2 writes column vectors, [[b0], [b1], ...]; a flat list is accepted too
      if (Array.isArray(bias)) {
        if (bias.length !== 1) throw bad(`biases[${l}][${j}] has ${bias.length} entries, expected 1`);
        view.biases[j] = number(`biases[${l}][${j}][0]`, bias[0]);
      } else {
        view.biases[j] = number(`biases[${l}][${j}]`, bias);
      }
    }
  }
  for (let i = 0; i < network.params.length; i++) {
    if (!Number.isFinite(network.params[i])) throw bad(`a value overflows float32 (parameter ${i})`);
  }
  return network;
}

// ---------------------------------------------------------------------------------------------
// Binary checkpoint, little-endian throughout:
//   0   magic "MNPW"
//   4   u32 version (1)
//   8   u32 number of sizes S
//   12  u32 × S sizes
//   ..  u32 activation (0 sigmoid, 1 tanh, 2 relu)
//   ..  u32 cost (costCodes' checkpoint codes: 0 cross-entropy, 1 quadratic, 2 log-likelihood)
//   ..  u32 flags (bit 0: velocities follow the params)
//   ..  u32 parameter count P (redundant with sizes: a cross-check)
//   ..  f32 × P params, then f32 × P velocities if flagged
//   end u32 CRC-32 of every byte before it
// The float arrays start on a 4-byte boundary, so decode returns copies aligned for Float32Array.

export const checkpointVersion = 1;
const MAGIC = [0x4d, 0x4e, 0x50, 0x57]; // "MNPW"

export interface Checkpoint {
  network: Network;
  /** Momentum velocities, when the checkpoint carries them. */
  velocities?: Float32Array;
}

export function encodeCheckpoint(network: Network, velocities?: Float32Array): Uint8Array {
  const net = checkNetwork(network);
  const { sizes } = net.spec;
  const P = net.params.length;
  if (velocities !== undefined && (!(velocities instanceof Float32Array) || velocities.length !== P)) {
    throw invalidArgument("velocities", velocities, `a Float32Array of ${P} floats (the parameter count)`);
  }
  const headerBytes = 4 * (2 + 1 + sizes.length + 4);
  const floats = P * (velocities ? 2 : 1);
  const bytes = new Uint8Array(headerBytes + 4 * floats + 4);
  const view = new DataView(bytes.buffer);
  bytes.set(MAGIC, 0);
  let at = 4;
  const u32 = (value: number) => {
    view.setUint32(at, value, true);
    at += 4;
  };
  u32(checkpointVersion);
  u32(sizes.length);
  for (const size of sizes) u32(size);
  u32(activations.indexOf(net.spec.activation));
  u32(costCodes[net.spec.cost].checkpoint);
  u32(velocities ? 1 : 0);
  u32(P);
  for (const source of velocities ? [net.params, velocities] : [net.params]) {
    for (let i = 0; i < P; i++, at += 4) view.setFloat32(at, source[i]!, true);
  }
  view.setUint32(at, crc32(bytes.subarray(0, at)), true);
  return bytes;
}

export function decodeCheckpoint(bytes: Uint8Array, source = "checkpoint"): Checkpoint {
  if (!(bytes instanceof Uint8Array)) throw invalidArgument("bytes", bytes, "a Uint8Array");
  const bad = (problem: string) => corruptData(source, problem);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const need = (end: number, what: string) => {
    if (bytes.length < end) throw bad(`truncated: ${bytes.length} bytes, ${what} needs ${end}`);
  };
  need(8, "the header");
  if (!MAGIC.every((b, i) => bytes[i] === b)) throw bad(`bad magic ${Array.from(bytes.subarray(0, 4), (b) => b.toString(16).padStart(2, "0")).join(" ")}; expected "MNPW"`);
  let at = 4;
  const u32 = () => {
    const value = view.getUint32(at, true);
    at += 4;
    return value;
  };
  const version = u32();
  if (version !== checkpointVersion) throw bad(`version ${version}; this build reads version ${checkpointVersion}`);
  need(12, "the layer count");
  const S = u32();
  if (S < 2 || S > maxWeightLayers + 1) throw bad(`layer count ${S}; expected 2 to ${maxWeightLayers + 1}`);
  need(12 + 4 * S + 16, "the header");
  const sizes: number[] = [];
  for (let i = 0; i < S; i++) {
    const size = u32();
    if (size < 1 || size > maxLayerSize) throw bad(`sizes[${i}] is ${size}; expected 1 to ${maxLayerSize}`);
    sizes.push(size);
  }
  const activation = activations[u32()];
  if (activation === undefined) throw bad(`unknown activation code ${view.getUint32(at - 4, true)}`);
  const costCode = u32();
  const cost = costs.find((name) => costCodes[name].checkpoint === costCode);
  if (cost === undefined) throw bad(`unknown cost code ${costCode}`);
  const flags = u32();
  if ((flags & ~1) !== 0) throw bad(`unknown flags 0x${flags.toString(16)}`);
  const P = u32();
  const expected = paramCount(sizes);
  if (P !== expected) throw bad(`parameter count ${P}, sizes [${sizes.join(",")}] say ${expected}`);
  const hasVelocities = (flags & 1) === 1;
  const end = at + 4 * P * (hasVelocities ? 2 : 1);
  need(end + 4, `${hasVelocities ? "params and velocities" : "params"}`);
  if (bytes.length > end + 4) throw bad(`${bytes.length - end - 4} unexpected bytes after the checksum`);
  const stored = view.getUint32(end, true);
  const actual = crc32(bytes.subarray(0, end));
  if (stored !== actual) throw bad(`checksum mismatch (stored ${stored.toString(16)}, computed ${actual.toString(16)})`);
  const read = () => {
    const out = new Float32Array(P);
    for (let i = 0; i < P; i++, at += 4) out[i] = view.getFloat32(at, true);
    return out;
  };
  const network = networkFrom(resolveSpec({ sizes, activation, cost }), read());
  for (let i = 0; i < P; i++) if (!Number.isFinite(network.params[i])) throw bad(`parameter ${i} is ${network.params[i]}`);
  return hasVelocities ? { network, velocities: read() } : { network };
}
