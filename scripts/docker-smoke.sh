#!/usr/bin/env bash
# Builds the CiteBot image on a machine without a Docker engine and proves it answers.
#
#   sudo scripts/docker-smoke.sh
#
# 1. A local Debian bookworm base image, made with debootstrap (cached in $SMOKE_DIR), carrying
#    this host's CA bundle, so HTTPS to PyPI works where a proxy re-signs it. The CA stays in this
#    local base only; the Dockerfile never sees it.
# 2. `buildah bud --isolation chroot` of the Dockerfile with that base (the image needs no torch:
#    its models are the ONNX files in index/).
# 3. `citebot ask` inside the image (podman run if it works here, else buildah run), then
#    `citebot serve` inside it and the image's own HEALTHCHECK command against it.
#
# Environment: SMOKE_DIR (cache, default /var/tmp/citebot-smoke), DEBIAN_MIRROR,
# IMAGE (default localhost/citebot:smoke), REBUILD_BASE=1 to remake the base.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

SMOKE_DIR=${SMOKE_DIR:-/var/tmp/citebot-smoke}
DEBIAN_MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
BASE=${BASE:-localhost/citebot-base:bookworm}
IMAGE=${IMAGE:-localhost/citebot:smoke}
QUESTION=${QUESTION:-how much did Xi pledge?}
CA_BUNDLE=${CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}
export BUILDAH_ISOLATION=chroot

say() { printf '\n== %s\n' "$*" >&2; }

if [ "$(id -u)" != 0 ]; then
  echo "docker-smoke: run as root (buildah and debootstrap need it)" >&2
  exit 1
fi
missing=""
for tool in buildah debootstrap podman; do command -v "$tool" >/dev/null || missing="$missing $tool"; done
if [ -n "$missing" ]; then
  say "installing$missing"
  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $missing
fi
mkdir -p "$SMOKE_DIR"

# --- 1. the local base image ---------------------------------------------------------------------
if [ "${REBUILD_BASE:-0}" = 1 ] || ! buildah images --quiet "$BASE" >/dev/null 2>&1; then
  rootfs="$SMOKE_DIR/rootfs"
  if [ ! -x "$rootfs/usr/bin/python3" ] || [ "${REBUILD_BASE:-0}" = 1 ]; then
    say "debootstrap bookworm into $rootfs (a few minutes)"
    rm -rf "$rootfs"
    debootstrap --variant=minbase --include=python3,python3-venv,python3-pip,ca-certificates \
      bookworm "$rootfs" "$DEBIAN_MIRROR"
  fi
  say "importing $BASE with this host's CA bundle"
  cp "$CA_BUNDLE" "$rootfs/etc/ssl/certs/ca-certificates.crt"
  # pip's vendored certifi would ignore the system bundle; point it at the one just copied.
  printf '[global]\ncert = /etc/ssl/certs/ca-certificates.crt\n' > "$rootfs/etc/pip.conf"
  tar --numeric-owner --exclude='./dev/*' --exclude='./proc/*' --exclude='./sys/*' \
      -C "$rootfs" -cf - . \
    | podman import \
        --change 'ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt' \
        --change 'ENV LANG=C.UTF-8' \
        - "$BASE" >/dev/null
fi

# --- 2. the build --------------------------------------------------------------------------------
context="$SMOKE_DIR/context"
say "staging the build context in $context"
rm -rf "$context" && mkdir -p "$context"
# What git would commit (tracked and new files, minus ignored ones): the working tree as it is.
git -C "$ROOT" ls-files -z --cached --others --exclude-standard \
  | (cd "$ROOT" && xargs -0 cp --parents -t "$context" 2>/dev/null || true)

say "buildah bud --isolation chroot -> $IMAGE"
start=$(date +%s)
buildah bud --isolation chroot --format docker --layers --force-rm \
  --build-arg BASE_IMAGE="$BASE" \
  -t "$IMAGE" "$context"
echo "built in $(( $(date +%s) - start ))s" >&2

say "image"
buildah images --format '{{.Name}}:{{.Tag}} {{.Size}}' "$IMAGE"
buildah inspect --type image --format \
  'user={{.Docker.Config.User}} volumes={{.Docker.Config.Volumes}} entrypoint={{.Docker.Config.Entrypoint}} cmd={{.Docker.Config.Cmd}}
healthcheck={{.Docker.Config.Healthcheck.Test}}' "$IMAGE"

# --- 3. run it -----------------------------------------------------------------------------------
say "citebot ask \"$QUESTION\" inside the image"
if podman run --rm --network none "$IMAGE" ask "$QUESTION" 2>"$SMOKE_DIR/podman.err"; then
  echo "(ran with podman run --network none)" >&2
else
  echo "podman run does not work here ($(tail -n 1 "$SMOKE_DIR/podman.err")); using buildah run" >&2
  ctr=$(buildah from "$IMAGE")
  trap 'buildah rm "$ctr" >/dev/null 2>&1 || true' EXIT
  buildah run --isolation chroot "$ctr" -- citebot ask "$QUESTION"
fi

say "citebot serve inside the image, probed by the image's HEALTHCHECK command"
ctr=${ctr:-$(buildah from "$IMAGE")}
trap 'buildah rm "$ctr" >/dev/null 2>&1 || true' EXIT
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
# chroot isolation shares the host's network and PID namespace: the host reaches the port, and
# the PID the shell prints is the one to send SIGTERM to, as a container stop does.
buildah run --isolation chroot --env CITEBOT_PORT="$port" --env CITEBOT_LOG_FORMAT=text "$ctr" \
  -- sh -c 'echo "citebot serve pid $$"; exec citebot serve' > "$SMOKE_DIR/serve.log" 2>&1 &
runner_pid=$!
healthy=""
probe=$(buildah inspect --type image --format '{{index .Docker.Config.Healthcheck.Test 3}}' "$IMAGE")
for _ in $(seq 1 120); do
  if buildah run --isolation chroot --env CITEBOT_PORT="$port" "$ctr" -- python -c "$probe" 2>/dev/null; then
    healthy=yes; break
  fi
  kill -0 "$runner_pid" 2>/dev/null || break
  sleep 1
done
if [ -n "$healthy" ]; then
  echo "HEALTHCHECK passed: GET http://127.0.0.1:$port/healthz -> $(curl -s "http://127.0.0.1:$port/healthz" 2>/dev/null || echo '(curl missing)')"
  curl -s "http://127.0.0.1:$port/metrics" 2>/dev/null | grep -E '^citebot_questions_in_flight' || true
fi
serve_pid=$(sed -n 's/^citebot serve pid \([0-9]*\)$/\1/p' "$SMOKE_DIR/serve.log" | head -n 1)
[ -n "$serve_pid" ] && kill -TERM "$serve_pid" 2>/dev/null || true
wait "$runner_pid" && rc=0 || rc=$?
echo "citebot serve exited with $rc after SIGTERM; its log:"
tail -n 5 "$SMOKE_DIR/serve.log"
[ -n "$healthy" ] || { echo "docker-smoke: /healthz never turned healthy" >&2; exit 1; }
[ "$rc" = 0 ] || { echo "docker-smoke: serve did not exit 0 on SIGTERM" >&2; exit 1; }
say "smoke passed"
