import type { Command } from "../command.js";
import { serverFlag, withRunService } from "../cluster.js";
import { UsageError } from "../errors.js";
import { parseFlags } from "../flags.js";

/** The commands whose argument is a run (id or name): their completion asks the cluster. */
const takesRun = ["get", "describe", "logs", "watch", "stop", "pause", "resume", "delete", "set", "set-lr", "export", "plot"];

/** Each command's flags, as its usage line spells them. */
function flagsOf(command: Command): string[] {
  const flags = new Set([...command.usage.matchAll(/(?<![\w-])--[a-z][\w-]*/g)].map((match) => match[0]));
  // Every cluster command takes the connection flags beside --server.
  if (flags.has("--server")) for (const name of Object.keys(serverFlag)) flags.add(`--${name}`);
  return [...flags].sort();
}

/**
 * A bash completion function (zsh loads it through bashcompinit): commands, each command's flags,
 * and for commands that take a run the names and ids of the runs the evaluator knows
 * (`mnistctl completion runs`, which stays silent when the cluster is out of reach).
 */
function script(shell: "bash" | "zsh", commands: Command[]): string {
  const cases = commands.map((command) => `    ${command.name}) flags="${flagsOf(command).join(" ")}" ;;`).join("\n");
  const lines = [
    `# mnistctl completion for ${shell}: source <(mnistctl completion ${shell})`,
    ...(shell === "zsh" ? ["autoload -U +X compinit && compinit", "autoload -U +X bashcompinit && bashcompinit"] : []),
    "_mnistctl() {",
    '  local cur="${COMP_WORDS[COMP_CWORD]}" command="${COMP_WORDS[1]}" flags=""',
    "  if [ \"$COMP_CWORD\" -eq 1 ]; then",
    `    COMPREPLY=( $(compgen -W "${commands.map((command) => command.name).join(" ")}" -- "$cur") )`,
    "    return",
    "  fi",
    '  case "$command" in',
    cases,
    "  esac",
    '  if [[ "$cur" == -* ]]; then',
    '    COMPREPLY=( $(compgen -W "$flags --help" -- "$cur") )',
    "    return",
    "  fi",
    '  case "$command" in',
    `    ${takesRun.join("|")})`,
    '      COMPREPLY=( $(compgen -W "run runs $(mnistctl completion runs 2>/dev/null)" -- "$cur") ) ;;',
    "  esac",
    "}",
    "complete -F _mnistctl mnistctl",
    "",
  ];
  return lines.join("\n");
}

export function completionCommand(commands: () => Command[]): Command {
  return {
    name: "completion",
    summary: "shell completion: source <(mnistctl completion bash) (or zsh)",
    usage: "mnistctl completion bash|zsh      (mnistctl completion runs: the run names and ids it completes)",
    run: async (argv) => {
      const { values, positionals } = parseFlags("completion", argv, serverFlag, true);
      const [what] = positionals;
      if (positionals.length !== 1 || (what !== "bash" && what !== "zsh" && what !== "runs")) {
        throw new UsageError(`mnistctl completion: expected bash, zsh or runs, got ${positionals.join(" ") || "nothing"}`);
      }
      if (what !== "runs") {
        process.stdout.write(script(what, commands()));
        return 0;
      }
      return withRunService("completion", values, async (client) => {
        const { runs } = await client.listRuns({ pageSize: 1_000 }, { timeoutMs: 2_000 });
        for (const run of runs) process.stdout.write(`${run.spec?.name ? `${run.spec.name}\n` : ""}${run.runId}\n`);
        return 0;
      });
    },
  };
}
