#!/bin/sh
# The image's entrypoint: its first argument picks what the container runs.
set -eu
app=${MNIST_APP_DIR:-/app}

usage() {
  echo "usage: augment | trainer | evaluator | mnistctl [ARGS...] | healthcheck [augment|trainer|evaluator]" >&2
}

case "${1:-}" in
  augment | trainer | evaluator)
    service=$1
    shift
    exec node "$app/services/$service/dist/main.js" "$@"
    ;;
  mnistctl)
    shift
    exec node "$app/cli/dist/main.js" "$@"
    ;;
  healthcheck)
    # grpc.health.v1 on this container's own gRPC port: GRPC_PORT when set, else the named
    # service's default, else whichever of the three defaults answers (one service a container).
    case "${2:-}" in
      evaluator) ports=${GRPC_PORT:-50051} ;;
      trainer) ports=${GRPC_PORT:-50052} ;;
      augment) ports=${GRPC_PORT:-50053} ;;
      "") ports=${GRPC_PORT:-50051 50052 50053} ;;
      *) usage; exit 2 ;;
    esac
    for port in $ports; do
      node "$app/cli/dist/main.js" health --server "127.0.0.1:$port" --timeout 3000 && exit 0
    done
    exit 1
    ;;
  *)
    usage
    exit 2
    ;;
esac
