import { create } from "@bufbuild/protobuf";
import { timestampNow } from "@bufbuild/protobuf/wkt";
import { RunEventSchema, type RunEventKind, type RunRecord } from "@mnist/protocol";

/** Who takes the decisions on epochs. */
export const evaluatorActor = "evaluator";

/** Appends an entry to the run's audit trail (RunRecord.events). */
export function addEvent(record: RunRecord, kind: RunEventKind, epoch: number, fields: { actor?: string; reason?: string; detail?: string } = {}): void {
  record.events.push(create(RunEventSchema, { time: timestampNow(), epoch, kind, actor: fields.actor ?? evaluatorActor, reason: fields.reason ?? "", detail: fields.detail ?? "" }));
}
