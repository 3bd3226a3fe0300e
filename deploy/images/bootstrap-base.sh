#!/usr/bin/env bash
# bootstrap-base.sh makes sure the image debian:bookworm-slim exists locally.
# Order: already present -> docker pull (when a registry is reachable) ->
# debootstrap from the Debian mirror the host's apt is configured for, then
# `docker import`. The mirror is read from the host's apt sources, never
# hard-coded.
set -euo pipefail

BASE=${AIRLOCK_BASE_IMAGE:-debian:bookworm-slim}
log() { printf 'bootstrap: %s\n' "$*" >&2; }

if docker image inspect "$BASE" >/dev/null 2>&1; then
  log "$BASE present"
  exit 0
fi

if [ "${AIRLOCK_SKIP_PULL:-}" != 1 ]; then
  log "trying docker pull $BASE"
  if timeout 60 docker pull -q "$BASE" >/dev/null 2>&1; then
    log "pulled $BASE"
    exit 0
  fi
  log "pull failed (no registry reachable); bootstrapping with debootstrap"
fi

mirror() {
  local m=""
  if [ -f /etc/apt/sources.list.d/debian.sources ]; then
    m=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources)
  fi
  if [ -z "$m" ] && [ -f /etc/apt/sources.list ]; then
    m=$(awk '$1=="deb" && $0 !~ /security/ {for (i=2;i<=NF;i++) if ($i ~ /^https?:/) {print $i; exit}}' /etc/apt/sources.list)
  fi
  if [ -z "$m" ]; then
    for f in /etc/apt/sources.list.d/*.sources; do
      [ -f "$f" ] || continue
      m=$(awk '/^URIs:/ && $2 !~ /security/ {print $2; exit}' "$f")
      [ -n "$m" ] && break
    done
  fi
  printf '%s' "$m"
}

# security_mirror: the host's debian-security URI, if it has one.
security_mirror() {
  local f
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    awk '/^URIs:/ && $2 ~ /security/ {print $2; exit}' "$f"
  done | head -n1
  if [ -f /etc/apt/sources.list ]; then
    awk '$1=="deb" && /security/ {for (i=2;i<=NF;i++) if ($i ~ /^https?:/) {print $i; exit}}' /etc/apt/sources.list
  fi | head -n1
}

MIRROR=${AIRLOCK_DEBIAN_MIRROR:-$(mirror)}
SECURITY_MIRROR=${AIRLOCK_DEBIAN_SECURITY_MIRROR:-$(security_mirror | head -n1)}
if [ -z "$MIRROR" ]; then
  log "cannot find a Debian mirror in the host's apt sources; set AIRLOCK_DEBIAN_MIRROR"
  exit 1
fi
if [ "$(id -u)" != 0 ]; then
  log "debootstrap needs root; run this script with sudo, or pull $BASE on a machine with a registry"
  exit 1
fi
if ! command -v debootstrap >/dev/null 2>&1; then
  log "installing debootstrap"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q debootstrap >/dev/null || {
    apt-get update -q >/dev/null; DEBIAN_FRONTEND=noninteractive apt-get install -y -q debootstrap >/dev/null; }
fi

root=$(mktemp -d /var/tmp/airlock-rootfs.XXXXXX)
trap 'rm -rf "$root"' EXIT
log "debootstrap --variant=minbase bookworm from $MIRROR (about a minute)"
debootstrap --variant=minbase bookworm "$root" "$MIRROR" 2>&1 | sed -u 's/^/  /' | grep -E '^  I: (Retrieving|Extracting|Installing|Configuring|Base system)' | awk 'NR%20==1 || /Base system/' >&2 || true
if [ ! -x "$root/bin/sh" ]; then
  log "debootstrap failed"
  exit 1
fi
# Slim the tree the way the official slim image does.
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* \
       "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/info/*
printf 'deb %s bookworm main\ndeb %s bookworm-updates main\n' "$MIRROR" "$MIRROR" > "$root/etc/apt/sources.list"
if [ -n "$SECURITY_MIRROR" ]; then
  printf 'deb %s bookworm-security main\n' "$SECURITY_MIRROR" >> "$root/etc/apt/sources.list"
fi
log "importing as $BASE"
tar -C "$root" -c . | docker import --change 'CMD ["bash"]' - "$BASE" >/dev/null
log "done: $(docker image inspect -f '{{.Size}}' "$BASE" | awk '{printf "%.0f MB", $1/1e6}')"
