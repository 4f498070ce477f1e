import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** Paths of PEM files made for one test file with Debian's openssl, in a temporary directory; no key is ever committed. */
export interface TestCerts {
  dir: string;
  /** A self-signed certificate for 127.0.0.1 and localhost, and its key. */
  selfSigned: { cert: string; key: string };
  /** A CA, and certificates it signed (usable as server and as client) with their keys. */
  ca: string;
  server: { cert: string; key: string };
  client: { cert: string; key: string };
  /** A certificate from another CA: not trusted by `ca`. */
  stranger: { cert: string; key: string };
  remove(): void;
}

function openssl(args: string[], cwd: string): void {
  const result = spawnSync("openssl", args, { cwd, encoding: "utf8" });
  if (result.error) throw new Error(`openssl not found: install it (apt-get install -y openssl): ${result.error.message}`);
  if (result.status !== 0) throw new Error(`openssl ${args.join(" ")} failed: ${result.stderr}`);
}

const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
const san = "subjectAltName=IP:127.0.0.1,DNS:localhost";

function selfSigned(dir: string, name: string, cn: string, ca: boolean): { cert: string; key: string } {
  const extensions = ca ? ["-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"] : ["-addext", san];
  openssl(["req", "-x509", ...ec, "-keyout", `${name}.key`, "-out", `${name}.pem`, "-days", "2", "-subj", `/CN=${cn}`, ...extensions], dir);
  return { cert: join(dir, `${name}.pem`), key: join(dir, `${name}.key`) };
}

function signed(dir: string, name: string, ca: { cert: string; key: string }): { cert: string; key: string } {
  openssl(["req", "-new", ...ec, "-keyout", `${name}.key`, "-out", `${name}.csr`, "-subj", `/CN=${name}`], dir);
  writeFileSync(join(dir, `${name}.ext`), `${san}\nextendedKeyUsage=serverAuth,clientAuth\nbasicConstraints=CA:FALSE\n`);
  openssl(["x509", "-req", "-in", `${name}.csr`, "-CA", ca.cert, "-CAkey", ca.key, "-CAcreateserial", "-out", `${name}.pem`, "-days", "2", "-extfile", `${name}.ext`], dir);
  return { cert: join(dir, `${name}.pem`), key: join(dir, `${name}.key`) };
}

export function makeTestCerts(): TestCerts {
  const dir = mkdtempSync(join(tmpdir(), "mnist-certs-"));
  const ca = selfSigned(dir, "ca", "mnist test CA", true);
  const otherCa = selfSigned(dir, "other-ca", "another CA", true);
  return {
    dir,
    selfSigned: selfSigned(dir, "self", "localhost", false),
    ca: ca.cert,
    server: signed(dir, "server", ca),
    client: signed(dir, "client", ca),
    stranger: signed(dir, "stranger", otherCa),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
