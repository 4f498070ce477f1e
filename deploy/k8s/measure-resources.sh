#!/usr/bin/env bash
# Measures what the resource requests and limits in this directory are sized from: starts a
# private nats-server -js and the three services from this checkout (built), launches one run
# with mnistctl, samples every process's resident memory and CPU time twice a second until the
# run ends, and prints peak RSS, mean CPU over the run and the busiest 2-s window.
#
#   deploy/k8s/measure-resources.sh --sizes 784,100,10 --epochs 3
#   deploy/k8s/measure-resources.sh --sizes 784,100,10 --epochs 5 --augment elastic
#
# Arguments are mnistctl run's flags. Needs nats-server on PATH; Linux (/proc).
set -euo pipefail
cd "$(dirname "$0")/../.."
work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# A private server on a free port: never another test's or service's JetStream.
nats-server -a 127.0.0.1 -p -1 -js -sd "$work/js" >"$work/nats.log" 2>&1 &
pids+=($!)
declare -A pid_of=([nats]=$!)
for _ in $(seq 40); do grep -q "Listening for client connections" "$work/nats.log" && break; sleep 0.25; done
port=$(sed -nE 's/.*Listening for client connections on .*:([0-9]+)$/\1/p' "$work/nats.log")
[ -n "$port" ] || { echo "nats-server did not start: $(cat "$work/nats.log")" >&2; exit 1; }

export NATS_URL=nats://127.0.0.1:$port GRPC_HOST=127.0.0.1 GRPC_PORT=0
for service in evaluator augment trainer; do
  node "services/$service/dist/main.js" >"$work/$service.log" 2>&1 &
  pids+=($!)
  pid_of[$service]=$!
done
for service in evaluator augment trainer; do
  for _ in $(seq 120); do grep -q '"msg":"ready"' "$work/$service.log" && break; sleep 0.25; done
  grep -q '"msg":"ready"' "$work/$service.log" || { echo "$service did not start: $(cat "$work/$service.log")" >&2; exit 1; }
done
evaluator=$(sed -nE 's/.*"grpc":"([^"]+)".*"msg":"ready".*/\1/p' "$work/evaluator.log" | head -1)

# One line per process and sample: time, name, RSS (KiB), CPU time (clock ticks, all threads).
sample() {
  local now
  now=$(date +%s.%N)
  for name in "${!pid_of[@]}"; do
    local pid=${pid_of[$name]}
    [ -r "/proc/$pid/stat" ] || continue
    echo "$now $name $(awk '/^VmRSS/ {print $2}' "/proc/$pid/status") $(awk '{print $14 + $15}' "/proc/$pid/stat")"
  done
}
sample >"$work/samples"
(while true; do sample >>"$work/samples"; sleep 0.5; done) &
sampler=$!
node cli/dist/main.js run "$@" --server "$evaluator" --follow
sample >>"$work/samples"
kill "$sampler"

node - "$work/samples" "$(getconf CLK_TCK)" <<'EOF'
const [file, hz] = process.argv.slice(2);
const byName = new Map();
for (const line of require("fs").readFileSync(file, "utf8").trim().split("\n")) {
  const [time, name, rss, ticks] = line.split(" ");
  if (!byName.has(name)) byName.set(name, []);
  byName.get(name).push({ time: Number(time), rss: Number(rss), cpu: Number(ticks) / Number(hz) });
}
for (const [name, samples] of [...byName].sort()) {
  const first = samples[0], last = samples.at(-1);
  let busiest = 0;
  for (const [i, start] of samples.entries()) {
    const end = samples.slice(i + 1).find((sample) => sample.time - start.time >= 2);
    if (end) busiest = Math.max(busiest, (end.cpu - start.cpu) / (end.time - start.time));
  }
  const peak = Math.max(...samples.map((sample) => sample.rss)) / 1024;
  const mean = (last.cpu - first.cpu) / (last.time - first.time);
  console.log(`${name.padEnd(9)} peak RSS ${peak.toFixed(0).padStart(4)} MiB   mean CPU ${mean.toFixed(2)} cores   busiest 2 s ${busiest.toFixed(2)} cores`);
}
EOF
