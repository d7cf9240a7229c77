#!/bin/sh
# Container entry point: apply UMASK, then drop root to PUID:PGID (linuxserver-style),
# so files on bind mounts belong to the host user (Unraid: 99:100). Started with
# `user:` (not root), it runs the command as that user directly.
set -eu
umask "${UMASK:-002}"
if [ "$(id -u)" = "0" ]; then
  uid="${PUID:-1000}"
  gid="${PGID:-1000}"
  data="${MAMFAST_DATA_DIR:-/config}"
  mkdir -p "$data"
  chown "$uid:$gid" "$data"
  export HOME="$data"
  exec setpriv --reuid="$uid" --regid="$gid" --clear-groups -- "$@"
fi
exec "$@"
