#!/usr/bin/env bash
# Run a command with the test services up: scripts/with-services.sh CMD [ARGS...]
# Services this run starts are stopped again when it ends, unless another run is still
# using them (the last run out stops them). Exits with CMD's exit code.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SERVICES=$ROOT/scripts/services.sh

if (($# == 0)); then
  echo "usage: $0 CMD [ARGS...]" >&2
  exit 2
fi

mkdir -p "$ROOT/.services"
# Every run holds a shared lock while it uses the services; fd 8 is kept from children.
exec 8>>"$ROOT/.services/use.lock"
flock -s 8

cleanup() {
  if flock -x -n 8; then
    bash "$SERVICES" stop --autostarted 8>&- || true
  else
    echo "services: still in use by another run; leaving them running" >&2
  fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

DJGC_SERVICES_AUTOSTOP=1 bash "$SERVICES" start 8>&-
eval "$(bash "$SERVICES" env)"
export PATH=$ROOT/node_modules/.bin:$PATH

set +e
"$@" 8>&-
rc=$?
set -e
exit "$rc"
