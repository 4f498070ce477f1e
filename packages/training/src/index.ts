// @mnist/training: training a run's epochs from an epoch stream with the native core, and whole
// runs in this process (mnistctl train) — the same bits as through the services.
export { LOCAL_SLICE_EXAMPLES, NATS_SLICE_EXAMPLES, sliceSizeFor, trainEpochFrom, type EpochOptions, type EpochTiming } from "./epochs.js";
export { trainLocally, type EpochReport, type LocalRunOptions, type LocalRunResult } from "./local.js";
