import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";

/** Debian's own python3: python3-torch belongs to it, not to a pyenv python first on PATH. */
const debianPython = "/usr/bin/python3";
const torchScript = fileURLToPath(new URL("../peers/torch_epoch.py", import.meta.url));

export function torchAvailable(): boolean {
  return spawnSync(debianPython, ["-c", "import torch"], { stdio: "ignore" }).status === 0;
}

export const torchInstallHint = "PyTorch peer skipped: install it with `apt-get install -y python3-torch` (Debian's python3-torch)";

export interface TorchResult {
  threads: number;
  /** torch.__version__ */
  torch: string;
  epochSeconds: number[];
  warmupSeconds: number;
  valAccuracy: number;
}

export interface TorchOptions {
  dataDir: string;
  sizes: number[];
  miniBatch: number;
  eta: number;
  lambda: number;
  epochs: number;
  threads: number;
  /** Untimed mini-batches before the timed epochs. */
  warmupBatches?: number;
  seed?: number;
}

/** One PyTorch run in its own process, so its thread pool and ours never share a process. */
export function runTorch(options: TorchOptions): TorchResult {
  const args = [
    torchScript,
    `--data-dir=${options.dataDir}`,
    `--sizes=${options.sizes.join(",")}`,
    `--mb=${options.miniBatch}`,
    `--eta=${options.eta}`,
    `--lmbda=${options.lambda}`,
    `--epochs=${options.epochs}`,
    `--threads=${options.threads}`,
    `--warmup-batches=${options.warmupBatches ?? 0}`,
    `--seed=${options.seed ?? 1}`,
  ];
  const result = spawnSync(debianPython, args, { encoding: "utf8", maxBuffer: 1 << 20 });
  if (result.status !== 0) throw new Error(`PyTorch peer failed: ${result.stderr.trim().split("\n").at(-1)}`);
  return JSON.parse(result.stdout.trim().split("\n").at(-1)!) as TorchResult;
}
