#!/usr/bin/env bash
# A Docker daemon for the compose test: start one when none answers, stop only that one.
#   scripts/dockerd.sh start   -> dockerd in the background (needs root), waits until it answers
#   scripts/dockerd.sh stop    -> stops the daemon `start` launched; a daemon that was already
#                                 running (systemd's, yours) is never touched
set -euo pipefail
state=${MAMFAST_DOCKERD_STATE:-/run/mamfast-dockerd}
pidfile="$state/dockerd.pid"
case "${1:-}" in
start)
  if docker info >/dev/null 2>&1; then
    echo "dockerd: a daemon is already running; using it"
    exit 0
  fi
  command -v dockerd >/dev/null || { echo "dockerd: not installed (apt-get install docker.io)" >&2; exit 1; }
  [ "$(id -u)" -eq 0 ] || { echo "dockerd: starting it needs root" >&2; exit 1; }
  mkdir -p "$state"
  rm -f "$pidfile"
  setsid dockerd --pidfile "$pidfile" >"$state/dockerd.log" 2>&1 </dev/null &
  for _ in $(seq 1 60); do
    if docker info >/dev/null 2>&1 && [ -s "$pidfile" ]; then
      echo "dockerd: started (pid $(cat "$pidfile"), log $state/dockerd.log)"
      exit 0
    fi
    sleep 1
  done
  echo "dockerd: no answer within 60 s; the end of its log:" >&2
  tail -20 "$state/dockerd.log" >&2
  exit 1
  ;;
stop)
  [ -s "$pidfile" ] || exit 0
  pid=$(cat "$pidfile")
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 30); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 1
  done
  kill -KILL "$pid" 2>/dev/null || true
  rm -f "$pidfile"
  echo "dockerd: stopped (pid $pid)"
  ;;
*)
  echo "usage: $0 start|stop" >&2
  exit 2
  ;;
esac
