import { createAccount, createOperator, createUser, type KeyPair } from "nkeys.js";

// What `nsc` would make, without nsc: an operator, a system account, an account with JetStream and
// a user of it, as signed JWTs, and the nats-server configuration trusting them. nkeys.js comes
// with the nats client.

const base64url = (bytes: Uint8Array | string) => Buffer.from(bytes).toString("base64url");
const unlimited = { subs: -1, data: -1, payload: -1, imports: -1, exports: -1, wildcards: true, conn: -1, leaf: -1 };

function jwt(subject: KeyPair, issuer: KeyPair, name: string, nats: Record<string, unknown>): string {
  const header = base64url(JSON.stringify({ typ: "JWT", alg: "ed25519-nkey" }));
  const claims = { jti: base64url(crypto.getRandomValues(new Uint8Array(16))), iat: Math.floor(Date.now() / 1000), iss: issuer.getPublicKey(), name, sub: subject.getPublicKey(), nats: { ...nats, version: 2 } };
  const payload = base64url(JSON.stringify(claims));
  return `${header}.${payload}.${base64url(issuer.sign(Buffer.from(`${header}.${payload}`)))}`;
}

export interface NatsOperatorSetup {
  /** nats-server configuration: the operator, the system account and the account, preloaded. */
  serverConfig: string;
  /** A user's .creds file contents, as nsc writes them. */
  userCreds: string;
}

export function natsOperatorSetup(): NatsOperatorSetup {
  const operator = createOperator();
  const system = createAccount();
  const account = createAccount();
  const user = createUser();
  const operatorJwt = jwt(operator, operator, "test-operator", { type: "operator", system_account: system.getPublicKey() });
  const systemJwt = jwt(system, operator, "SYS", { type: "account", limits: unlimited });
  const accountJwt = jwt(account, operator, "mnist", { type: "account", limits: { ...unlimited, mem_storage: -1, disk_storage: -1, streams: -1, consumer: -1 } });
  const userJwt = jwt(user, account, "pipeline", { type: "user", pub: {}, sub: {}, subs: -1, data: -1, payload: -1 });
  return {
    serverConfig: [
      `operator: ${operatorJwt}`,
      `system_account: ${system.getPublicKey()}`,
      "resolver: MEMORY",
      `resolver_preload: { ${account.getPublicKey()}: ${accountJwt}, ${system.getPublicKey()}: ${systemJwt} }`,
      "",
    ].join("\n"),
    userCreds: [
      "-----BEGIN NATS USER JWT-----",
      userJwt,
      "------END NATS USER JWT------",
      "",
      "************************* IMPORTANT *************************",
      "NKEY Seed printed below can be used to sign and prove identity.",
      "",
      "-----BEGIN USER NKEY SEED-----",
      new TextDecoder().decode(user.getSeed()),
      "------END USER NKEY SEED------",
      "",
    ].join("\n"),
  };
}
