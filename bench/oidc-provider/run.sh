#!/usr/bin/env bash
# Peer benchmark of panva's oidc-provider (see bench.mjs): installs the pinned packages into
# this folder when node_modules is missing or package-lock.json changed, then runs the bench.
# Prints one JSON line on stdout. Env: GRANTS (20000), CONCURRENCY (32), VERBOSE=1.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

command -v node >/dev/null || { echo "run.sh: node not found" >&2; exit 2; }
command -v npm >/dev/null || { echo "run.sh: npm not found" >&2; exit 2; }

stamp=node_modules/.package-lock.sha256
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [[ ! -d node_modules || ! -f $stamp || $(cat "$stamp") != "$want" ]]; then
  echo "run.sh: npm ci" >&2
  npm ci --silent --no-audit --no-fund >&2
  echo "$want" > "$stamp"
fi

exec node bench.mjs
