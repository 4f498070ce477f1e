// Reading rendered Kubernetes objects the way the cluster would: a workload's pods and
// containers, and the environment a container ends up with.
import type { K8sObject } from "./manifests.js";

export interface Probe {
  grpc?: { port: number; service?: string };
  httpGet?: { path?: string; port: number | string };
  [field: string]: unknown;
}

export interface ContainerPort {
  name?: string;
  containerPort: number;
  protocol?: string;
}

export interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: {
    configMapKeyRef?: { name: string; key: string; optional?: boolean };
    secretKeyRef?: { name: string; key: string; optional?: boolean };
    fieldRef?: { fieldPath: string };
    resourceFieldRef?: { resource: string };
  };
}

export interface Container {
  name: string;
  image: string;
  command?: string[];
  args?: string[];
  env?: EnvVar[];
  envFrom?: { prefix?: string; configMapRef?: { name: string; optional?: boolean }; secretRef?: { name: string; optional?: boolean } }[];
  ports?: ContainerPort[];
  startupProbe?: Probe;
  readinessProbe?: Probe;
  livenessProbe?: Probe;
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  securityContext?: Record<string, unknown>;
}

export interface PodSpec {
  containers: Container[];
  terminationGracePeriodSeconds?: number;
  securityContext?: Record<string, unknown>;
}

export interface Workload extends K8sObject {
  spec: {
    replicas?: number;
    selector: { matchLabels: Record<string, string> };
    template: { metadata: { labels: Record<string, string>; annotations?: Record<string, string> }; spec: PodSpec };
  };
}

export const workloadKinds = ["Deployment", "StatefulSet", "DaemonSet"];

export function workloads(objects: readonly K8sObject[]): Workload[] {
  return objects.filter((object) => workloadKinds.includes(object.kind)) as Workload[];
}

export function find<T extends K8sObject = K8sObject>(objects: readonly K8sObject[], kind: string, name: string): T {
  const found = objects.find((object) => object.kind === kind && object.metadata.name === name);
  if (!found) throw new Error(`no ${kind} named ${name} in the rendered manifests (found ${objects.map((object) => `${object.kind}/${object.metadata.name}`).join(", ")})`);
  return found as T;
}

/** Whether a label selector (matchLabels or a Service's selector map) selects these labels. */
export function selects(selector: Record<string, string>, labels: Record<string, string>): boolean {
  return Object.keys(selector).length > 0 && Object.entries(selector).every(([key, value]) => labels[key] === value);
}

/**
 * Stand-ins for downward-API fields, which only exist in a running pod: plausible values of
 * the right shape, so the services' validation judges what a pod would really be given.
 */
const downwardApiStandIns: Record<string, string> = {
  "status.podIP": "10.244.1.17",
  "status.hostIP": "192.168.49.2",
  "metadata.name": "trainer-5d8f7c9b6-x2k4q",
  "metadata.namespace": "mnist",
  "spec.nodeName": "node-1",
  "spec.serviceAccountName": "default",
};

/**
 * The environment a container starts with: envFrom first, then env (later wins), with values
 * from the rendered ConfigMaps and Secrets (the Secret's value is the kustomization's
 * placeholder token, which a user replaces by another of the same kind) and stand-ins for the
 * downward API. `$(NAME)` references are expanded as the kubelet does. Problems name what
 * cannot be resolved.
 */
export function containerEnv(container: Container, objects: readonly K8sObject[]): { env: Record<string, string>; problems: string[] } {
  const env: Record<string, string> = {};
  const problems: string[] = [];
  const data = (kind: "ConfigMap" | "Secret", name: string): Record<string, string> | undefined => {
    const object = objects.find((candidate) => candidate.kind === kind && candidate.metadata.name === name);
    if (!object) return undefined;
    if (kind === "ConfigMap") return (object.data ?? {}) as Record<string, string>;
    const decoded = Object.fromEntries(Object.entries((object.data ?? {}) as Record<string, string>).map(([key, value]) => [key, Buffer.from(value, "base64").toString("utf8")]));
    return { ...decoded, ...((object.stringData ?? {}) as Record<string, string>) };
  };
  for (const source of container.envFrom ?? []) {
    const [kind, ref] = source.configMapRef ? (["ConfigMap", source.configMapRef] as const) : (["Secret", source.secretRef!] as const);
    const values = data(kind, ref.name);
    if (!values) {
      if (!ref.optional) problems.push(`${container.name}: envFrom names ${kind} ${ref.name}, which is not in the manifests`);
      continue;
    }
    for (const [key, value] of Object.entries(values)) env[(source.prefix ?? "") + key] = value;
  }
  for (const variable of container.env ?? []) {
    const from = variable.valueFrom;
    if (!from) {
      env[variable.name] = (variable.value ?? "").replace(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (reference, name: string) => env[name] ?? reference);
    } else if (from.configMapKeyRef || from.secretKeyRef) {
      const [kind, ref] = from.configMapKeyRef ? (["ConfigMap", from.configMapKeyRef] as const) : (["Secret", from.secretKeyRef!] as const);
      const value = data(kind, ref.name)?.[ref.key];
      if (value !== undefined) env[variable.name] = value;
      else if (!ref.optional) problems.push(`${container.name}: ${variable.name} reads key ${ref.key} of ${kind} ${ref.name}, which is not in the manifests`);
    } else if (from.fieldRef) {
      const value = downwardApiStandIns[from.fieldRef.fieldPath];
      if (value !== undefined) env[variable.name] = value;
      else problems.push(`${container.name}: ${variable.name} reads downward-API field ${from.fieldRef.fieldPath}, which has no stand-in here`);
    } else {
      problems.push(`${container.name}: ${variable.name} has a valueFrom this check does not resolve: ${JSON.stringify(from)}`);
    }
  }
  return { env, problems };
}

/** The container port a Service's targetPort (a number or a port name) reaches, if any. */
export function targetContainerPort(targetPort: number | string, containers: readonly Container[]): ContainerPort | undefined {
  const ports = containers.flatMap((container) => container.ports ?? []);
  return ports.find((port) => (typeof targetPort === "number" ? port.containerPort === targetPort : port.name === targetPort));
}
