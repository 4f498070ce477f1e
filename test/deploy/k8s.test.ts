// deploy/k8s: the kustomization renders, every object is valid Kubernetes, and what the
// manifests tell the services (environment, ports, probes, commands) is what they accept.
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { describe, expect, it } from "vitest";
import { containerEnv, find, selects, targetContainerPort, workloads, type Container, type Probe, type Workload } from "./kubernetes.js";
import { parseYamlDocuments, quantity, renderKustomize, repoRoot, strictFieldProblems, validateSchema, type K8sObject } from "./manifests.js";
import { checkServiceEnv, entrypointCommands, entrypointProblem, isServiceName, runEntrypoint, serviceNames, type ServiceName } from "./services.js";

/** The Secrets' placeholders replaced with tokens of one's own, as deploy/k8s/README.md says to before deploying. */
const withSecretsReplaced = (env: Record<string, string>): Record<string, string> => ({ ...env, NATS_TOKEN: "n".repeat(64), AUTH_TOKEN: "t".repeat(64) });

const k8sDir = join(repoRoot, "deploy/k8s");
const image = "mnist-pipeline";

function yamlFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return yamlFiles(path);
    return /\.ya?ml$/.test(entry.name) ? [path] : [];
  });
}

/** A container of the pipeline's image: the service it runs is its first argument. */
function pipelineContainers(objects: readonly K8sObject[]): { workload: Workload; container: Container; service: ServiceName }[] {
  return workloads(objects).flatMap((workload) =>
    workload.spec.template.spec.containers
      .filter((container) => container.image.split(/[:@]/)[0]!.split("/").at(-1) === image)
      .map((container) => {
        const service = container.args?.[0];
        if (!isServiceName(service)) throw new Error(`${workload.kind}/${workload.metadata.name}: container ${container.name} runs ${JSON.stringify(container.args)}, not one of ${serviceNames.join(", ")}`);
        return { workload, container, service };
      }),
  );
}

// Rendered once, on first use: without kubectl every test that needs it fails with the reason.
let rendering: K8sObject[] | undefined;
function rendered(): K8sObject[] {
  rendering ??= renderKustomize(k8sDir);
  return rendering;
}

describe("deploy/k8s renders and validates", () => {
  it("every YAML file parses, each document a Kubernetes object or the kustomization", () => {
    const files = yamlFiles(k8sDir);
    expect(files.map((file) => relative(k8sDir, file))).toContain("kustomization.yaml");
    for (const file of files) {
      const documents = parseYamlDocuments(readFileSync(file, "utf8"), file);
      expect(documents.length, file).toBeGreaterThan(0);
      for (const document of documents) expect(document, file).toMatchObject({ apiVersion: expect.any(String), kind: expect.any(String) });
    }
  });

  it("kubectl kustomize renders the whole pipeline into the mnist namespace", () => {
    const objects = rendered();
    const names = objects.map((object) => `${object.kind}/${object.metadata.name.replace(/-[a-z0-9]{10}$/, "-HASH")}`).sort();
    expect(names).toEqual(
      [
        "ConfigMap/mnist-augment-HASH",
        "ConfigMap/mnist-common-HASH",
        "ConfigMap/mnist-evaluator-HASH",
        "ConfigMap/mnist-trainer-HASH",
        "Deployment/augment",
        "Deployment/evaluator",
        "Deployment/trainer",
        "HorizontalPodAutoscaler/augment",
        "Namespace/mnist",
        "NetworkPolicy/evaluator-clients",
        "NetworkPolicy/nats-from-pipeline",
        "NetworkPolicy/pipeline-metrics",
        "NetworkPolicy/trainer-from-evaluator",
        "PodDisruptionBudget/evaluator",
        "Secret/mnist-grpc-HASH",
        "Secret/mnist-nats-HASH",
        "Service/evaluator",
        "Service/nats",
        "Service/nats-headless",
        "StatefulSet/nats",
      ].sort(),
    );
    for (const object of objects.filter((candidate) => candidate.kind !== "Namespace")) expect(object.metadata.namespace, object.metadata.name).toBe("mnist");
  });

  it("every rendered object validates against the Kubernetes API schema of its kind, with no unknown field", async () => {
    const objects = rendered();
    for (const object of objects) await validateSchema(object);
    expect(strictFieldProblems(objects)).toEqual([]);
  });

  it("the validation rejects a wrongly typed field, a missing required one and a misspelt one", async () => {
    const objects = rendered();
    const deployment = structuredClone(find<Workload>(objects, "Deployment", "evaluator"));
    await expect(validateSchema({ ...deployment, spec: { ...deployment.spec, replicas: "two" as unknown as number } })).rejects.toThrow(/Deployment\/evaluator: .*replicas must be integer/);
    const noContainers = structuredClone(deployment);
    delete (noContainers.spec.template.spec as Partial<typeof noContainers.spec.template.spec>).containers;
    await expect(validateSchema(noContainers)).rejects.toThrow(/containers/);
    await expect(validateSchema({ ...deployment, apiVersion: "apps/v9" })).rejects.toThrow(/no Kubernetes schema for apiVersion apps\/v9/);
    const misspelt = structuredClone(deployment);
    const container = misspelt.spec.template.spec.containers[0]! as Container & { readinesProbe?: Probe };
    container.readinesProbe = container.readinessProbe;
    delete container.readinessProbe;
    expect(strictFieldProblems([misspelt])).toEqual([expect.stringMatching(/^Deployment\/evaluator: .*'"readinesProbe"' does not exist in type 'IContainer'/)]);
  });

  it("labels follow app.kubernetes.io/*: on every object, and each selector selects its own pods", () => {
    const objects = rendered();
    for (const object of objects) {
      expect(object.metadata.labels, `${object.kind}/${object.metadata.name}`).toMatchObject({ "app.kubernetes.io/part-of": "mnist-pipeline", "app.kubernetes.io/managed-by": "kustomize" });
    }
    for (const workload of workloads(objects)) {
      const labels = workload.spec.template.metadata.labels;
      expect(labels, workload.metadata.name).toMatchObject({ "app.kubernetes.io/name": expect.any(String), "app.kubernetes.io/component": expect.any(String), "app.kubernetes.io/part-of": "mnist-pipeline" });
      expect(selects(workload.spec.selector.matchLabels, labels), `${workload.metadata.name}'s selector selects its pods`).toBe(true);
      // No workload's pods are claimed by another's selector (a Deployment adopting the wrong pods).
      const claimants = workloads(objects).filter((other) => selects(other.spec.selector.matchLabels, labels));
      expect(claimants.map((other) => other.metadata.name), workload.metadata.name).toEqual([workload.metadata.name]);
    }
    // The README's `kubectl logs -l app.kubernetes.io/component=<service>` reaches exactly that service's pods.
    for (const service of serviceNames) {
      const selected = workloads(objects).filter((workload) => workload.spec.template.metadata.labels["app.kubernetes.io/component"] === service);
      expect(selected.map((workload) => workload.metadata.name)).toEqual([service]);
    }
  });
});

describe("deploy/k8s agrees with the services", () => {
  it("runs each of the three services once, from the image's entrypoint with a command it accepts", () => {
    const objects = rendered();
    const accepted = entrypointCommands();
    const containers = pipelineContainers(objects);
    expect(containers.map(({ service }) => service).sort()).toEqual([...serviceNames].sort());
    for (const { workload, container } of containers) {
      // `command` would replace the image's entrypoint, which picks the program from the first argument.
      expect(container.command, `${workload.metadata.name}: command`).toBeUndefined();
      expect(entrypointProblem(container.args ?? [], accepted), `${workload.metadata.name}: args ${JSON.stringify(container.args)}`).toBeUndefined();
    }
  });

  it("the entrypoint's command list is read right: it accepts what the arms say and refuses the rest with exit 2", () => {
    const accepted = entrypointCommands();
    for (const service of serviceNames) expect(accepted.commands).toContain(service);
    expect(accepted.healthcheckTargets).toEqual(new Set(["evaluator", "trainer", "augment", ""]));
    expect(entrypointProblem(["train"], accepted)).toMatch(/refuses command "train": it accepts augment, trainer, evaluator, mnistctl, healthcheck/);
    expect(entrypointProblem(["healthcheck", "nats"], accepted)).toMatch(/healthcheck refuses "nats"/);
    for (const refused of [["train"], [], ["healthcheck", "nats"]]) {
      const result = runEntrypoint(refused);
      expect(result.status, `entrypoint ${refused.join(" ")}`).toBe(2);
      expect(result.stderr).toMatch(/^usage: augment \| trainer \| evaluator \| mnistctl/);
    }
    // An accepted command that starts nothing: the mnistctl arm reaches the built CLI.
    const help = runEntrypoint(["mnistctl", "--help"]);
    expect(help.status, help.stderr).toBe(0);
    expect(help.stdout).toMatch(/mnistctl/);
  });

  it("sets only variables each service reads, every value valid, and what a cluster needs (NATS address and token, the trainer's pod IP)", () => {
    const objects = rendered();
    for (const { workload, container, service } of pipelineContainers(objects)) {
      const { env: shipped, problems } = containerEnv(container, objects);
      expect(problems).toEqual([]);
      // The Secrets ship placeholders: a service given them refuses to start, naming the variable.
      expect(checkServiceEnv(service, shipped).problems).toEqual([
        `${service}: NATS_TOKEN="(secret)" is invalid: a secret of your own, not the placeholder the deployment files ship (e.g. the output of openssl rand -hex 32)`,
      ]);
      expect(checkServiceEnv(service, { ...shipped, NATS_TOKEN: "a".repeat(64) }).problems).toEqual([
        `${service}: AUTH_TOKEN="(secret)" is invalid: a secret of your own, not the placeholder the deployment files ship (e.g. the output of openssl rand -hex 32)`,
      ]);
      // Replaced as the README says, every value is valid.
      const env = withSecretsReplaced(shipped);
      const checked = checkServiceEnv(service, env);
      expect(checked.problems).toEqual([]);
      // Defaults that are wrong in a cluster: 127.0.0.1 for NATS, no token, the pod's host name for the trainer.
      expect(env.NATS_URL, `${service}: NATS_URL`).toBeDefined();
      expect(env.NATS_TOKEN, `${service}: NATS_TOKEN`).toBeTruthy();
      expect(container.env?.find((variable) => variable.name === "NATS_TOKEN")?.valueFrom?.secretKeyRef, `${service}: NATS_TOKEN from the Secret`).toBeDefined();
      // The bearer token every RunService/TrainerService call needs, from a Secret, the same for all.
      expect(env.AUTH_TOKEN, `${service}: AUTH_TOKEN`).toBeTruthy();
      expect(container.env?.find((variable) => variable.name === "AUTH_TOKEN")?.valueFrom?.secretKeyRef, `${service}: AUTH_TOKEN from the Secret`).toBeDefined();
      if (service === "trainer") {
        expect(container.env?.find((variable) => variable.name === "TRAINER_ADVERTISE_HOST")?.valueFrom?.fieldRef?.fieldPath).toBe("status.podIP");
        expect(checked.config?.GRPC_HOST, "the trainer listens on the pod IP it advertises").toBe("0.0.0.0");
      }
      expect(workload.spec.template.spec.containers, workload.metadata.name).toHaveLength(1);
    }
  });

  it("the environment check catches a variable a service does not read and a value it refuses", () => {
    expect(checkServiceEnv("trainer", { TRAINER_MAX_RUN: "2" }).problems).toEqual([expect.stringMatching(/^trainer: TRAINER_MAX_RUN is not a variable the trainer service reads/)]);
    expect(checkServiceEnv("augment", { TRAINER_MAX_RUNS: "2" }).problems).toEqual([expect.stringMatching(/^augment: TRAINER_MAX_RUNS is not a variable/)]);
    expect(checkServiceEnv("evaluator", { SHUTDOWN_GRACE_MS: "soon" }).problems).toEqual([expect.stringMatching(/SHUTDOWN_GRACE_MS.*"soon".*an integer from 0 to 600000/)]);
    expect(checkServiceEnv("augment", { NATS_URL: "nats:4222" }).problems).toEqual([expect.stringMatching(/NATS_URL/)]);
  });

  it("container ports, probes and Services use each service's gRPC port (and the evaluator's dashboard port), and NATS_URL reaches the NATS Service", () => {
    const objects = rendered();
    for (const { workload, container, service } of pipelineContainers(objects)) {
      const { config } = checkServiceEnv(service, withSecretsReplaced(containerEnv(container, objects).env));
      const port = config!.GRPC_PORT;
      const dashboard = service === "evaluator" ? [{ name: "dashboard", containerPort: Number(config!.DASHBOARD_PORT) }] : [];
      expect(container.ports, `${service}: ports`).toEqual([{ name: "grpc", containerPort: port }, { name: "metrics", containerPort: config!.METRICS_PORT }, ...dashboard]);
      // Prometheus' annotation-based discovery finds the same port.
      expect(workload.spec.template.metadata.annotations, `${service}: annotations`).toEqual({
        "prometheus.io/scrape": "true",
        "prometheus.io/port": String(config!.METRICS_PORT),
        "prometheus.io/path": "/metrics",
      });
      for (const probe of ["startupProbe", "readinessProbe", "livenessProbe"] as const) {
        expect(container[probe], `${service}: ${probe}`).toMatchObject({ grpc: { port } });
      }
      // Services that select this workload reach its gRPC port (and the evaluator's dashboard).
      const served = [port, ...dashboard.map((entry) => entry.containerPort)];
      for (const svc of objects.filter((object) => object.kind === "Service") as (K8sObject & { spec: { selector: Record<string, string>; ports: { port: number; targetPort: number | string }[] } })[]) {
        if (!selects(svc.spec.selector, workload.spec.template.metadata.labels)) continue;
        for (const servicePort of svc.spec.ports) expect(served, `Service ${svc.metadata.name}`).toContain(targetContainerPort(servicePort.targetPort, workload.spec.template.spec.containers)?.containerPort);
      }
    }
    // mnistctl's default server is localhost:50051 and the dashboard's 8080: the port-forwards in the README keep the ports.
    const evaluator = find<K8sObject & { spec: { ports: { port: number }[] } }>(objects, "Service", "evaluator");
    expect(evaluator.spec.ports.map((port) => port.port)).toEqual([50051, 8080]);

    const nats = find<Workload>(objects, "StatefulSet", "nats");
    for (const name of ["nats", "nats-headless"]) {
      const svc = find<K8sObject & { spec: { selector: Record<string, string>; ports: { port: number; targetPort: string }[] } }>(objects, "Service", name);
      expect(selects(svc.spec.selector, nats.spec.template.metadata.labels), `Service ${name} selects NATS`).toBe(true);
      for (const port of svc.spec.ports) expect(targetContainerPort(port.targetPort, nats.spec.template.spec.containers), `Service ${name} port ${port.port}`).toBeDefined();
    }
    for (const { container } of pipelineContainers(objects)) {
      const url = new URL(containerEnv(container, objects).env.NATS_URL!);
      const svc = find<K8sObject & { spec: { ports: { port: number; targetPort: string }[] } }>(objects, "Service", url.hostname.split(".")[0]!);
      const servicePort = svc.spec.ports.find((port) => port.port === Number(url.port || 4222));
      expect(servicePort, `${url}`).toBeDefined();
      expect(targetContainerPort(servicePort!.targetPort, nats.spec.template.spec.containers)?.containerPort).toBe(4222);
    }
  });

  it("NATS keeps JetStream on a volume claim, demands the services' token, and is probed on its monitoring port", () => {
    const objects = rendered();
    const nats = find<Workload & { spec: { serviceName: string; volumeClaimTemplates: { metadata: { name: string } }[] } }>(objects, "StatefulSet", "nats");
    const [server] = nats.spec.template.spec.containers as (Container & { volumeMounts: { name: string; mountPath: string }[] })[];
    expect(find(objects, "Service", nats.spec.serviceName)).toMatchObject({ spec: { clusterIP: "None" } });
    const storeDir = server!.args!.find((arg) => arg.startsWith("--store_dir="))!.split("=")[1];
    expect(server!.args).toContain("--jetstream");
    const mount = server!.volumeMounts.find((volume) => volume.mountPath === storeDir);
    expect(nats.spec.volumeClaimTemplates.map((claim) => claim.metadata.name)).toContain(mount?.name);
    // --auth=$(NATS_TOKEN), expanded by the kubelet from the same Secret key the services read.
    expect(server!.args).toContain("--auth=$(NATS_TOKEN)");
    const serverToken = containerEnv(server!, objects).env.NATS_TOKEN;
    for (const { container } of pipelineContainers(objects)) expect(containerEnv(container, objects).env.NATS_TOKEN).toBe(serverToken);
    const monitor = server!.ports!.find((port) => port.name === "monitor")!;
    expect(server!.args).toContain(`--http_port=${monitor.containerPort}`);
    for (const probe of ["startupProbe", "readinessProbe", "livenessProbe"] as const) {
      expect(targetContainerPort(server![probe]!.httpGet!.port, [server!])?.containerPort, probe).toBe(monitor.containerPort);
      expect(server![probe]!.httpGet!.path, probe).toMatch(/^\/healthz/);
    }
  });

  it("NetworkPolicies: only the evaluator reaches the trainers' gRPC port, only the pipeline's pods reach NATS's client port", () => {
    type Peer = { podSelector?: { matchLabels?: Record<string, string> }; namespaceSelector?: unknown; ipBlock?: unknown };
    type Policy = K8sObject & {
      spec: { podSelector: { matchLabels: Record<string, string> }; policyTypes: string[]; ingress: { from: Peer[]; ports: { protocol: string; port: number | string }[] }[] };
    };
    const objects = rendered();
    const all = objects.filter((object) => object.kind === "NetworkPolicy") as Policy[];
    const podLabels = (workload: Workload) => workload.spec.template.metadata.labels;
    // The metrics port is open to any scraper, and only it: one policy over the three pipeline workloads.
    const metrics = all.find((policy) => policy.metadata.name === "pipeline-metrics")!;
    expect(workloads(objects).filter((workload) => selects(metrics.spec.podSelector.matchLabels, podLabels(workload))).map((workload) => workload.metadata.name).sort()).toEqual(["augment", "evaluator", "trainer"]);
    expect(metrics.spec.ingress).toEqual([{ ports: [{ protocol: "TCP", port: "metrics" }] }]);
    const policies = all.filter((policy) => policy !== metrics);
    // The pods a policy lets in, among the rendered workloads (same namespace: no namespaceSelector, no ipBlock).
    const admitted = (policy: Policy) =>
      workloads(objects)
        .filter((workload) => policy.spec.ingress.some((rule) => rule.from.some((peer) => peer.podSelector !== undefined && selects(peer.podSelector.matchLabels ?? {}, podLabels(workload)))))
        .map((workload) => workload.metadata.name)
        .sort();
    const guarded = (policy: Policy) => workloads(objects).filter((workload) => selects(policy.spec.podSelector.matchLabels, podLabels(workload)));
    const checks = [
      { workload: find<Workload>(objects, "Deployment", "trainer"), from: ["evaluator"], port: find<Workload>(objects, "Deployment", "trainer").spec.template.spec.containers[0]!.ports!.find((port) => port.name === "grpc")!.containerPort },
      { workload: find<Workload>(objects, "StatefulSet", "nats"), from: ["augment", "evaluator", "trainer"], port: 4222 },
    ];
    for (const { workload, from, port } of checks) {
      const policy = policies.find((candidate) => guarded(candidate).includes(workload));
      expect(policy, `a NetworkPolicy guards ${workload.metadata.name}`).toBeDefined();
      expect(guarded(policy!).map((guardedWorkload) => guardedWorkload.metadata.name)).toEqual([workload.metadata.name]);
      expect(policy!.spec.policyTypes).toEqual(["Ingress"]);
      expect(admitted(policy!), `${policy!.metadata.name} admits`).toEqual(from);
      for (const rule of policy!.spec.ingress) {
        for (const peer of rule.from) expect(peer.namespaceSelector ?? peer.ipBlock, `${policy!.metadata.name}: no peers from other namespaces or addresses`).toBeUndefined();
        expect(rule.ports.map(({ port: rulePort }) => targetContainerPort(rulePort, workload.spec.template.spec.containers)?.containerPort)).toEqual([port]);
      }
    }
  });

  it("the optional Prometheus Operator component: a ServiceMonitor on a headless Service whose endpoints are every pipeline pod's metrics port", () => {
    const overlay = mkdtempSync(join(tmpdir(), "mnist-k8s-overlay-"));
    try {
      writeFileSync(
        join(overlay, "kustomization.yaml"),
        `apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - ${relative(overlay, k8sDir)}\ncomponents:\n  - ${relative(overlay, join(k8sDir, "components/prometheus-operator"))}\n`,
      );
      const objects = renderKustomize(overlay);
      type Service = K8sObject & { spec: { clusterIP: string; selector: Record<string, string>; ports: { name: string; port: number; targetPort: string }[] } };
      const service = find<Service>(objects, "Service", "mnist-metrics");
      const monitor = find<K8sObject & { spec: { selector: { matchLabels: Record<string, string> }; endpoints: { port: string; path: string }[] } }>(objects, "ServiceMonitor", "mnist-pipeline");
      expect(monitor.metadata.namespace).toBe("mnist");
      expect(selects(monitor.spec.selector.matchLabels, service.metadata.labels ?? {})).toBe(true);
      expect(monitor.spec.endpoints).toEqual([expect.objectContaining({ port: "metrics", path: "/metrics" })]);
      expect(service.spec.clusterIP).toBe("None");
      const selected = workloads(objects).filter((workload) => selects(service.spec.selector, workload.spec.template.metadata.labels));
      expect(selected.map((workload) => workload.metadata.name).sort()).toEqual(["augment", "evaluator", "trainer"]);
      for (const workload of selected) expect(targetContainerPort(service.spec.ports[0]!.targetPort, workload.spec.template.spec.containers)?.containerPort).toBe(9464);
    } finally {
      rmSync(overlay, { recursive: true, force: true });
    }
  });

  it("gives every pod time for its graceful stop: terminationGracePeriodSeconds covers SHUTDOWN_GRACE_MS, by at most 10 s", () => {
    const objects = rendered();
    for (const { workload, container, service } of pipelineContainers(objects)) {
      const { config } = checkServiceEnv(service, withSecretsReplaced(containerEnv(container, objects).env));
      const graceMs = (workload.spec.template.spec.terminationGracePeriodSeconds ?? 30) * 1000;
      expect(graceMs, `${service}: terminationGracePeriodSeconds vs SHUTDOWN_GRACE_MS ${config!.SHUTDOWN_GRACE_MS}`).toBeGreaterThan(config!.SHUTDOWN_GRACE_MS);
      expect(graceMs).toBeLessThanOrEqual(config!.SHUTDOWN_GRACE_MS + 10_000);
    }
  });

  it("runs the pipeline's pods as the image's non-root user, without privilege escalation or capabilities", () => {
    const objects = rendered();
    for (const { workload, container } of pipelineContainers(objects)) {
      expect(workload.spec.template.spec.securityContext, workload.metadata.name).toMatchObject({ runAsNonRoot: true, runAsUser: expect.any(Number) });
      expect(container.securityContext, workload.metadata.name).toMatchObject({ allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] } });
    }
  });

  it("every container requests CPU and memory within its limits", () => {
    const objects = rendered();
    for (const workload of workloads(objects)) {
      for (const container of workload.spec.template.spec.containers) {
        const { requests = {}, limits = {} } = container.resources ?? {};
        for (const resource of ["cpu", "memory"]) {
          const label = `${workload.metadata.name}/${container.name} ${resource}`;
          expect(requests[resource], `${label} request`).toBeDefined();
          expect(limits[resource], `${label} limit`).toBeDefined();
          expect(quantity(requests[resource]!), label).toBeLessThanOrEqual(quantity(limits[resource]!));
        }
      }
    }
  });

  it("augment scales on CPU through a HorizontalPodAutoscaler that owns its replica count", () => {
    const objects = rendered();
    const hpa = find<K8sObject & { spec: { scaleTargetRef: { apiVersion: string; kind: string; name: string }; minReplicas: number; maxReplicas: number; metrics: unknown[] } }>(objects, "HorizontalPodAutoscaler", "augment");
    const target = find<Workload>(objects, hpa.spec.scaleTargetRef.kind, hpa.spec.scaleTargetRef.name);
    expect(target.apiVersion).toBe(hpa.spec.scaleTargetRef.apiVersion);
    expect(target.spec.template.spec.containers[0]!.args?.[0]).toBe("augment");
    expect(target.spec.replicas, "a replicas field would reset the autoscaler's count on every apply").toBeUndefined();
    expect(hpa.spec.metrics).toContainEqual({ type: "Resource", resource: { name: "cpu", target: expect.objectContaining({ type: "Utilization" }) } });
    expect(hpa.spec.minReplicas).toBeLessThanOrEqual(hpa.spec.maxReplicas);
    // Utilisation is a percentage of the request: without one the autoscaler cannot act.
    expect(target.spec.template.spec.containers[0]!.resources?.requests?.cpu).toBeDefined();
  });

  it("a PodDisruptionBudget keeps the evaluator, which runs alone", () => {
    const objects = rendered();
    const evaluator = find<Workload & { spec: { strategy: { type: string } } }>(objects, "Deployment", "evaluator");
    expect(evaluator.spec.replicas).toBe(1);
    expect(evaluator.spec.strategy.type).toBe("Recreate");
    const pdb = find<K8sObject & { spec: { minAvailable: number; selector: { matchLabels: Record<string, string> } } }>(objects, "PodDisruptionBudget", "evaluator");
    expect(selects(pdb.spec.selector.matchLabels, evaluator.spec.template.metadata.labels)).toBe(true);
    expect(pdb.spec.minAvailable).toBe(1);
  });
});
