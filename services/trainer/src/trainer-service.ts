import { bind, type ServiceBinding } from "@mnist/grpc";
import { TrainerService } from "@mnist/protocol";
import type { RunManager } from "./run-manager.js";

/** TrainerService over gRPC: the evaluator's control plane, a thin layer over RunManager. */
export function trainerService(manager: RunManager, maxRuns: number): ServiceBinding {
  return bind(TrainerService, {
    async startRun({ runId, spec }) {
      return { trainerId: manager.trainerId, startEpoch: await manager.start(runId, spec) };
    },
    async decide({ runId, epoch, decision, eta, reason }) {
      manager.decide(runId, epoch, decision, eta, reason);
      return {};
    },
    async setLearningRate({ runId, eta }) {
      manager.setLearningRate(runId, eta);
      return {};
    },
    async pauseRun({ runId }) {
      manager.pause(runId);
      return {};
    },
    async resumeRun({ runId }) {
      manager.resume(runId);
      return {};
    },
    async stopTraining({ runId, reason }) {
      await manager.stop(runId, reason);
      return {};
    },
    async getStatus() {
      return { trainerId: manager.trainerId, maxRuns, runs: manager.status() };
    },
  });
}
