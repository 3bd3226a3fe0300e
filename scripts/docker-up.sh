#!/usr/bin/env bash
# docker-up.sh makes sure a Docker engine answers on this machine.
# It installs Debian's docker.io when no engine is installed, clears a stale
# pid file left by a killed dockerd, starts dockerd in the background and
# waits until `docker info` answers. Safe to run again: it does nothing when
# an engine already answers.
set -euo pipefail

log() { printf 'docker-up: %s\n' "$*" >&2; }

if docker info >/dev/null 2>&1; then
  log "engine already answers"
  exit 0
fi

if ! command -v dockerd >/dev/null 2>&1; then
  if [ "$(id -u)" != 0 ]; then
    log "no Docker engine installed; install one (Debian: apt-get install docker.io) and retry"
    exit 1
  fi
  log "installing docker.io from Debian"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q docker.io
fi

if [ "$(id -u)" != 0 ]; then
  log "dockerd is installed but not running; start it (sudo systemctl start docker) and retry"
  exit 1
fi

pidfile=/var/run/docker.pid
if [ -f "$pidfile" ]; then
  pid=$(cat "$pidfile" 2>/dev/null || true)
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    log "dockerd (pid $pid) is running but not answering yet"
  else
    log "removing stale $pidfile"
    rm -f "$pidfile"
  fi
fi

# containerd's own stale pid/socket state is handled by dockerd itself.
if ! pgrep -x dockerd >/dev/null 2>&1; then
  logfile=${DOCKERD_LOG:-/var/log/dockerd.log}
  log "starting dockerd (log: $logfile)"
  nohup dockerd >"$logfile" 2>&1 &
fi

for _ in $(seq 1 120); do
  if docker info >/dev/null 2>&1; then
    log "engine answers: $(docker version --format '{{.Server.Version}} (API {{.Server.APIVersion}})')"
    exit 0
  fi
  sleep 1
done
log "dockerd did not answer within 120 s; see ${DOCKERD_LOG:-/var/log/dockerd.log}"
exit 1
