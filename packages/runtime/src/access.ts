import { readFileSync } from "node:fs";
import type { ClientAccess, ServerTls } from "@mnist/grpc";
import { env, type Variable } from "./config.js";
import { ConfigError } from "./errors.js";

const pemBlock = (label: RegExp) => (text: string) => new RegExp(`-----BEGIN ${label.source}-----[\\s\\S]+?-----END ${label.source}-----`).test(text);

/** A PEM certificate (or chain) file. */
export const certificateFile: Variable<string | undefined> = env.file("a PEM certificate (-----BEGIN CERTIFICATE-----)", pemBlock(/CERTIFICATE/));
/** A PEM private key file (PKCS#8, EC or RSA). */
export const privateKeyFile: Variable<string | undefined> = env.file("a PEM private key (-----BEGIN PRIVATE KEY-----)", pemBlock(/(?:EC |RSA |ENCRYPTED )?PRIVATE KEY/));

const credsBlocks = /\s*(?:(?:[-]{3,}[^\n]*[-]{3,}\n)(.+)(?:\n\s*[-]{3,}[^\n]*[-]{3,}\n))/gi;

/** A NATS .creds file: a user JWT block, then a user NKEY seed block (as nsc writes them). */
export function looksLikeCreds(text: string): boolean {
  const blocks = [...text.matchAll(credsBlocks)].map((match) => match[1]!.trim());
  return blocks.length >= 2 && /^ey[\w-]+\.[\w-]+\.[\w-]+$/.test(blocks[0]!) && /^SU[A-Z2-7]+$/.test(blocks[1]!);
}

export const credsFile: Variable<string | undefined> = env.file("NATS user credentials (a user JWT block and a user NKEY seed block, as nsc writes them)", looksLikeCreds);

/** The access variables every service reads. */
export interface AccessConfig {
  NATS_TOKEN: string | undefined;
  NATS_USER: string | undefined;
  NATS_PASSWORD: string | undefined;
  NATS_CREDS: string | undefined;
  NATS_CA: string | undefined;
  GRPC_TLS_CERT: string | undefined;
  GRPC_TLS_KEY: string | undefined;
  GRPC_TLS_CA: string | undefined;
  AUTH_TOKEN: string | undefined;
}

/** The shortest AUTH_TOKEN a service accepts: 32 characters (128 bits as hex) cannot be guessed, even at thousands of tries a second. */
export const minTokenChars = 32;

const optionalString: Variable<string | undefined> = { parse: (raw) => (raw === undefined || raw === "" ? undefined : raw) };

export const accessSpec = {
  NATS_TOKEN: env.secret(),
  NATS_USER: optionalString,
  NATS_PASSWORD: env.secret(),
  NATS_CREDS: credsFile,
  NATS_CA: certificateFile,
  GRPC_TLS_CERT: certificateFile,
  GRPC_TLS_KEY: privateKeyFile,
  GRPC_TLS_CA: certificateFile,
  AUTH_TOKEN: env.secret({ minChars: minTokenChars }),
};

/** The rules across the access variables: a ConfigError naming the variable that breaks one. */
export function checkAccess(config: AccessConfig): void {
  if ((config.GRPC_TLS_CERT === undefined) !== (config.GRPC_TLS_KEY === undefined)) {
    const [missing, set] = config.GRPC_TLS_CERT === undefined ? ["GRPC_TLS_CERT", "GRPC_TLS_KEY"] : ["GRPC_TLS_KEY", "GRPC_TLS_CERT"];
    throw new ConfigError(missing, undefined, `required when ${set} is set (TLS needs both the certificate and its key)`);
  }
  if (config.GRPC_TLS_CA !== undefined && config.GRPC_TLS_CERT === undefined) {
    throw new ConfigError("GRPC_TLS_CERT", undefined, "required when GRPC_TLS_CA is set (mutual TLS needs this service's own certificate and key too)");
  }
  if ((config.NATS_USER === undefined) !== (config.NATS_PASSWORD === undefined)) {
    if (config.NATS_USER === undefined) throw new ConfigError("NATS_USER", undefined, "required when NATS_PASSWORD is set");
    throw new ConfigError("NATS_PASSWORD", undefined, `required when NATS_USER is set (NATS_USER=${JSON.stringify(config.NATS_USER)})`);
  }
  const natsAuth = [config.NATS_TOKEN && "NATS_TOKEN", config.NATS_USER && "NATS_USER", config.NATS_CREDS && "NATS_CREDS"].filter(Boolean);
  if (natsAuth.length > 1) {
    throw new ConfigError(natsAuth[1] as string, "(set)", `only one way to authenticate to NATS: NATS_TOKEN, NATS_USER + NATS_PASSWORD or NATS_CREDS (also set: ${natsAuth[0]})`);
  }
}

/** gRPC server TLS from GRPC_TLS_CERT/KEY (and GRPC_TLS_CA: mutual TLS); undefined for plaintext. */
export function grpcServerTls(config: AccessConfig): ServerTls | undefined {
  if (config.GRPC_TLS_CERT === undefined || config.GRPC_TLS_KEY === undefined) return undefined;
  return {
    cert: readFileSync(config.GRPC_TLS_CERT),
    key: readFileSync(config.GRPC_TLS_KEY),
    ...(config.GRPC_TLS_CA === undefined ? {} : { ca: readFileSync(config.GRPC_TLS_CA) }),
  };
}

/**
 * How this service dials the others (the evaluator its trainers), with the settings it serves
 * with: TLS trusting GRPC_TLS_CA, or the certificate itself when there is no CA (a self-signed
 * certificate shared by the services); its own certificate presented when GRPC_TLS_CA asks for
 * mutual TLS; AUTH_TOKEN as the bearer token.
 */
export function grpcClientAccess(config: AccessConfig): ClientAccess {
  const server = grpcServerTls(config);
  return {
    ...(server ? { tls: server.ca ? { ca: server.ca, cert: server.cert, key: server.key } : { ca: server.cert } } : {}),
    ...(config.AUTH_TOKEN === undefined ? {} : { token: config.AUTH_TOKEN }),
  };
}
