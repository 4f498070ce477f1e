import { InvalidArgument } from "@mnist/errors";
import { RUN_ID_ALLOWED, RUN_ID_PATTERN } from "@mnist/protocol";

/** A run id as every door checks it (a gRPC call, a slice request, an epoch source): RUN_ID_PATTERN, or an InvalidArgument naming `field`. */
export function checkRunId(runId: unknown, field = "runId"): string {
  if (typeof runId !== "string" || !RUN_ID_PATTERN.test(runId)) throw new InvalidArgument(field, runId, RUN_ID_ALLOWED);
  return runId;
}
