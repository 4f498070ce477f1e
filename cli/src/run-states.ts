import { RunState } from "@mnist/protocol";

export function isTerminalState(state: RunState): boolean {
  return state === RunState.FINISHED || state === RunState.STOPPED || state === RunState.FAILED;
}
