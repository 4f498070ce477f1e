import { RunState } from "@mnist/protocol";

const terminalStates: ReadonlySet<RunState> = new Set([RunState.FINISHED, RunState.STOPPED, RunState.FAILED]);

/** A run in one of these states has ended and never trains again. */
export function isTerminal(state: RunState): boolean {
  return terminalStates.has(state);
}
