#!/usr/bin/env bash
# docker-up.sh makes sure a Docker engine answers on this machine, with
# gVisor's runsc registered as an OCI runtime.
#
# It installs Debian's docker.io when no engine is installed, clears a stale
# pid file left by a killed dockerd, starts dockerd in the background and
# waits until `docker info` answers. Then, unless AIRLOCK_SKIP_RUNSC=1, it
# installs Debian's runsc when missing and registers it in
# /etc/docker/daemon.json as "runsc" with --network=none; the engine picks the
# change up by a configuration reload (SIGHUP: running containers are not
# touched), and is restarted only when the reload did not register it.
# Safe to run again: with an engine that answers and runsc registered it
# changes nothing. Runs as root without a terminal (CI).
set -euo pipefail

log() { printf 'docker-up: %s\n' "$*" >&2; }

DAEMON_JSON=${DAEMON_JSON:-/etc/docker/daemon.json}
LOGFILE=${DOCKERD_LOG:-/var/log/dockerd.log}
export DEBIAN_FRONTEND=noninteractive

apt_install() {
  apt-get install -y -q "$@" || { apt-get update -q && apt-get install -y -q "$@"; }
}

dockerd_pid() { pgrep -x dockerd | head -n1; }

wait_engine() {
  for _ in $(seq 1 "$1"); do
    if docker info >/dev/null 2>&1; then
      return 0
    fi
    sleep 1
  done
  return 1
}

start_dockerd() {
  local pidfile=/var/run/docker.pid
  if [ -f "$pidfile" ]; then
    local pid
    pid=$(cat "$pidfile" 2>/dev/null || true)
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
      log "dockerd (pid $pid) is running but not answering yet"
    else
      log "removing stale $pidfile"
      rm -f "$pidfile"
    fi
  fi
  # containerd's own stale pid/socket state is handled by dockerd itself.
  if [ -z "$(dockerd_pid)" ]; then
    log "starting dockerd (log: $LOGFILE)"
    nohup dockerd >>"$LOGFILE" 2>&1 </dev/null &
  fi
  if ! wait_engine 120; then
    log "dockerd did not answer within 120 s; see $LOGFILE"
    exit 1
  fi
  log "engine answers: $(docker version --format '{{.Server.Version}} (API {{.Server.APIVersion}})')"
}

ensure_engine() {
  if docker info >/dev/null 2>&1; then
    log "engine already answers"
    return
  fi
  if ! command -v dockerd >/dev/null 2>&1; then
    if [ "$(id -u)" != 0 ]; then
      log "no Docker engine installed; install one (Debian: apt-get install docker.io) and retry"
      exit 1
    fi
    log "installing docker.io from Debian"
    apt_install docker.io
  fi
  if [ "$(id -u)" != 0 ]; then
    log "dockerd is installed but not running; start it (sudo systemctl start docker) and retry"
    exit 1
  fi
  start_dockerd
}

# runsc_registered: the engine lists a runsc runtime with --network=none.
runsc_registered() {
  local rts
  rts=$(docker info --format '{{json .Runtimes}}' 2>/dev/null) || return 1
  case "$rts" in
    *'"runsc":'*'--network=none'*) return 0 ;;
  esac
  return 1
}

# write_daemon_json adds (or replaces) the runsc entry, keeping every other
# setting of an existing file.
write_daemon_json() {
  local path=$1 tmp
  mkdir -p "$(dirname "$DAEMON_JSON")"
  tmp=$(mktemp "$DAEMON_JSON.XXXXXX")
  if [ ! -s "$DAEMON_JSON" ]; then
    cat >"$tmp" <<EOF
{
  "runtimes": {
    "runsc": {
      "path": "$path",
      "runtimeArgs": ["--network=none"]
    }
  }
}
EOF
  elif command -v jq >/dev/null 2>&1; then
    jq --arg p "$path" '.runtimes.runsc = {path: $p, runtimeArgs: ["--network=none"]}' "$DAEMON_JSON" >"$tmp"
  elif command -v python3 >/dev/null 2>&1; then
    python3 - "$DAEMON_JSON" "$path" >"$tmp" <<'EOF'
import json, sys
with open(sys.argv[1]) as f:
    cfg = json.load(f)
cfg.setdefault("runtimes", {})["runsc"] = {"path": sys.argv[2], "runtimeArgs": ["--network=none"]}
json.dump(cfg, sys.stdout, indent=2)
print()
EOF
  else
    rm -f "$tmp"
    log "$DAEMON_JSON exists and neither jq nor python3 is installed to edit it: add"
    log "  \"runtimes\": {\"runsc\": {\"path\": \"$path\", \"runtimeArgs\": [\"--network=none\"]}}"
    exit 1
  fi
  chmod 0644 "$tmp"
  mv "$tmp" "$DAEMON_JSON"
}

restart_dockerd() {
  if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet docker 2>/dev/null; then
    log "restarting docker.service"
    systemctl restart docker
    wait_engine 120 || { log "docker.service did not come back"; exit 1; }
    return
  fi
  local pid
  pid=$(dockerd_pid)
  if [ -n "$pid" ]; then
    log "stopping dockerd (pid $pid)"
    kill -TERM "$pid"
    for _ in $(seq 1 60); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 1
    done
    if kill -0 "$pid" 2>/dev/null; then
      log "dockerd (pid $pid) did not stop within 60 s"
      exit 1
    fi
  fi
  start_dockerd
}

ensure_runsc() {
  if [ "${AIRLOCK_SKIP_RUNSC:-}" = 1 ]; then
    log "AIRLOCK_SKIP_RUNSC=1: not registering runsc"
    return
  fi
  if runsc_registered; then
    if [ "$(id -u)" = 0 ] && ! grep -q '"runsc"' "$DAEMON_JSON" 2>/dev/null; then
      # Registered by hand or by an earlier file: keep it across restarts.
      log "runsc is registered but not in $DAEMON_JSON: adding it there"
      write_daemon_json "$(command -v runsc || echo /usr/bin/runsc)"
    fi
    log "runsc is registered"
    return
  fi
  if [ "$(id -u)" != 0 ]; then
    log "runsc (gVisor) is not registered with the engine; run this script as root to install and register it (its tests are skipped until then, and fail under CI)"
    return
  fi
  if ! command -v runsc >/dev/null 2>&1; then
    log "installing runsc (gVisor) from Debian"
    apt_install runsc
  fi
  local path
  path=$(command -v runsc)
  log "registering $path as runtime \"runsc\" in $DAEMON_JSON"
  write_daemon_json "$path"
  local pid
  pid=$(dockerd_pid)
  if [ -n "$pid" ]; then
    # Runtimes are reloadable: no running container is disturbed.
    kill -HUP "$pid"
    for _ in $(seq 1 20); do
      if runsc_registered; then
        log "runsc registered (configuration reloaded)"
        return
      fi
      sleep 1
    done
  fi
  log "the reload did not register runsc; restarting the engine"
  restart_dockerd
  if ! runsc_registered; then
    log "runsc is still not registered after a restart; see $LOGFILE"
    exit 1
  fi
  log "runsc registered"
}

ensure_engine
ensure_runsc
