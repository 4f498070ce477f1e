#!/usr/bin/env bash
# npm run test:sanitize — the core and augment test suites against both addons built with
# AddressSanitizer and UndefinedBehaviorSanitizer.
#
# Each addon is built from a generated copy of its binding.gyp (the same sources and flags, plus
# -fsanitize=address,undefined,float-cast-overflow -fno-sanitize-recover=all -fno-omit-frame-pointer
# -g; GCC leaves float-cast-overflow out of "undefined", and the kernels cast floats to int) into its
# package's build/sanitize/; the normal build/Release is never touched. The tests load these builds
# through MNIST_CORE_ADDON / MNIST_AUGMENT_ADDON (src/native.ts of each package). Node itself is not
# instrumented, so the ASan runtime is preloaded; leak detection is off (V8 keeps its heap to exit).
# Fails when a test fails or a sanitizer reports anything (ASan to files, UBSan to stderr: both
# are searched and printed at the end).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
start=$(date +%s)

if [[ -n "${npm_config_node_gyp:-}" ]]; then
  node_gyp=(node "$npm_config_node_gyp")
else
  # run directly, not through npm: npm's own node-gyp
  node_gyp=(node "$(dirname "$(readlink -f "$(command -v npm)")")/../node_modules/node-gyp/bin/node-gyp.js")
fi

# the node headers the normal build uses (.npmrc's nodedir), also when run without npm
nodedir=${npm_config_nodedir:-$(npm config get nodedir 2>/dev/null || true)}
gyp_args=(--loglevel=warn --jobs=max)
[[ -n "$nodedir" && "$nodedir" != undefined && "$nodedir" != null ]] && gyp_args+=("--nodedir=$nodedir")

libasan=$(g++ -print-file-name=libasan.so)
[[ -f "$libasan" ]] || { echo "test:sanitize: g++ has no libasan.so ($libasan); install the compiler's sanitizer runtime" >&2; exit 2; }

for pkg in core augment; do
  dir="packages/$pkg/build/sanitize"
  mkdir -p "$dir"
  # binding.gyp with sources and include_dirs relative to build/sanitize/ (two levels down; absolute
  # paths and gyp expansions such as <!(node -p ...) are kept as they are) and the sanitizer flags added
  node -e '
    const fs = require("node:fs");
    const path = require("node:path");
    const [from, to] = process.argv.slice(1);
    const gyp = JSON.parse(fs.readFileSync(from, "utf8"));
    const san = ["-fsanitize=address,undefined,float-cast-overflow", "-fno-sanitize-recover=all", "-fno-omit-frame-pointer", "-g"];
    const moved = (p) => (p.startsWith("<") || path.isAbsolute(p) ? p : "../../" + p);
    for (const t of gyp.targets) {
      t.sources = t.sources.map(moved);
      if (t.include_dirs) t.include_dirs = t.include_dirs.map(moved);
      t.cflags_cc = [...(t.cflags_cc ?? []), ...san];
      t.ldflags = [...(t.ldflags ?? []), "-fsanitize=address,undefined,float-cast-overflow"];
    }
    fs.writeFileSync(to, JSON.stringify(gyp, null, 2) + "\n");
  ' "packages/$pkg/binding.gyp" "$dir/binding.gyp"
  echo "test:sanitize: building $dir"
  (cd "$dir" && "${node_gyp[@]}" configure build "${gyp_args[@]}" >build.log 2>&1) || { cat "$dir/build.log" >&2; exit 1; }
done
built=$(date +%s)

export MNIST_CORE_ADDON="$root/packages/core/build/sanitize/build/Release/mnist_core.node"
export MNIST_AUGMENT_ADDON="$root/packages/augment/build/sanitize/build/Release/mnist_augment.node"
for addon in "$MNIST_CORE_ADDON" "$MNIST_AUGMENT_ADDON"; do
  # not `ldd | grep -q`: grep quitting at the first match can SIGPIPE ldd, and pipefail fails the check
  grep -q libasan <<<"$(ldd "$addon")" || { echo "test:sanitize: $addon is not linked against libasan" >&2; exit 1; }
done

logs=$(mktemp -d /tmp/mnist-sanitize.XXXXXX)
trap 'rm -rf "$logs"' EXIT
status=0
# ASan writes its reports to $logs; UBSan (a separate runtime next to the preloaded ASan) ignores
# log_path and prints to stderr, so the output is kept and searched too. Either halts the process.
LD_PRELOAD="$libasan" \
  ASAN_OPTIONS="detect_leaks=0:allocator_may_return_null=1:halt_on_error=1:log_path=$logs/asan" \
  UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1" \
  npx vitest run packages/core packages/augment packages/stream "$@" 2>&1 | tee "$logs/vitest.out" || status=$?

reports=$(find "$logs" -type f -name 'asan*' | sort)
if [[ -n "$reports" ]]; then
  echo "test:sanitize: AddressSanitizer reports:" >&2
  for f in $reports; do echo "== $f" >&2; cat "$f" >&2; done
  status=1
fi
if grep -aqE 'runtime error:|ERROR: AddressSanitizer|SUMMARY: (Address|UndefinedBehavior)Sanitizer' "$logs/vitest.out"; then
  echo "test:sanitize: sanitizer reports in the test output:" >&2
  grep -aE -A3 'runtime error:|ERROR: AddressSanitizer|SUMMARY: (Address|UndefinedBehavior)Sanitizer' "$logs/vitest.out" >&2
  status=1
fi
end=$(date +%s)
echo "test:sanitize: $([[ $status -eq 0 ]] && echo passed || echo FAILED) — build $((built - start)) s, tests $((end - built)) s, $((end - start)) s in all"
exit "$status"
