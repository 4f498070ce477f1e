#!/usr/bin/env bash
# Builds the kernel micro-benchmark (not part of the addon or the tests): bench-native/gemm-bench.
# The same flags as binding.gyp; run ./gemm-bench for the table (see gemm-bench.cpp).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
g++ -std=c++17 -O3 -march=x86-64-v2 -fno-fast-math -ffp-contract=off -I/usr/include/x86_64-linux-gnu/openblas-pthread \
  -o "$here/gemm-bench" "$here/gemm-bench.cpp" "$here/../native/gemm.cpp" "$here/../native/network.cpp" -lopenblas -pthread
