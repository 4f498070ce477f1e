#!/usr/bin/env bash
# Local stand-ins for the base images deploy/Dockerfile and deploy/docker-compose.yml name, for
# machines that cannot reach Docker Hub. Each is tagged with the official name, so the files stay
# exactly the ones a user runs against the real registry:
#
#   docker.io/library/node:20-bookworm-slim  debootstrap --variant=minbase bookworm, trimmed like
#                                            debian:bookworm-slim, plus this machine's Node 20 (node,
#                                            npm, npx, corepack, headers) under /usr/local and a
#                                            user node (uid/gid 1000), as in the official image
#   docker.io/library/nats:2.10              this machine's nats-server (Debian's) as /nats-server,
#                                            with the official ENTRYPOINT/CMD and nats-server.conf
#
# Images already present are kept (--force rebuilds them). Needs root, podman and debootstrap;
# CONTAINERS_CONF should point at deploy/containers.conf (test-deploy.sh sets it).
#
# usage: deploy/podman/stand-ins.sh [--force]
set -euo pipefail

NODE_IMAGE=docker.io/library/node:20-bookworm-slim
NATS_IMAGE=docker.io/library/nats:2.10
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
force=0
[[ "${1:-}" == "--force" ]] && force=1

log() { printf '%s stand-ins: %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

have_image() { ((force == 0)) && podman image exists "$1"; }

work=$(mktemp -d /var/tmp/mnist-stand-ins.XXXXXX)
trap 'rm -rf "$work"' EXIT

build_node() {
  local node npm_dir include version root="$work/node-rootfs"
  node=$(command -v node) || die "no node on this machine"
  node=$(readlink -f "$node")
  version=$("$node" -p 'process.versions.node')
  [[ "$version" == 20.* ]] || die "this machine's node is $version; the stand-in for $NODE_IMAGE needs Node 20"
  local prefix
  prefix=$(dirname "$(dirname "$node")")
  npm_dir=$prefix/lib/node_modules/npm
  include=$prefix/include/node
  [[ -f "$npm_dir/bin/npm-cli.js" ]] || die "npm not found at $npm_dir"
  [[ -f "$include/node_api.h" && -f "$include/common.gypi" ]] || die "Node's headers not found at $include"

  log "debootstrap --variant=minbase bookworm from $MIRROR"
  debootstrap --variant=minbase bookworm "$root" "$MIRROR" >"$work/debootstrap.log" 2>&1 ||
    { tail -20 "$work/debootstrap.log" >&2; die "debootstrap failed (log above)"; }

  # As debian:bookworm-slim: no docs, man pages or locales from later installs; apt cleans up.
  cat >"$root/etc/dpkg/dpkg.cfg.d/docker" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
EOF
  cat >"$root/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
  echo 'Acquire::Languages "none";' >"$root/etc/apt/apt.conf.d/docker-no-languages"
  rm -f "$root/etc/apt/sources.list"
  cat >"$root/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $MIRROR
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: ${MIRROR%/debian}/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
  rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/archives/*.deb "$root"/var/log/*.log \
    "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/info/* "$root"/usr/share/locale/*

  # Node as the official image installs it: /usr/local/{bin,lib/node_modules,include/node}.
  install -D -m 755 "$node" "$root/usr/local/bin/node"
  mkdir -p "$root/usr/local/lib/node_modules" "$root/usr/local/include"
  cp -a "$npm_dir" "$root/usr/local/lib/node_modules/npm"
  [[ -d "$prefix/lib/node_modules/corepack" ]] && cp -a "$prefix/lib/node_modules/corepack" "$root/usr/local/lib/node_modules/corepack"
  cp -a "$include" "$root/usr/local/include/node"
  ln -s ../lib/node_modules/npm/bin/npm-cli.js "$root/usr/local/bin/npm"
  ln -s ../lib/node_modules/npm/bin/npx-cli.js "$root/usr/local/bin/npx"
  [[ -d "$root/usr/local/lib/node_modules/corepack" ]] && ln -s ../lib/node_modules/corepack/dist/corepack.js "$root/usr/local/bin/corepack"
  chroot "$root" groupadd --gid 1000 node
  chroot "$root" useradd --uid 1000 --gid node --shell /bin/bash --create-home node
  env -u NODE_EXTRA_CA_CERTS chroot "$root" /usr/local/bin/node --version >/dev/null || die "node does not run in the stand-in root"
  env -u NODE_EXTRA_CA_CERTS chroot "$root" /usr/local/bin/npm --version >/dev/null || die "npm does not run in the stand-in root"

  log "importing $NODE_IMAGE (node $version)"
  tar -C "$root" --numeric-owner -c . | podman import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change "ENV NODE_VERSION=$version" \
    --change 'CMD ["node"]' \
    --quiet - "$NODE_IMAGE" >/dev/null
}

build_nats() {
  local bin root="$work/nats-rootfs"
  bin=$(command -v nats-server || true)
  [[ -n "$bin" ]] || die "no nats-server on this machine (apt-get install nats-server)"
  bin=$(readlink -f "$bin")
  mkdir -p "$root/tmp"
  install -m 755 "$bin" "$root/nats-server"
  # Debian's build is linked dynamically: carry its loader and libraries (the official binary is static).
  local lib
  for lib in $(ldd "$bin" | awk '/=>/ { print $3 } /^\t\// { print $1 }'); do
    mkdir -p "$root$(dirname "$lib")"
    cp -L "$lib" "$root$lib"
  done
  # The official image's configuration file.
  cat >"$root/nats-server.conf" <<'EOF'
# Client port of 4222 on all interfaces
port: 4222

# HTTP monitoring port
monitor_port: 8222

# This is for clustering multiple servers together.
cluster {
  # It is recommended to set a cluster name
  name: "my_cluster"

  # Route connections to be received on any interface on port 6222
  port: 6222

  # Routes are protected, so need to use them with --routes flag
  # e.g. --routes=nats-route://ruser:T0pS3cr3t@otherdockerhost:6222
  authorization {
    user: ruser
    password: T0pS3cr3t
    timeout: 2
  }

  # Routes are actively solicited and connected to from this server.
  # This Docker image has none by default, but you can pass a
  # flag to the nats-server docker image to create one to an existing server.
  routes = []
}
EOF
  log "importing $NATS_IMAGE ($("$bin" --version))"
  tar -C "$root" --numeric-owner -c . | podman import \
    --change 'ENTRYPOINT ["/nats-server"]' \
    --change 'CMD ["--config", "nats-server.conf"]' \
    --change 'EXPOSE 4222' --change 'EXPOSE 6222' --change 'EXPOSE 8222' \
    --quiet - "$NATS_IMAGE" >/dev/null
}

if have_image "$NODE_IMAGE"; then log "$NODE_IMAGE present"; else build_node; fi
if have_image "$NATS_IMAGE"; then log "$NATS_IMAGE present"; else build_nats; fi
