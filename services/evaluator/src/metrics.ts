import { RunState, type RunRecord } from "@mnist/protocol";
import { Counter, Gauge, Histogram, type Registry } from "@mnist/runtime";

/** The evaluator's Prometheus series. */
export interface EvaluatorMetrics {
  runs: Gauge<"state">;
  runsEnded: Counter<"state">;
  placementSeconds: Histogram;
  decisions: Counter<"decision">;
  valAccuracy: Gauge<"run">;
}

const activeStates: [RunState, string][] = [
  [RunState.QUEUED, "queued"],
  [RunState.RUNNING, "running"],
];

/** `active` (the queued and running runs) is read at each scrape. */
export function evaluatorMetrics(registry: Registry, active: () => RunRecord[]): EvaluatorMetrics {
  const registers = [registry];
  return {
    runs: new Gauge({
      name: "mnist_evaluator_runs",
      help: "Runs queued and running now.",
      labelNames: ["state"],
      registers,
      collect() {
        const runs = active();
        for (const [state, name] of activeStates) this.set({ state: name }, runs.filter((run) => run.state === state).length);
      },
    }),
    runsEnded: new Counter({ name: "mnist_evaluator_runs_ended_total", help: "Runs ended since the evaluator started, by final state.", labelNames: ["state"], registers }),
    placementSeconds: new Histogram({
      name: "mnist_evaluator_placement_seconds",
      help: "Seconds from a run's launch to its first placement on a trainer.",
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800],
      registers,
    }),
    decisions: new Counter({ name: "mnist_evaluator_decisions_total", help: "Epoch decisions taken, by kind.", labelNames: ["decision"], registers }),
    valAccuracy: new Gauge({ name: "mnist_evaluator_run_val_accuracy", help: "Each running run's latest accuracy on its evaluation data (a fraction).", labelNames: ["run"], registers }),
  };
}

export const endedStateName: Partial<Record<RunState, string>> = { [RunState.FINISHED]: "finished", [RunState.STOPPED]: "stopped", [RunState.FAILED]: "failed" };
