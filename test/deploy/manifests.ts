// Reading deployment manifests: YAML files, `kubectl kustomize` output, and their validation
// against the Kubernetes API schemas (kubernetes-models) and field names (its TypeScript types).
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import ts from "typescript";
import { parseAllDocuments } from "yaml";

export const repoRoot = fileURLToPath(new URL("../../", import.meta.url));

export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [field: string]: unknown;
}

/**
 * Every document of a YAML text; a syntax error throws naming the file and the line. `merge`
 * applies `<<:` merge keys, which Compose files use and Kubernetes manifests must not.
 */
export function parseYamlDocuments(text: string, file: string, options: { merge?: boolean } = {}): unknown[] {
  return parseAllDocuments(text, { merge: options.merge ?? false }).map((document) => {
    const error = document.errors[0];
    if (error) throw new Error(`${file}: ${error.message}`);
    return document.toJS();
  });
}

/** `kubectl kustomize DIR` as objects; KUBECTL names another kubectl binary. */
export function renderKustomize(dir: string): K8sObject[] {
  const kubectl = process.env.KUBECTL ?? "kubectl";
  let output: string;
  try {
    output = execFileSync(kubectl, ["kustomize", dir], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  } catch (error) {
    const failure = error as NodeJS.ErrnoException & { stderr?: string };
    if (failure.code === "ENOENT") {
      throw new Error(`${kubectl} not found: the Kubernetes tests need kubectl (Debian: apt-get install kubernetes-client)`);
    }
    throw new Error(`${kubectl} kustomize ${dir} failed: ${failure.stderr ?? failure.message}`);
  }
  return parseYamlDocuments(output, `kubectl kustomize ${dir}`).filter((document) => document !== null) as K8sObject[];
}

/** The kubernetes-models module of an apiVersion and kind: `apps/v1` + `Deployment` → kubernetes-models/apps/v1/Deployment. */
function modelSpecifier(object: { apiVersion: string; kind: string }): string {
  return `kubernetes-models/${object.apiVersion}/${object.kind}`;
}

/**
 * Validates one object against its kind's OpenAPI schema; throws naming the object and the
 * first wrong field. These schemas check types, required fields and enums, but let unknown
 * fields through: strictFieldProblems catches those.
 */
export async function validateSchema(object: K8sObject): Promise<void> {
  const label = `${object.kind}/${object.metadata?.name}`;
  let module: Record<string, new (data: unknown) => { validate(): void }>;
  try {
    module = await import(modelSpecifier(object));
  } catch {
    throw new Error(`${label}: no Kubernetes schema for apiVersion ${object.apiVersion} kind ${object.kind}`);
  }
  const Model = module[object.kind];
  if (!Model) throw new Error(`${label}: kubernetes-models has no ${object.kind} in ${object.apiVersion}`);
  try {
    new Model(object).validate();
  } catch (error) {
    throw new Error(`${label}: ${(error as Error).message}`);
  }
}

/**
 * Field names the Kubernetes API does not know (a misspelt `readinesProbe` would be dropped by
 * the API server and the probe silently lost): each object is type-checked as an object literal
 * of its kubernetes-models interface, so TypeScript's excess-property check reports every
 * unknown field at any depth. One line per problem, naming the object.
 */
export function strictFieldProblems(objects: readonly K8sObject[]): string[] {
  // A file that is never written: it only has to sit in the repository for node_modules to resolve.
  const file = fileURLToPath(new URL("./__rendered-manifests__.ts", import.meta.url));
  const source = objects
    .map((object, index) => `import type { I${object.kind} as T${index} } from "${modelSpecifier(object)}";\nexport const o${index}: T${index} = ${JSON.stringify(object)};\n`)
    .join("");
  const options: ts.CompilerOptions = {
    noEmit: true,
    strict: true,
    skipLibCheck: true,
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.ESNext,
    moduleResolution: ts.ModuleResolutionKind.Bundler,
    lib: ["lib.es2022.d.ts"],
    types: [],
  };
  const host = ts.createCompilerHost(options);
  const getSourceFile = host.getSourceFile.bind(host);
  const fileExists = host.fileExists.bind(host);
  host.getSourceFile = (name, language, ...rest) => (name === file ? ts.createSourceFile(name, source, language) : getSourceFile(name, language, ...rest));
  host.fileExists = (name) => name === file || fileExists(name);
  const program = ts.createProgram([file], options, host);
  return ts.getPreEmitDiagnostics(program).map((diagnostic) => {
    const message = ts.flattenDiagnosticMessageText(diagnostic.messageText, " ");
    if (diagnostic.file?.fileName !== file || diagnostic.start === undefined) return message;
    // Name the object the diagnostic falls in: each object is one line `export const oN: ...`.
    const { line } = diagnostic.file.getLineAndCharacterOfPosition(diagnostic.start);
    const object = objects[Math.floor(line / 2)];
    return object ? `${object.kind}/${object.metadata?.name}: ${message}` : message;
  });
}

/** A Kubernetes quantity ("500m", "1", "256Mi", "1G") as a number of cores or bytes. */
export function quantity(value: string | number): number {
  if (typeof value === "number") return value;
  const match = /^([0-9.]+)(m|k|M|G|T|Ki|Mi|Gi|Ti)?$/.exec(value);
  if (!match) throw new Error(`not a Kubernetes quantity: ${value}`);
  const scale: Record<string, number> = { "": 1, m: 1e-3, k: 1e3, M: 1e6, G: 1e9, T: 1e12, Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40 };
  return Number(match[1]) * scale[match[2] ?? ""]!;
}
