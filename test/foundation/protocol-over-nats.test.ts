import { create, equals, fromBinary, toBinary } from "@bufbuild/protobuf";
import { SampleBatchSchema, RunSpecSchema, Cost } from "@mnist/protocol";
import { connect } from "nats";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { natsUrl } from "../harness/nats.js";

describe("protocol messages over a real nats-server", () => {
  let nc: Awaited<ReturnType<typeof connect>>;
  beforeAll(async () => {
    nc = await connect({ servers: natsUrl() });
  });
  afterAll(async () => {
    await nc.drain();
  });

  it("round-trips a SampleBatch byte for byte", async () => {
    const packedPixels = new Uint8Array(3 * 200).map((_, i) => (i * 7) % 256);
    const sent = create(SampleBatchSchema, { runId: "r-1", epoch: 4, slice: 9, part: 0, parts: 1, packedPixels, labels: new Uint8Array([3, 1, 4]), indices: [10, 20, 49_999] });
    const subscription = nc.subscribe("test.protocol.batch", { max: 1 });
    nc.publish("test.protocol.batch", toBinary(SampleBatchSchema, sent));
    for await (const message of subscription) {
      const received = fromBinary(SampleBatchSchema, message.data);
      expect(equals(SampleBatchSchema, received, sent)).toBe(true);
      expect(Buffer.from(received.packedPixels).equals(Buffer.from(packedPixels))).toBe(true);
      expect(received.indices).toEqual([10, 20, 49_999]);
    }
  });

  it("carries a RunSpec through request/reply", async () => {
    const spec = create(RunSpecSchema, { sizes: [784, 30, 10], eta: 0.5, lambda: 5, miniBatch: 10, cost: Cost.CROSS_ENTROPY, seed: 12345678901234n });
    const service = nc.subscribe("test.protocol.echo");
    void (async () => {
      for await (const message of service) message.respond(toBinary(RunSpecSchema, { ...fromBinary(RunSpecSchema, message.data), epochs: 30 }));
    })();
    const reply = fromBinary(RunSpecSchema, (await nc.request("test.protocol.echo", toBinary(RunSpecSchema, spec), { timeout: 5000 })).data);
    expect(reply.sizes).toEqual([784, 30, 10]);
    expect(reply.seed).toBe(12345678901234n);
    expect(reply.epochs).toBe(30);
    service.unsubscribe();
  });
});
