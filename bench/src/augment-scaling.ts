import { spawn, type ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { augmentBatch, IMAGE_PIXELS, loadTrainingSet } from "@mnist/augment";
import { presets, type PresetName } from "@mnist/spec";
import { NatsEpochSource } from "@mnist/stream";
import { connect, type NatsConnection } from "nats";
import { markdownTable } from "./report.js";

const augmentMain = fileURLToPath(new URL("../../services/augment/dist/main.js", import.meta.url));

export interface ScalingRow {
  transform: PresetName;
  replicas: number;
  imagesPerSecond: number;
  /** Against one replica with the same transform. */
  speedup: number;
}

export interface ScalingReport {
  natsUrl: string;
  epochs: number;
  /** The kernels alone on one core, in-process (no NATS): what one replica could at best deliver. */
  kernelImagesPerSecond: Record<PresetName, number>;
  rows: ScalingRow[];
}

interface Replica {
  child: ChildProcess;
  exited: Promise<unknown>;
}

async function startReplica(natsUrl: string, subject: string): Promise<Replica> {
  const child = spawn(process.execPath, [augmentMain], {
    env: { ...process.env, NATS_URL: natsUrl, GRPC_HOST: "127.0.0.1", GRPC_PORT: "0", AUGMENT_SUBJECT: subject, LOG_LEVEL: "info", AUGMENT_STATS_INTERVAL_MS: "3600000" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const exited = new Promise((resolve) => child.once("exit", resolve));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("augment replica not ready within 20 s")), 20_000);
    createInterface({ input: child.stdout! }).on("line", (line) => {
      if (line.includes('"msg":"ready"')) {
        clearTimeout(timer);
        resolve();
      }
    });
    void exited.then(() => reject(new Error("augment replica exited before it was ready")));
  });
  return { child, exited };
}

async function stopReplicas(replicas: Replica[]): Promise<void> {
  for (const replica of replicas) replica.child.kill("SIGTERM");
  await Promise.all(replicas.map((replica) => replica.exited));
}

/** Whole epochs of the 50,000 training images pulled through the replicas; images per second after a warm-up epoch. */
async function pullEpochs(nats: NatsConnection, subject: string, transform: PresetName, epochs: number): Promise<number> {
  const source = new NatsEpochSource({ nats, runId: `bench-scaling-${transform}`, plan: { seed: 1n, trainLimit: 0, augment: presets[transform] }, subject, sliceSize: 1000, maxInFlight: 8 });
  try {
    const drain = async (epoch: number) => {
      let examples = 0;
      for await (const slice of source.epoch(epoch)) examples += slice.count;
      return examples;
    };
    await drain(0);
    const started = performance.now();
    let examples = 0;
    for (let epoch = 1; epoch <= epochs; epoch++) examples += await drain(epoch);
    return examples / ((performance.now() - started) / 1000);
  } finally {
    await source.close();
  }
}

function kernelRate(transform: PresetName): number {
  const training = loadTrainingSet();
  const batch = 1000;
  const indices = new Uint32Array(batch);
  const out = new Uint8Array(batch * IMAGE_PIXELS);
  const run = (total: number, epoch: number) => {
    const started = performance.now();
    for (let done = 0; done < total; done += batch) {
      for (let k = 0; k < batch; k++) indices[k] = (done + k) % training.count;
      augmentBatch({ images: training.pixels, indices, spec: presets[transform], seed: 1n, epoch, out });
    }
    return total / ((performance.now() - started) / 1000);
  };
  run(5000, 1);
  return run(50_000, 0);
}

/**
 * Throughput of k augment replicas (separate processes, one core's worth of work each) feeding
 * one consumer, for k = 1 .. maxReplicas: does it grow until the consumer is the bottleneck?
 * "none" (a plain gather) is the transport's and consumer's own ceiling.
 */
export async function runAugmentScaling(options: { natsUrl: string; maxReplicas: number; epochs: number; transforms: PresetName[]; log: (line: string) => void }): Promise<ScalingReport> {
  let nats: NatsConnection;
  try {
    nats = await connect({ servers: options.natsUrl, timeout: 3000 });
  } catch {
    throw new Error(`no NATS server at ${options.natsUrl}: start one with \`nats-server -js &\` or pass --nats=URL`);
  }
  const subject = `bench.augment.${process.pid}`;
  const rows: ScalingRow[] = [];
  const kernelImagesPerSecond = {} as Record<PresetName, number>;
  try {
    for (const transform of options.transforms) kernelImagesPerSecond[transform] = Math.round(kernelRate(transform));
    for (let replicas = 1; replicas <= options.maxReplicas; replicas++) {
      const started = await Promise.all(Array.from({ length: replicas }, () => startReplica(options.natsUrl, subject)));
      try {
        for (const transform of options.transforms) {
          const imagesPerSecond = Math.round(await pullEpochs(nats, subject, transform, options.epochs));
          const single = rows.find((row) => row.transform === transform && row.replicas === 1)?.imagesPerSecond ?? imagesPerSecond;
          rows.push({ transform, replicas, imagesPerSecond, speedup: imagesPerSecond / single });
          options.log(`${transform}, ${replicas} replica(s): ${imagesPerSecond} images/s`);
        }
      } finally {
        await stopReplicas(started);
      }
    }
  } finally {
    await nats.close();
  }
  return { natsUrl: options.natsUrl, epochs: options.epochs, kernelImagesPerSecond, rows };
}

export function renderScalingReport(report: ScalingReport, header: string): string {
  const table = markdownTable(
    ["transform", "replicas", "images/s at the consumer", "× one replica", "kernel alone, one core, in-process"],
    report.rows.map((row) => [row.transform, row.replicas, row.imagesPerSecond, `${row.speedup.toFixed(2)}×`, report.kernelImagesPerSecond[row.transform]]),
  );
  return `${header}\n\n${table}\n`;
}
