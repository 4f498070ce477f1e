import { bind, type ServiceBinding } from "@mnist/grpc";
import { invalidArgument } from "@mnist/errors";
import { RUN_ID_ALLOWED, RUN_ID_PATTERN, TrainerService } from "@mnist/protocol";
import type { RunManager } from "./run-manager.js";

/** Every call naming a run names it the way run ids travel everywhere (KV keys, subjects, object names). */
function checked(runId: string): string {
  if (!RUN_ID_PATTERN.test(runId)) throw invalidArgument("runId", runId, RUN_ID_ALLOWED);
  return runId;
}

/** TrainerService over gRPC: the evaluator's control plane, a thin layer over RunManager. */
export function trainerService(manager: RunManager, maxRuns: number): ServiceBinding {
  return bind(TrainerService, {
    async startRun({ runId, spec }) {
      return { trainerId: manager.trainerId, startEpoch: await manager.start(checked(runId), spec) };
    },
    async decide({ runId, epoch, decision, eta, reason }) {
      manager.decide(checked(runId), epoch, decision, eta, reason);
      return {};
    },
    async setLearningRate({ runId, eta }) {
      manager.setLearningRate(checked(runId), eta);
      return {};
    },
    async pauseRun({ runId }) {
      manager.pause(checked(runId));
      return {};
    },
    async resumeRun({ runId }) {
      manager.resume(checked(runId));
      return {};
    },
    async stopTraining({ runId, reason }) {
      await manager.stop(checked(runId), reason);
      return {};
    },
    async getStatus() {
      return { trainerId: manager.trainerId, maxRuns, runs: manager.status() };
    },
  });
}
