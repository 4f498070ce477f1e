import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { create } from "@bufbuild/protobuf";
import { afterEach, describe, expect, it } from "vitest";
import { EpochMetricsSchema, EpochProgressSchema, RunRecordSchema, RunSpecSchema, RunState } from "@mnist/protocol";
import { DashboardFeed } from "../src/dashboard/feed.js";
import { estimate } from "../src/live-progress.js";
import type { ProgressView } from "../web-src/api.js";

/** What the dashboard's event stream says of an epoch in training: the times left as RunService's answers give them. */

let server: Server | undefined;
afterEach(() => new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve())));

/** The feed behind a real HTTP server; the events a client reads until it has `count` of them. */
async function events(feed: DashboardFeed, count: number, after: () => void): Promise<{ event: string; data: unknown }[]> {
  server = createServer((_request, response) => feed.subscribe(response));
  await new Promise<void>((resolve) => server!.listen(0, "127.0.0.1", resolve));
  const response = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
  const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
  const seen: { event: string; data: unknown }[] = [];
  let buffered = "";
  let sent = false;
  while (seen.length < count) {
    const { value, done } = await reader.read();
    if (done) break;
    buffered += value;
    let end: number;
    while ((end = buffered.indexOf("\n\n")) !== -1) {
      const block = buffered.slice(0, end);
      buffered = buffered.slice(end + 2);
      const event = /^event: (.*)$/m.exec(block)?.[1];
      const data = /^data: (.*)$/m.exec(block)?.[1];
      if (event && data) seen.push({ event, data: JSON.parse(data) });
    }
    if (!sent && seen.length > 0) {
      sent = true;
      after();
    }
  }
  await reader.cancel();
  return seen;
}

describe("the dashboard's feed", () => {
  it("sends an epoch's progress with the time left in it and to the epoch cap, estimated as GetRun estimates it", async () => {
    const feed = new DashboardFeed({ trainers: () => [], replicas: () => [] });
    const record = create(RunRecordSchema, {
      runId: "run-aaaaaaaa-000001",
      state: RunState.RUNNING,
      spec: create(RunSpecSchema, { name: "paced", sizes: [784, 30, 10], epochs: 10 }),
      epochs: [create(EpochMetricsSchema, { epoch: 0, trainSeconds: 2 }), create(EpochMetricsSchema, { epoch: 1, trainSeconds: 4 })],
    });
    const report = create(EpochProgressSchema, { runId: record.runId, epoch: 2, examples: 10_000, total: 50_000, imagesPerSecond: 20_000 });
    const seen = await events(feed, 3, () => {
      feed.record(record);
      feed.epochProgress(report);
    });
    expect(seen.map(({ event }) => event)).toEqual(["snapshot", "run", "progress"]);
    const progress = seen[2]!.data as ProgressView;
    // 40,000 images left at 20,000/s, then 7 more epochs at the mean of 2 s and 4 s.
    expect(progress).toMatchObject({ id: record.runId, epoch: 2, share: 0.2, epochSecondsLeft: 2, capSecondsLeft: 2 + 7 * 3 });
    const answered = estimate(report, [2, 4], 10);
    expect([progress.share, progress.epochSecondsLeft, progress.capSecondsLeft]).toEqual([answered.epochShare, answered.epochSecondsLeft, answered.capSecondsLeft]);
    feed.close();
  });
});
