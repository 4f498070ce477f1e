// The dashboard: the runs, a run's page, a comparison of runs and the cluster, kept live by the
// evaluator's event stream (/api/events). Routes live in the URL's hash: #/, #/runs/ID,
// #/compare?runs=A,B or #/compare?sweep=S, #/cluster.
import { api, ApiError, type ClusterView, type EpochView, type ProgressView, type RunDetail, type RunSummary, type Snapshot } from "./api.js";
import { LineChart, palette, type ChartSpec } from "./charts.js";

const state = {
  runs: new Map<string, RunSummary>(),
  progress: new Map<string, ProgressView>(),
  cluster: { trainers: [], augment: [] } as ClusterView,
  sort: { key: "id", descending: true } as { key: SortKey; descending: boolean },
  selected: new Set<string>(),
  /** The run page's record, refetched when its row changes. */
  detail: undefined as RunDetail | undefined,
};

let page: Page | undefined;

interface Page {
  /** Something in `state` changed: bring the page up to date. */
  refresh(changedRun?: string): void;
  /** Only a run's epoch progress changed (several times a second): update it in place, if the page can. */
  progressed?(runId: string): void;
  leave?(): void;
}

// ---- small helpers -------------------------------------------------------------------------

function element<K extends keyof HTMLElementTagNameMap>(tag: K, attributes: Record<string, string> = {}, ...children: (Node | string | null | undefined)[]): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  for (const child of children) if (child !== null && child !== undefined) node.append(child);
  return node;
}

const percent = (value: number | null | undefined) => (value === null || value === undefined ? "–" : `${(value * 100).toFixed(2)} %`);
const number = (value: number | null | undefined, digits = 4) => (value === null || value === undefined ? "–" : Number(value.toPrecision(digits)).toString());
const integer = (value: number) => Math.round(value).toLocaleString("en");
const time = (ms: number | null) => (ms === null ? "–" : new Date(ms).toLocaleTimeString());
const runLabel = (run: { name: string; id: string }) => run.name || run.id;

/** A duration for people: "45 s", "12 min", "2 h 5 min". */
function duration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return "?";
  if (seconds < 90) return `${Math.round(seconds)} s`;
  if (seconds < 5400) return `${Math.round(seconds / 60)} min`;
  return `${Math.floor(seconds / 3600)} h ${Math.round((seconds % 3600) / 60)} min`;
}

function timeLeft(progress: ProgressView, detail: RunDetail): string {
  if (progress.imagesPerSecond <= 0) return "";
  return `${duration(progress.epochSecondsLeft)} left; the epoch cap (${detail.maxEpochs}) in ${duration(progress.capSecondsLeft)}`;
}

function stateBadge(state: string): HTMLElement {
  return element("span", { class: `state state-${state}`, "data-state": state }, state);
}

function progressBar(share: number): HTMLElement {
  const bar = element("span", { class: "bar" }, element("span"));
  (bar.firstChild as HTMLElement).style.width = `${Math.round(Math.min(1, Math.max(0, share)) * 100)}%`;
  return bar;
}

function setView(...children: Node[]): HTMLElement {
  const view = document.getElementById("view")!;
  view.replaceChildren(...children);
  return view;
}

/** What the run is doing now, for the table: "12 / 150" and the epoch in training's bar. */
function epochCell(run: RunSummary): HTMLElement {
  const cell = element("td", { class: "num epoch-cell" }, `${run.epochs}${run.maxEpochs ? ` / ${run.maxEpochs}` : ""}`);
  const progress = state.progress.get(run.id);
  if (run.state === "running" && progress && progress.epoch === run.epochs) {
    cell.append(progressBar(progress.share));
    if (progress.imagesPerSecond > 0) cell.title = `epoch ${progress.epoch}: ${duration(progress.epochSecondsLeft)} left`;
  }
  return cell;
}

// ---- the runs table ------------------------------------------------------------------------

type SortKey = "id" | "name" | "state" | "network" | "epochs" | "bestValAccuracy" | "testAccuracy" | "eta" | "trainer" | "stopReason";

const columns: { key: SortKey; title: string; numeric?: boolean }[] = [
  { key: "name", title: "name" },
  { key: "state", title: "state" },
  { key: "network", title: "network" },
  { key: "epochs", title: "epoch", numeric: true },
  { key: "bestValAccuracy", title: "best val", numeric: true },
  { key: "testAccuracy", title: "test", numeric: true },
  { key: "eta", title: "η", numeric: true },
  { key: "trainer", title: "trainer" },
  { key: "stopReason", title: "stop reason" },
];

function sortValue(run: RunSummary, key: SortKey): string | number {
  if (key === "name") return runLabel(run);
  const value = run[key];
  return value === null ? -Infinity : value;
}

function compareRuns(a: RunSummary, b: RunSummary): number {
  const { key, descending } = state.sort;
  const left = sortValue(a, key);
  const right = sortValue(b, key);
  const order = typeof left === "number" && typeof right === "number" ? left - right : String(left).localeCompare(String(right));
  return (descending ? -order : order) || b.id.localeCompare(a.id);
}

function runsPage(): Page {
  const table = element("table", { id: "runs" });
  const compare = element("button", { id: "compare-selected" }, "Compare selected");
  compare.addEventListener("click", () => {
    location.hash = `#/compare?runs=${[...state.selected].map(encodeURIComponent).join(",")}`;
  });
  setView(element("h1", {}, "Runs"), element("div", { class: "actions panel" }, compare, element("span", { class: "muted" }, "tick runs to overlay their curves; click a column to sort")), table);

  const header = () => {
    const row = element("tr", {}, element("th"));
    for (const column of columns) {
      const sorted = state.sort.key === column.key ? (state.sort.descending ? " sorted-desc" : " sorted-asc") : "";
      const cell = element("th", { class: `sortable${column.numeric ? " num" : ""}${sorted}`, "data-key": column.key }, column.title);
      cell.addEventListener("click", () => {
        state.sort = { key: column.key, descending: state.sort.key === column.key ? !state.sort.descending : !!column.numeric };
        refresh();
      });
      row.append(cell);
    }
    return element("thead", {}, row);
  };

  const row = (run: RunSummary) => {
    const tick = element("input", { type: "checkbox", "aria-label": `select ${runLabel(run)}` });
    tick.checked = state.selected.has(run.id);
    tick.addEventListener("change", () => (tick.checked ? state.selected.add(run.id) : state.selected.delete(run.id)));
    return element(
      "tr",
      { "data-run": run.id },
      element("td", {}, tick),
      element("td", {}, element("a", { href: `#/runs/${encodeURIComponent(run.id)}` }, runLabel(run))),
      element("td", {}, stateBadge(run.state), run.paused && run.state === "running" ? " paused" : ""),
      element("td", {}, run.network),
      epochCell(run),
      element("td", { class: "num" }, percent(run.bestValAccuracy)),
      element("td", { class: "num" }, percent(run.testAccuracy)),
      element("td", { class: "num" }, number(run.eta)),
      element("td", {}, run.trainer || "–"),
      element("td", { class: "wrap" }, run.error || run.stopReason || ""),
    );
  };

  // The rows on show, by run: a refresh keeps each row and its link and tick and takes only the other
  // cells anew, so a click under way is not lost to a record change (a fast run changes several times a second).
  let shown = new Map<string, HTMLElement>();
  const rowFor = (run: RunSummary, kept: Map<string, HTMLElement>) => {
    const fresh = row(run);
    const known = shown.get(run.id);
    if (known) {
      const link = known.children[1]!.firstElementChild!;
      if (link.textContent !== runLabel(run)) link.textContent = runLabel(run);
      [...fresh.children].slice(2).forEach((cell, i) => known.children[i + 2]!.replaceWith(cell));
    }
    kept.set(run.id, known ?? fresh);
    return known ?? fresh;
  };

  const refresh = () => {
    const runs = [...state.runs.values()];
    const kept = new Map<string, HTMLElement>();
    const body = element("tbody");
    if (runs.length === 0) body.append(element("tr", {}, element("td", { colspan: String(columns.length + 1), class: "empty" }, "No runs yet: launch one with mnistctl run.")));
    // A sweep's trials together under one heading, the sweeps newest first, then the lone runs.
    const groups = new Map<string, RunSummary[]>();
    for (const run of runs) groups.set(run.sweep, [...(groups.get(run.sweep) ?? []), run]);
    const sweeps = [...groups.keys()].filter((sweep) => sweep !== "").sort().reverse();
    for (const sweep of [...sweeps, ""]) {
      const members = groups.get(sweep);
      if (!members) continue;
      if (sweeps.length > 0) {
        const heading = sweep ? `sweep ${sweep} · ${members.length} trials` : "runs outside sweeps";
        const cell = element("td", { colspan: String(columns.length + 1) }, heading);
        if (sweep) cell.append(element("a", { href: `#/compare?sweep=${encodeURIComponent(sweep)}` }, "compare its trials"));
        body.append(element("tr", { class: "group", "data-sweep": sweep }, cell));
      }
      for (const run of members.sort(compareRuns)) body.append(rowFor(run, kept));
    }
    table.replaceChildren(header(), body);
    shown = kept;
  };
  refresh();
  return {
    refresh,
    // Only the epoch cell: progress comes four times a second, and nothing else in the row has changed.
    progressed(runId) {
      const run = state.runs.get(runId);
      const cell = table.querySelector(`tr[data-run="${CSS.escape(runId)}"] td.epoch-cell`);
      if (run && cell) cell.replaceWith(epochCell(run));
    },
  };
}

// ---- a run's page --------------------------------------------------------------------------

/** η's changes after the start, each drawn at the first epoch trained with the new value. */
function etaMarkers(detail: RunDetail) {
  return detail.etaHistory.slice(1).map((change) => ({ x: change.epoch, label: `η=${number(change.eta, 3)}` }));
}

function curves(detail: RunDetail): { accuracy: ChartSpec; cost: ChartSpec } {
  const epochs = detail.epochList;
  const x = epochs.map((epoch) => epoch.epoch);
  const column = (pick: (epoch: EpochView) => number | null) => epochs.map(pick);
  const some = (values: (number | null)[]) => values.some((value) => value !== null);
  const evalName = detail.evalOn === "test" ? "test" : "validation";
  const accuracy = [
    { label: `${evalName} accuracy`, color: palette[0]!, values: column((epoch) => epoch.valAccuracy) },
    { label: "training accuracy", color: palette[1]!, values: column((epoch) => epoch.trainAccuracy) },
    { label: "test accuracy", color: palette[2]!, values: column((epoch) => epoch.testAccuracy), dash: [6, 3] },
  ].filter((series) => some(series.values));
  const cost = [
    { label: `${evalName} cost`, color: palette[0]!, values: column((epoch) => epoch.valCost ?? epoch.testCost) },
    { label: "training cost", color: palette[1]!, values: column((epoch) => epoch.trainCost) },
  ].filter((series) => some(series.values));
  const markers = etaMarkers(detail);
  return {
    accuracy: { title: "Accuracy", yLabel: "accuracy (%)", percent: true, x, series: accuracy, markers },
    cost: { title: "Cost", yLabel: "cost", x, series: cost, markers },
  };
}

function runPage(reference: string): Page {
  // The URL may name the run by its name; once loaded, its id is what events carry.
  let runId = reference;
  const title = element("h1", {}, runId);
  const facts = element("div", { class: "facts panel", id: "facts" });
  const message = element("span", { class: "message", id: "action-message" });
  const stop = element("button", { class: "danger", id: "stop" }, "Stop run");
  const etaInput = element("input", { type: "number", id: "eta-input", step: "any", min: "0", "aria-label": "new η" });
  const setEta = element("button", { id: "set-eta" }, "Set η");
  const actions = element("div", { class: "actions panel" }, stop, element("span", { class: "muted" }, "η for the next epochs:"), etaInput, setEta, message);
  const accuracyBox = element("div", { id: "accuracy-chart" });
  const costBox = element("div", { id: "cost-chart" });
  const charts = element("div", { class: "charts" }, element("div", { class: "panel chart" }, accuracyBox), element("div", { class: "panel chart" }, costBox));
  const epochsTable = element("table", { id: "epochs" });
  const eventsTable = element("table", { id: "events" });
  setView(
    title,
    facts,
    actions,
    charts,
    element("h2", {}, "Epochs and decisions"),
    element("div", { class: "scroll" }, epochsTable),
    element("h2", {}, "Events"),
    element("div", { class: "scroll" }, eventsTable),
  );
  const accuracyChart = new LineChart(accuracyBox);
  const costChart = new LineChart(costBox);
  const onResize = () => {
    accuracyChart.resize();
    costChart.resize();
  };
  addEventListener("resize", onResize);

  const act = async (button: HTMLButtonElement, action: () => Promise<RunDetail>, done: string) => {
    button.disabled = true;
    message.className = "message";
    message.textContent = "…";
    try {
      state.detail = await action();
      message.className = "message ok";
      message.textContent = done;
      render();
    } catch (error) {
      message.className = "message error";
      message.textContent = error instanceof Error ? error.message : String(error);
    } finally {
      button.disabled = false;
    }
  };
  stop.addEventListener("click", () => {
    if (confirm(`Stop run ${runId}? Its best weights so far are scored on the test set.`)) void act(stop, () => api.stop(runId, "stopped from the dashboard"), "stopped");
  });
  setEta.addEventListener("click", () => {
    const eta = etaInput.valueAsNumber;
    if (!Number.isFinite(eta)) {
      message.className = "message error";
      message.textContent = `η: ${JSON.stringify(etaInput.value)} is not a number`;
      return;
    }
    void act(setEta, () => api.setEta(runId, eta, "set from the dashboard"), `η set to ${eta} from the next decision on`);
  });

  let etaFilled = false;
  const render = () => {
    const detail = state.detail;
    if (!detail || (detail.id !== runId && detail.name !== reference)) return;
    runId = detail.id;
    title.replaceChildren(`${runLabel(detail)} `, stateBadge(detail.state), detail.paused && detail.state === "running" ? " paused" : "");
    const progress = state.progress.get(runId);
    const inEpoch = detail.state === "running" && progress && progress.epoch === detail.epochs ? `epoch ${progress.epoch}: ${integer(progress.examples)} / ${integer(progress.total)} images, ${integer(progress.imagesPerSecond)} images/s, ${timeLeft(progress, detail)}` : "";
    const hyper = detail.hyper;
    const fact = (label: string, value: string | Node) => element("div", {}, element("span", {}, label), value);
    facts.replaceChildren(
      fact("run", detail.id),
      fact("network", `[${detail.network.replaceAll("-", ",")}]`),
      fact("epochs", `${detail.epochs}${detail.maxEpochs ? ` of at most ${detail.maxEpochs}` : ""}`),
      fact("best validation", detail.bestEpoch === null ? "–" : `${percent(detail.bestValAccuracy)} at epoch ${detail.bestEpoch}`),
      fact("test accuracy", percent(detail.testAccuracy)),
      fact("η now", number(detail.eta)),
      fact("trainer", detail.trainer || "–"),
      fact("hyper-parameters", hyper ? `${hyper.cost}, ${hyper.activation}, λ=${hyper.lambda}, m=${hyper.miniBatch}, η₀=${hyper.eta}, augment ${hyper.augment}` : "–"),
      fact("in training", inEpoch || "–"),
      fact("stop reason", detail.error || detail.stopReason || "–"),
    );
    const ended = detail.state !== "queued" && detail.state !== "running";
    stop.disabled = ended;
    setEta.disabled = ended;
    etaInput.disabled = ended;
    // Filled in once: a later render must not write into what someone is typing.
    if (!etaFilled && !ended) {
      etaInput.value = String(detail.eta);
      etaFilled = true;
    }
    const { accuracy, cost } = curves(detail);
    accuracyChart.update(accuracy);
    costChart.update(cost);
    const epochRows = detail.epochList
      .slice()
      .reverse()
      .map((epoch) =>
        element(
          "tr",
          {},
          element("td", { class: "num" }, String(epoch.epoch)),
          element("td", { class: "num" }, number(epoch.eta)),
          element("td", { class: "num" }, percent(epoch.valAccuracy)),
          element("td", { class: "num" }, number(epoch.valCost ?? epoch.testCost)),
          element("td", { class: "num" }, number(epoch.trainSeconds, 3)),
          element("td", { class: "num" }, integer(epoch.imagesPerSecond)),
          element("td", { class: `decision-${epoch.decision}` }, epoch.decision + (epoch.restoreEpoch === null ? "" : ` (from epoch ${epoch.restoreEpoch})`)),
        ),
      );
    const epochHeader = element("tr", {}, ...["epoch", "η", "validation acc", "validation cost", "train s", "images/s", "decision"].map((name, index) => element("th", { class: index < 6 ? "num" : "" }, name)));
    epochsTable.replaceChildren(element("thead", {}, epochHeader), element("tbody", {}, ...epochRows));
    const eventRows = detail.events
      .slice()
      .reverse()
      .map((event) =>
        element(
          "tr",
          { "data-kind": event.kind },
          element("td", {}, time(event.time)),
          element("td", { class: "num" }, String(event.epoch)),
          element("td", {}, event.kind),
          element("td", { class: "wrap" }, event.reason),
          element("td", {}, event.actor),
          element("td", { class: "wrap" }, event.detail),
        ),
      );
    eventsTable.replaceChildren(element("thead", {}, element("tr", {}, ...["time", "epoch", "event", "reason", "who", "detail"].map((name) => element("th", {}, name)))), element("tbody", {}, ...eventRows));
  };

  let fetching: Promise<void> | undefined;
  let again = false;
  const load = () => {
    if (fetching) {
      again = true;
      return;
    }
    fetching = api
      .run(runId)
      .then((detail) => {
        state.detail = detail;
        render();
      })
      .catch((error: unknown) => {
        message.className = "message error";
        message.textContent = error instanceof Error ? error.message : String(error);
      })
      .finally(() => {
        fetching = undefined;
        if (again) {
          again = false;
          load();
        }
      });
  };
  state.detail = undefined;
  load();
  return {
    refresh(changedRun) {
      if (changedRun === runId) load();
      else render();
    },
    leave() {
      removeEventListener("resize", onResize);
      accuracyChart.destroy();
      costChart.destroy();
    },
  };
}

// ---- comparing runs ------------------------------------------------------------------------

const hyperRows: [string, (run: RunSummary) => string][] = [
  ["state", (run) => run.state],
  ["network", (run) => `[${run.network.replaceAll("-", ",")}]`],
  ["η₀", (run) => String(run.hyper?.eta ?? "–")],
  ["λ (L2)", (run) => String(run.hyper?.lambda ?? "–")],
  ["L1", (run) => String(run.hyper?.l1 ?? "–")],
  ["mini-batch", (run) => String(run.hyper?.miniBatch ?? "–")],
  ["cost", (run) => run.hyper?.cost ?? "–"],
  ["activation", (run) => run.hyper?.activation ?? "–"],
  ["init", (run) => run.hyper?.init ?? "–"],
  ["dropout", (run) => String(run.hyper?.dropout ?? "–")],
  ["momentum", (run) => (run.hyper ? `${run.hyper.momentum}${run.hyper.nesterov ? " (Nesterov)" : ""}` : "–")],
  ["augment", (run) => run.hyper?.augment ?? "–"],
  ["training images", (run) => (run.hyper ? (run.hyper.trainLimit === 0 ? "50,000" : integer(run.hyper.trainLimit)) : "–")],
  ["decay after", (run) => String(run.hyper?.decayAfter ?? "–")],
  ["early stop", (run) => String(run.hyper?.earlyStop ?? "–")],
  ["seed", (run) => run.hyper?.seed ?? "–"],
  ["epochs", (run) => String(run.epochs)],
  ["best validation", (run) => (run.bestEpoch === null ? "–" : `${percent(run.bestValAccuracy)} (epoch ${run.bestEpoch})`)],
  ["test", (run) => percent(run.testAccuracy)],
];

function comparePage(query: URLSearchParams): Page {
  const chartBox = element("div", { id: "compare-chart" });
  const table = element("table", { id: "compare-table" });
  const note = element("p", { class: "muted" });
  setView(element("h1", {}, "Compare runs"), note, element("div", { class: "panel chart" }, chartBox), element("h2", {}, "Hyper-parameters"), table);
  const chart = new LineChart(chartBox);
  const details = new Map<string, RunDetail>();
  const chosen = (): string[] => {
    const sweep = query.get("sweep");
    if (sweep) return [...state.runs.values()].filter((run) => run.sweep === sweep).map((run) => run.id).sort();
    return (query.get("runs") ?? "").split(",").filter((id) => id !== "");
  };

  const render = () => {
    const ids = chosen().filter((id) => details.has(id));
    if (ids.length === 0) {
      note.textContent = "Pick runs to compare: tick them in the runs table, or open a sweep's comparison.";
      chart.destroy();
      table.replaceChildren();
      return;
    }
    note.textContent = `${ids.length} runs: validation accuracy per epoch, η's changes not drawn (they differ per run).`;
    const runs = ids.map((id) => details.get(id)!);
    const longest = Math.max(...runs.map((run) => run.epochList.length));
    const x = Array.from({ length: longest }, (_, epoch) => epoch);
    chart.update({
      title: "Validation accuracy",
      yLabel: "accuracy (%)",
      percent: true,
      x,
      series: runs.map((run, index) => ({ label: runLabel(run), color: palette[index % palette.length]!, values: x.map((epoch) => run.epochList[epoch]?.valAccuracy ?? null) })),
    });
    const head = element("tr", {}, element("th"), ...runs.map((run, index) => element("th", {}, element("span", { class: "legend-swatch" }), element("a", { href: `#/runs/${encodeURIComponent(run.id)}` }, runLabel(run)))));
    head.querySelectorAll(".legend-swatch").forEach((swatch, index) => ((swatch as HTMLElement).style.background = palette[index % palette.length]!));
    const rows = hyperRows.map(([label, value]) => {
      const values = runs.map(value);
      const differs = new Set(values).size > 1;
      return element("tr", { class: differs ? "diff" : "" }, element("th", {}, label), ...values.map((text) => element("td", { class: "value" }, text)));
    });
    table.replaceChildren(element("thead", {}, head), element("tbody", {}, ...rows));
  };

  const load = (id: string) =>
    api.run(id).then(
      (detail) => {
        details.set(id, detail);
        render();
      },
      (error: unknown) => {
        note.textContent = error instanceof ApiError ? error.message : String(error);
      },
    );
  for (const id of chosen()) void load(id);
  render();
  return {
    refresh(changedRun) {
      if (changedRun !== undefined && chosen().includes(changedRun)) void load(changedRun);
      else if (changedRun === undefined) for (const id of chosen()) if (!details.has(id)) void load(id);
    },
    leave: () => chart.destroy(),
  };
}

// ---- the cluster ---------------------------------------------------------------------------

function clusterPage(): Page {
  const trainers = element("table", { id: "trainers" });
  const replicas = element("table", { id: "replicas" });
  setView(element("h1", {}, "Cluster"), element("h2", {}, "Trainers"), trainers, element("h2", {}, "Augment replicas"), replicas);
  const refresh = () => {
    const name = (id: string) => {
      const run = state.runs.get(id);
      return element("a", { href: `#/runs/${encodeURIComponent(id)}` }, run ? runLabel(run) : id);
    };
    const trainerRows = state.cluster.trainers.map((trainer) => {
      const runs = element("td", { class: "wrap" });
      trainer.runs.forEach((id, index) => runs.append(...(index > 0 ? [", "] : []), name(id)));
      return element("tr", {}, element("td", {}, trainer.id), element("td", {}, trainer.address), element("td", { class: "num" }, `${trainer.runs.length} / ${trainer.capacity}`), runs);
    });
    trainers.replaceChildren(
      element("thead", {}, element("tr", {}, ...["trainer", "address", "runs / capacity", "runs"].map((title, index) => element("th", { class: index === 2 ? "num" : "" }, title)))),
      element("tbody", {}, ...(trainerRows.length ? trainerRows : [element("tr", {}, element("td", { colspan: "4", class: "empty" }, "No trainer is sending heartbeats."))])),
    );
    const replicaRows = state.cluster.augment.map((replica) =>
      element(
        "tr",
        {},
        element("td", {}, replica.id),
        element("td", { class: "num" }, integer(replica.imagesPerSecond)),
        element("td", { class: "num" }, integer(replica.imagesServed)),
        element("td", { class: "num" }, integer(replica.slicesServed)),
        element("td", { class: "num" }, `${replica.inFlight} / ${replica.concurrency}`),
        element("td", { class: "num" }, String(replica.queued)),
        element("td", { class: "num" }, integer(replica.rejected)),
      ),
    );
    replicas.replaceChildren(
      element("thead", {}, element("tr", {}, ...["replica", "images/s", "images served", "slices served", "making / at once", "queued", "rejected"].map((title, index) => element("th", { class: index > 0 ? "num" : "" }, title)))),
      element("tbody", {}, ...(replicaRows.length ? replicaRows : [element("tr", {}, element("td", { colspan: "7", class: "empty" }, "No augment replica has reported lately."))])),
    );
  };
  refresh();
  return { refresh };
}

// ---- routing, the event stream, signing in -------------------------------------------------

function route(): void {
  page?.leave?.();
  const hash = location.hash.replace(/^#/, "") || "/";
  const [path, query] = hash.split("?", 2) as [string, string | undefined];
  const section = path.startsWith("/runs/") ? "runs" : path.startsWith("/compare") ? "compare" : path.startsWith("/cluster") ? "cluster" : "runs";
  document.querySelectorAll("header nav a").forEach((link) => link.classList.toggle("active", (link as HTMLElement).dataset.nav === section));
  if (path.startsWith("/runs/")) page = runPage(decodeURIComponent(path.slice("/runs/".length)));
  else if (path === "/compare") page = comparePage(new URLSearchParams(query ?? ""));
  else if (path === "/cluster") page = clusterPage();
  else page = runsPage();
}

/** Page refreshes at most once a frame, however fast events come. */
let pending: { all: boolean; runs: Set<string>; progressed: Set<string> } | undefined;
function schedule(changedRun?: string, progressOnly = false): void {
  if (!pending) {
    pending = { all: false, runs: new Set(), progressed: new Set() };
    requestAnimationFrame(() => {
      const { all, runs, progressed } = pending!;
      pending = undefined;
      if (all) page?.refresh();
      for (const id of runs) page?.refresh(id);
      if (all || progressed.size === 0) return;
      if (page?.progressed) for (const id of progressed) page.progressed(id);
      else page?.refresh();
    });
  }
  if (progressOnly && changedRun !== undefined) pending.progressed.add(changedRun);
  else if (changedRun === undefined) pending.all = true;
  else pending.runs.add(changedRun);
}

function connect(): void {
  const status = document.getElementById("connection")!;
  const events = new EventSource("/api/events");
  events.addEventListener("open", () => {
    status.textContent = "live";
    status.className = "connection live";
  });
  events.addEventListener("error", () => {
    // EventSource reconnects on its own; the next snapshot brings the page up to date. A session
    // that has expired (or was signed out elsewhere) is asked for again instead.
    status.textContent = "reconnecting…";
    status.className = "connection down";
    void api.session().then(
      (session) => {
        if (session.signedIn) return;
        events.close();
        signInPage();
      },
      () => undefined,
    );
  });
  events.addEventListener("snapshot", (event) => {
    const snapshot = JSON.parse((event as MessageEvent<string>).data) as Snapshot;
    state.runs = new Map(snapshot.runs.map((run) => [run.id, run]));
    state.progress = new Map(snapshot.progress.map((progress) => [progress.id, progress]));
    state.cluster = snapshot.cluster;
    schedule();
    if (state.detail) schedule(state.detail.id);
  });
  events.addEventListener("run", (event) => {
    const run = JSON.parse((event as MessageEvent<string>).data) as RunSummary;
    state.runs.set(run.id, run);
    if (run.state !== "running") state.progress.delete(run.id);
    schedule();
    schedule(run.id);
  });
  events.addEventListener("removed", (event) => {
    const { id } = JSON.parse((event as MessageEvent<string>).data) as { id: string };
    state.runs.delete(id);
    state.progress.delete(id);
    state.selected.delete(id);
    schedule();
  });
  events.addEventListener("progress", (event) => {
    const progress = JSON.parse((event as MessageEvent<string>).data) as ProgressView;
    state.progress.set(progress.id, progress);
    schedule(progress.id, true);
  });
  events.addEventListener("cluster", (event) => {
    state.cluster = JSON.parse((event as MessageEvent<string>).data) as ClusterView;
    schedule();
  });
}

function signInPage(): void {
  const token = element("input", { type: "password", id: "token", autocomplete: "current-password", "aria-label": "token" });
  token.style.width = "320px";
  const submit = element("button", { class: "primary", type: "submit" }, "Sign in");
  const message = element("span", { class: "message error" });
  const form = element("form", { class: "actions panel" }, element("span", {}, "This cluster needs its AUTH_TOKEN:"), token, submit, message);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    api.signIn(token.value).then(
      () => start(),
      (error: unknown) => (message.textContent = error instanceof Error ? error.message : String(error)),
    );
  });
  setView(element("h1", {}, "Sign in"), form);
}

async function start(): Promise<void> {
  const session = await api.session();
  if (!session.signedIn) return signInPage();
  const signOut = document.getElementById("sign-out")!;
  signOut.hidden = !session.auth;
  signOut.onclick = () => void api.signOut().finally(() => location.reload());
  connect();
  addEventListener("hashchange", route);
  route();
}

void start();
