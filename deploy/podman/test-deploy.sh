#!/usr/bin/env bash
# npm run test:deploy — the container deployment, for real, with Debian's daemonless podman:
#   1. installs podman, runc, podman-compose, debootstrap, nats-server when missing (apt-get)
#   2. builds the stand-in base images (deploy/podman/stand-ins.sh; kept between runs)
#   3. builds the image from deploy/Dockerfile (layer cache: only changed layers rebuild)
#   4. brings deploy/docker-compose.yml up with podman-compose, waits for every container's
#      healthcheck (grpc.health.v1 through the image's entrypoint)
#   5. a short run with the host's mnistctl against the published evaluator port, and its epoch
#      lines in the evaluator container's log
#   6. a longer run; kills the trainer container that runs it and sees the run finish, all epochs,
#      resumed from its checkpoint on the other trainer
#   7. tears everything down (containers, network, volume) whatever happened
#
# Rootful podman with runc and no default ulimits: CONTAINERS_CONF=deploy/containers.conf (the
# machine's /etc/containers is left alone). Needs root and a built CLI (npm ci / npm run build).
#
# Environment: MNIST_DEPLOY_PROJECT (compose project, default mnist-deploy-test),
# EVALUATOR_PORT (host port, default: a free one), NPM_CAFILE (CA bundle npm trusts inside the
# build, default: the host npm's cafile setting, if any).
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
export CONTAINERS_CONF="$root/deploy/containers.conf"
project=${MNIST_DEPLOY_PROJECT:-mnist-deploy-test}
image=mnist-pipeline:latest
compose_file=deploy/docker-compose.yml
work=$(mktemp -d /tmp/mnist-test-deploy.XXXXXX)
started=$SECONDS
status=1

# fds 3 and 4: the script's stderr and stdout, for messages from inside redirected conditions
exec 3>&2 4>&1
log() { printf '%s test:deploy [%3ds] %s\n' "$(date +%H:%M:%S)" "$((SECONDS - started))" "$*" >&3; }
fail() { log "FAILED: $*"; exit 1; }

project_containers() { podman ps -a --filter "label=io.podman.compose.project=$project" --format '{{.Names}}' 2>/dev/null | sort; }

dump_logs() {
  local c
  for c in $(project_containers); do
    echo "----- $c ($(podman inspect -f '{{.State.Status}} exit={{.State.ExitCode}}' "$c" 2>/dev/null)), last 40 lines" >&2
    podman logs --tail 40 "$c" 2>&1 | cut -c1-400 >&2 || true
  done
}

teardown() {
  local c
  if [[ -f "$root/$compose_file" ]] && command -v podman-compose >/dev/null 2>&1; then
    timeout 120 podman-compose -p "$project" -f "$compose_file" down -v >"$work/down.log" 2>&1 || true
  fi
  # podman-compose 1.0.3's down leaves the network (and a container it failed to stop): by label.
  for c in $(project_containers); do podman rm -f -t 1 "$c" >/dev/null 2>&1 || true; done
  podman volume ls -q --filter "label=io.podman.compose.project=$project" 2>/dev/null |
    while read -r v; do podman volume rm -f "$v" >/dev/null 2>&1 || true; done
  podman network ls -q --filter "label=io.podman.compose.project=$project" 2>/dev/null |
    while read -r n; do podman network rm -f "$n" >/dev/null 2>&1 || true; done
}

on_exit() {
  local rc=$?
  trap - EXIT INT TERM
  exec 1>&4 2>&3
  if ((rc != 0 || status != 0)); then
    dump_logs
    [[ -s "$work/up.log" ]] && { echo "----- podman-compose up (last 20 lines)" >&2; grep -v '^time=' "$work/up.log" | tail -20 >&2; }
  fi
  if command -v podman >/dev/null 2>&1; then
    teardown
    local left
    left=$( (project_containers; podman volume ls -q --filter "label=io.podman.compose.project=$project"
      podman network ls -q --filter "label=io.podman.compose.project=$project") 2>/dev/null | tr '\n' ' ')
    [[ -z "${left// /}" ]] || log "warning: left after teardown: $left"
    log "torn down (containers, network, volume of project $project)"
  fi
  rm -rf "$work"
  if ((rc == 0 && status == 0)); then log "PASSED in $((SECONDS - started)) s"; else log "FAILED after $((SECONDS - started)) s"; fi
  exit $((rc != 0 ? rc : status))
}
trap on_exit EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------------------------------------
((EUID == 0)) || fail "needs root (rootful podman)"
[[ -f cli/dist/main.js ]] || fail "cli/dist/main.js missing: run npm ci (or npm run build) first"

missing=()
for pkg in podman runc podman-compose debootstrap nats-server; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep "install ok installed" >/dev/null || missing+=("$pkg")
done
if ((${#missing[@]})); then
  log "installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >"$work/apt.log" 2>&1 ||
    { tail -20 "$work/apt.log" >&2; fail "apt-get install ${missing[*]}"; }
fi

# A previous run that died without its trap: start clean.
[[ -z "$(project_containers)" ]] || { log "removing leftovers of project $project"; teardown; }

log "stand-in base images"
bash deploy/podman/stand-ins.sh

# ---------------------------------------------------------------------------------------------
cafile=${NPM_CAFILE:-$(npm config get cafile 2>/dev/null || true)}
build_args=(--format docker --layers -f deploy/Dockerfile -t "$image")
if [[ -n "$cafile" && "$cafile" != null && -f "$cafile" ]]; then
  # npm inside the build trusts the same CA bundle as on this machine (TLS-inspecting proxy)
  build_args+=(-v "$(dirname "$cafile"):$(dirname "$cafile"):ro" --build-arg "NPM_CAFILE=$cafile")
fi
log "podman build ${build_args[*]} ."
t0=$SECONDS
# The build stage is tagged too (mnist-pipeline-build), so that the images a rebuild replaces
# can be removed by id instead of piling up untagged.
old_ids=$(podman image inspect --format '{{.Id}}' "$image" mnist-pipeline-build:latest 2>/dev/null || true)
timeout 1800 podman build "${build_args[@]/#$image/mnist-pipeline-build:latest}" --target build . >"$work/build.log" 2>&1 &&
  timeout 600 podman build "${build_args[@]}" . >>"$work/build.log" 2>&1 ||
  { tail -40 "$work/build.log" >&2; fail "podman build (last lines above)"; }
new_ids=$(podman image inspect --format '{{.Id}}' "$image" mnist-pipeline-build:latest)
for id in $old_ids; do
  grep -qx "$id" <<<"$new_ids" || podman rmi "$id" >/dev/null 2>&1 || true
done
size=$(podman image inspect --format '{{.Size}}' "$image")
log "image $image built in $((SECONDS - t0)) s: $((size / 1000000)) MB"

# ---------------------------------------------------------------------------------------------
free_port() { node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }
port=${EVALUATOR_PORT:-$(free_port)}
dashboard_port=$(free_port)
# The bearer token as the compose file takes it: a secret file, readable by the containers' user
# (node, uid 1000) only; every mnistctl call below carries it (MNISTCTL_TOKEN).
token=$(node -e 'console.log(require("crypto").randomBytes(32).toString("hex"))')
printf '%s\n' "$token" >"$work/token"
chown 1000 "$work/token" && chmod 400 "$work/token"
export MNISTCTL_TOKEN=$token
log "podman-compose up (project $project, evaluator on 127.0.0.1:$port, dashboard on $dashboard_port, bearer token from a secret file)"
AUTH_TOKEN_FILE="$work/token" EVALUATOR_PORT=$port DASHBOARD_PORT=$dashboard_port timeout 300 podman-compose -p "$project" -f "$compose_file" up -d --no-build >"$work/up.log" 2>&1 ||
  fail "podman-compose up"
# podman-compose 1.0.3 exits 0 when a container failed to start: look for podman's errors.
if grep '^Error: ' "$work/up.log" | grep -v 'no such volume' >"$work/up-errors"; then
  fail "podman-compose up: $(head -1 "$work/up-errors")"
fi

containers=$(project_containers)
for svc in nats augment trainer evaluator; do
  want=$([[ $svc == augment || $svc == trainer ]] && echo 2 || echo 1)
  have=$(grep -c "^${project}_${svc}_" <<<"$containers" || true)
  ((have == want)) || fail "$svc: $have containers, expected $want"
done

# Every app container healthy through its compose healthcheck (podman runs it on demand here:
# without systemd it has no timers to run it on its own); NATS (no healthcheck) ready.
wait_until() { # SECONDS DESCRIPTION COMMAND...
  local limit=$1 what=$2 deadline=$((SECONDS + $1))
  shift 2
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || fail "$what: not within ${limit} s"
    sleep 1
  done
}
running() { [[ "$(podman inspect -f '{{.State.Running}}' "$1" 2>/dev/null)" == true ]]; }
healthy() { running "$1" || fail "$1 is not running"; podman healthcheck run "$1"; }
wait_until 30 "${project}_nats_1 ready" sh -c "podman logs ${project}_nats_1 2>&1 | grep -q 'Server is ready'"
for c in $(grep -v "_nats_" <<<"$containers"); do
  wait_until 90 "$c healthy" healthy "$c"
done
log "all containers healthy: $(tr '\n' ' ' <<<"$containers")"

# ---------------------------------------------------------------------------------------------
mnistctl() { timeout 60 node cli/dist/main.js "$@" --server "127.0.0.1:$port"; }
evaluator_log() { podman logs "${project}_evaluator_1" 2>&1; }
run_lines() { # RUN_ID: the evaluator's pino lines about that run, one JSON object a line
  evaluator_log | node -e '
    const id = process.argv[1]; let buf = "";
    process.stdin.on("data", (d) => (buf += d)).on("end", () => {
      for (const line of buf.split("\n")) {
        let o; try { o = JSON.parse(line); } catch { continue; }
        if (o.run === id) console.log(JSON.stringify(o));
      }
    });' "$1"
}
run_id() { grep -o 'run-[0-9a-z]*-[0-9a-f]*' "$1" | head -1; }

# Without the token the evaluator refuses the call; the token itself is in no container's environment.
if MNISTCTL_TOKEN= timeout 60 node cli/dist/main.js list --server "127.0.0.1:$port" >"$work/no-token.out" 2>&1; then
  fail "mnistctl list without the token was accepted"
fi
grep -qi "unauthenticated\|token" "$work/no-token.out" || fail "mnistctl list without the token: $(head -1 "$work/no-token.out")"
for c in $containers; do
  if podman inspect -f '{{range .Config.Env}}{{println .}}{{end}}' "$c" | grep -qF "$token"; then fail "$c: the token is in its environment"; fi
done
log "without the token: $(head -1 "$work/no-token.out")"

log "short run: mnistctl run --sizes 784,30,10 --epochs 3 --train-limit 5000 --follow"
timeout 180 node cli/dist/main.js run --sizes 784,30,10 --epochs 3 --train-limit 5000 \
  --server "127.0.0.1:$port" --follow | tee "$work/run1.out" || fail "mnistctl run --follow"
run1=$(run_id "$work/run1.out")
[[ -n "$run1" ]] || fail "mnistctl run printed no run id"
mnistctl get "$run1" --json >"$work/run1.json" || fail "mnistctl get $run1"
sleep 1
run_lines "$run1" >"$work/run1.log"
node -e '
  const fs = require("fs");
  const rec = JSON.parse(fs.readFileSync(process.argv[1], "utf8"));
  const lines = fs.readFileSync(process.argv[2], "utf8").trim().split("\n").filter(Boolean).map((l) => JSON.parse(l));
  const problems = [];
  if (rec.epochs.map((e) => e.epoch).join() !== "0,1,2") problems.push(`record epochs ${rec.epochs.map((e) => e.epoch)}`);
  if (rec.stopReason !== "completed 3 epochs") problems.push(`stop reason "${rec.stopReason}"`);
  const epochs = lines.filter((o) => o.msg === "epoch").map((o) => o.epoch).sort((a, b) => a - b);
  if (epochs.join() !== "0,1,2") problems.push(`evaluator log epoch lines ${epochs.join() || "none"} (expected 0,1,2)`);
  const done = lines.find((o) => o.msg === "run finished");
  if (!done) problems.push("no \"run finished\" line in the evaluator log");
  if (problems.length) { console.error(problems.join("; ")); process.exit(1); }
  console.error(`evaluator log: epoch lines ${epochs.join()}, run finished (test accuracy ${done.testAccuracy})`);
' "$work/run1.json" "$work/run1.log" || fail "run $run1"

# Each service's Prometheus metrics (METRICS_PORT=9464 in the compose file), read inside its container.
for c in $(grep -E "_(augment|trainer|evaluator)_" <<<"$containers"); do
  service=$(sed -E 's/.*_(augment|trainer|evaluator)_[0-9]+$/\1/' <<<"$c")
  podman exec "$c" node -e '
    const service = process.argv[1];
    fetch("http://127.0.0.1:9464/metrics").then((response) => response.text()).then((text) => {
      const problems = [];
      if (!text.includes(`process_cpu_user_seconds_total{service="${service}"}`)) problems.push("no process metrics");
      if (!text.includes(`mnist_${service}_`)) problems.push(`no mnist_${service}_* series`);
      const stops = /^mnist_evaluator_decisions_total\{decision="stop",service="evaluator"\} (\d+)/m.exec(text);
      if (service === "evaluator" && !(Number(stops?.[1]) >= 1)) problems.push("no stop decision counted");
      if (problems.length) { console.error(problems.join("; ")); process.exit(1); }
    }, (error) => { console.error(String(error)); process.exit(1); });
  ' "$service" || fail "$c: /metrics on :9464"
done
log "metrics: /metrics on :9464 in every service container"

# The evaluator's dashboard on the host port the compose file publishes: the page for anyone, the
# data only with the token; the cluster view lists both trainers and both augment replicas.
node -e '
  const [base, token, runId] = process.argv.slice(1);
  (async () => {
    const problems = [];
    const page = await fetch(base);
    if (page.status !== 200 || !(await page.text()).includes("/app.js")) problems.push(`GET / answered ${page.status}`);
    const refused = await fetch(new URL("/api/runs", base));
    if (refused.status !== 401) problems.push(`GET /api/runs without the token answered ${refused.status}`);
    const auth = { headers: { authorization: `Bearer ${token}` } };
    const { runs } = await (await fetch(new URL("/api/runs", base), auth)).json();
    const run = runs.find((candidate) => candidate.id === runId);
    if (run?.state !== "finished") problems.push(`run ${runId}: ${JSON.stringify(run?.state)} in /api/runs`);
    let cluster;
    for (let tries = 0; tries < 20; tries++) {
      cluster = await (await fetch(new URL("/api/cluster", base), auth)).json();
      if (cluster.trainers.length === 2 && cluster.augment.length === 2) break;
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    if (cluster.trainers.length !== 2 || cluster.augment.length !== 2) problems.push(`cluster view: ${cluster.trainers.length} trainers, ${cluster.augment.length} augment replicas`);
    if (problems.length) { console.error(problems.join("; ")); process.exit(1); }
  })().catch((error) => { console.error(String(error)); process.exit(1); });
' "http://127.0.0.1:$dashboard_port/" "$token" "$run1" || fail "dashboard on 127.0.0.1:$dashboard_port"
log "dashboard: http://127.0.0.1:$dashboard_port/ (page open, data behind the token, 2 trainers and 2 augment replicas)"

# ---------------------------------------------------------------------------------------------
epochs=12
log "failover run: $epochs epochs; kill the trainer container running it after its first epoch"
# trainer ids are the container's host name + "-" + a random suffix
declare -A trainer_by_host
for c in $(grep "_trainer_" <<<"$containers"); do
  trainer_by_host[$(podman inspect -f '{{.Config.Hostname}}' "$c")]=$c
done
mnistctl run --sizes 784,100,10 --epochs $epochs --train-limit 20000 >"$work/launch2.out" || fail "mnistctl run"
run2=$(run_id "$work/launch2.out")
[[ -n "$run2" ]] || fail "mnistctl run printed no run id: $(cat "$work/launch2.out")"
# Poll quickly (an epoch takes about half a second here) and kill at once.
deadline=$((SECONDS + 90))
until evaluator_log >"$work/evaluator.log" && grep "\"run\":\"$run2\",\"epoch\":" "$work/evaluator.log" >/dev/null; do
  ((SECONDS < deadline)) || fail "no epoch line of $run2 in the evaluator log within 90 s"
  sleep 0.2
done
trainer_id=$(grep "\"run\":\"$run2\"" "$work/evaluator.log" | grep '"msg":"run placed"' | tail -1 |
  sed -n 's/.*"trainer":"\([^"]*\)".*/\1/p')
[[ -n "$trainer_id" ]] || fail "no \"run placed\" line for $run2"
victim=${trainer_by_host[${trainer_id%-*}]:-}
[[ -n "$victim" ]] || fail "no trainer container has the host name of trainer $trainer_id"
podman kill "$victim" >/dev/null
log "killed $victim (trainer $trainer_id) after the first epoch line of $run2"
survivor=$(grep "_trainer_" <<<"$containers" | grep -vx "$victim")

timeout 240 node cli/dist/main.js watch "$run2" --server "127.0.0.1:$port" | tee "$work/run2.out" ||
  fail "mnistctl watch $run2"
running "$victim" && fail "$victim is running again"
mnistctl get "$run2" --json >"$work/run2.json" || fail "mnistctl get $run2"
sleep 1
run_lines "$run2" >"$work/run2.log"
podman logs "$survivor" >"$work/survivor.log" 2>&1 || true
node -e '
  const fs = require("fs");
  const [recFile, logFile, survivorLog, killed, n] = process.argv.slice(1);
  const rec = JSON.parse(fs.readFileSync(recFile, "utf8"));
  const lines = fs.readFileSync(logFile, "utf8").trim().split("\n").filter(Boolean).map((l) => JSON.parse(l));
  const problems = [];
  const got = rec.epochs.map((e) => e.epoch).join();
  const want = [...Array(Number(n)).keys()].join();
  if (got !== want) problems.push(`record epochs ${got}, expected ${want}`);
  if (rec.stopReason !== `completed ${n} epochs`) problems.push(`stop reason "${rec.stopReason}"`);
  if (!rec.trainerId || rec.trainerId === killed) problems.push(`record trainer ${rec.trainerId}, not the surviving one`);
  if (!lines.some((o) => o.msg === "trainer gone, re-queueing run" && o.trainer === killed)) problems.push("no \"trainer gone, re-queueing run\" line");
  const resumed = lines.find((o) => o.msg === "run placed" && o.trainer !== killed);
  if (!resumed || !(resumed.startEpoch > 0)) problems.push("not placed again on the other trainer from a checkpoint");
  if (!lines.some((o) => o.msg === "run finished")) problems.push("no \"run finished\" line");
  const started = fs.readFileSync(survivorLog, "utf8").split("\n").some((l) => l.includes(rec.runId) && l.includes("\"resumed\":true"));
  if (!started) problems.push("the surviving trainer logged no resumed start");
  if (problems.length) { console.error(problems.join("; ")); process.exit(1); }
  console.error(`failover: re-placed on ${resumed.trainer} from epoch ${resumed.startEpoch}; ${n} epochs; best val ${rec.bestValAccuracy} at ${rec.bestEpoch}`);
' "$work/run2.json" "$work/run2.log" "$work/survivor.log" "$trainer_id" "$epochs" || fail "failover of $run2"

status=0
