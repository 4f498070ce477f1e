import { createClient, type Client, type ClientAccess } from "@mnist/grpc";
import { TrainerService, type TrainerInfo } from "@mnist/protocol";

/**
 * One TrainerService client per trainer address, reused across calls, and closed once no live
 * trainer has that address: heartbeats come and go, connections and memory do not pile up.
 */
export class TrainerClients {
  private readonly clients = new Map<string, Client<typeof TrainerService>>();

  /** TLS and bearer token for the trainers: the evaluator's own settings. */
  constructor(private readonly access: ClientAccess = {}) {}

  of(trainer: Pick<TrainerInfo, "address">): Client<typeof TrainerService> {
    let client = this.clients.get(trainer.address);
    if (!client) this.clients.set(trainer.address, (client = createClient(TrainerService, trainer.address, this.access)));
    return client;
  }

  /** Closes the clients of addresses no trainer in `live` has. */
  keepOnly(live: readonly TrainerInfo[]): void {
    const addresses = new Set(live.map((trainer) => trainer.address));
    for (const [address, client] of this.clients) {
      if (addresses.has(address)) continue;
      client.close();
      this.clients.delete(address);
    }
  }

  close(): void {
    this.keepOnly([]);
  }
}
