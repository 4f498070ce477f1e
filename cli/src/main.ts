#!/usr/bin/env node
import type { Command } from "./command.js";
import { commands } from "./commands/index.js";
import { connectionHelp } from "./access.js";
import { ClusterError } from "./cluster.js";
import { asUsageError, UsageError } from "./errors.js";

function help(): string {
  const width = Math.max(...commands.map((command) => command.name.length));
  return [
    "mnistctl: train networks with the techniques of 'Improving the way neural networks learn', in-process or on the cluster",
    "",
    "usage: mnistctl <command> [flags]     mnistctl <command> --help",
    "",
    "commands:",
    ...commands.map((command) => `  ${command.name.padEnd(width)}  ${command.summary}`),
    "",
    "cluster commands talk to the evaluator's gRPC address: --server or MNISTCTL_SERVER (default localhost:50051)",
    connectionHelp,
  ].join("\n");
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === "--help" || name === "-h" || name === "help") {
    process.stdout.write(help() + "\n");
    return name === undefined ? 2 : 0;
  }
  const command: Command | undefined = commands.find((candidate) => candidate.name === name);
  if (!command) throw new UsageError(`unknown command ${JSON.stringify(name)}; run mnistctl --help for the list`);
  if (rest.includes("--help") || rest.includes("-h")) {
    process.stdout.write(`${command.summary}\n\nusage: ${command.usage}\n`);
    return 0;
  }
  try {
    return await command.run(rest);
  } catch (error) {
    // Bad input found below the command (a data file, a network, a value the core rejects): exit 2.
    throw asUsageError(command.name, error);
  }
}

// A reader that went away (`mnistctl list | head`, a `| tee` that the same Ctrl-C ended) is no reason
// to crash: up would die half-way through stopping what it started. The output is dropped instead.
for (const stream of [process.stdout, process.stderr]) {
  stream.on("error", (error: NodeJS.ErrnoException) => {
    if (error.code !== "EPIPE" && error.code !== "ERR_STREAM_DESTROYED") throw error;
  });
}

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (error) {
  if (error instanceof UsageError || error instanceof ClusterError) {
    process.stderr.write(`${error.message}\n`);
    process.exitCode = error.exitCode;
  } else {
    process.stderr.write(`mnistctl: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  }
}
