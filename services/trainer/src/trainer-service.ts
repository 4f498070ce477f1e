import { bind, type ServiceBinding } from "@mnist/grpc";
import { TrainerService } from "@mnist/protocol";
import { checkRunId } from "@mnist/spec";
import type { RunManager } from "./run-manager.js";

/** TrainerService over gRPC: the evaluator's control plane, a thin layer over RunManager. */
export function trainerService(manager: RunManager, maxRuns: number): ServiceBinding {
  return bind(TrainerService, {
    async startRun(request) {
      return { trainerId: manager.trainerId, startEpoch: await manager.start({ ...request, runId: checkRunId(request.runId) }) };
    },
    async decide(request) {
      manager.decide({ ...request, runId: checkRunId(request.runId) });
      return {};
    },
    async setLearningRate({ runId, eta }) {
      manager.setLearningRate(checkRunId(runId), eta);
      return {};
    },
    async pauseRun({ runId }) {
      manager.pause(checkRunId(runId));
      return {};
    },
    async resumeRun({ runId }) {
      manager.resume(checkRunId(runId));
      return {};
    },
    async stopTraining({ runId, reason }) {
      await manager.stop(checkRunId(runId), reason);
      return {};
    },
    async getStatus() {
      return { trainerId: manager.trainerId, maxRuns, runs: manager.status() };
    },
  });
}
