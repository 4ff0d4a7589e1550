#!/usr/bin/env bash
# Start-up-to-ready time and idle memory of the release binary, on SQLite, first start
# (creates the master key and runs migrations) and warm restart.
# Usage: bench/startup.sh [path/to/medvault]   (default: target/release/medvault)
set -euo pipefail
bin=${1:-target/release/medvault}
port=${PORT:-18181}
runs=${RUNS:-10}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT

now_ms() { date +%s%3N; }

if curl -fs "http://127.0.0.1:$port/healthz" >/dev/null 2>&1; then
  echo "port $port is already serving; set PORT" >&2; exit 1
fi

measure() { # sets $ms (spawn to first 200 on /readyz) and $pid
  local start=$(now_ms)
  "$bin" --data-dir "$dir/data" serve --listen "127.0.0.1:$port" >"$dir/log" 2>&1 &
  pid=$!
  for _ in $(seq 1 2000); do
    if curl -fs "http://127.0.0.1:$port/readyz" >/dev/null 2>&1; then
      ms=$(( $(now_ms) - start )); return
    fi
    sleep 0.002
  done
  echo "server never became ready" >&2; kill "$pid"; exit 1
}

stop() { kill -TERM "$pid"; wait "$pid" || true; }

measure; first=$ms; stop
warm=()
for _ in $(seq 1 "$runs"); do measure; warm+=("$ms"); stop; done
measure
for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$port/healthz" >/dev/null; done
sleep 1
rss_kib=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
stop

sorted=$(printf '%s\n' "${warm[@]}" | sort -n)
echo "binary size:            $(stat -c %s "$bin") bytes"
echo "first start to ready:   ${first} ms (creates master key, runs migrations)"
echo "warm start to ready:    median $(echo "$sorted" | sed -n "$(( (runs + 1) / 2 ))p") ms, max $(echo "$sorted" | tail -1) ms over $runs runs"
echo "idle RSS after 100 req: $(( rss_kib / 1024 )) MiB ($rss_kib KiB)"
