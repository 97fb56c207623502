#!/usr/bin/env bash
# `make bench`: build the release binary and the argon2 criterion bench, make sure the load
# generator is installed, then run bench/run.py (which prints the results table).
# See docs/benchmarks.md. Loopback traffic only; about 3 minutes after the build.
set -euo pipefail
cd "$(dirname "$0")/.."
CARGO=${CARGO:-cargo}

echo "[bench] building the release binary (first time: several minutes)" >&2
$CARGO build --release -p tessera-api --bin tessera
$CARGO bench --no-run -q -p tessera-auth-core --bench argon2

missing=()
command -v wrk >/dev/null || missing+=(wrk)
command -v sqlite3 >/dev/null || missing+=(sqlite3)
if ((${#missing[@]})); then
    echo "[bench] installing ${missing[*]}" >&2
    if [ "$(id -u)" = 0 ]; then apt=(apt-get); else apt=(sudo apt-get); fi
    "${apt[@]}" install -y -q "${missing[@]}" >/dev/null || { "${apt[@]}" update -q >/dev/null && "${apt[@]}" install -y -q "${missing[@]}" >/dev/null; }
fi

# 10,000 client sockets in one process and as many in the server: raise the open-file limit.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt 10200 ]; then
    echo "[bench] warning: open-file limit $(ulimit -n) is below 10,200; the idle-connection test will fail" >&2
fi

target_dir=$($CARGO metadata --format-version 1 --no-deps | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
export TESSERA_BIN="${TESSERA_BIN:-$target_dir/release/tessera}"
export BENCH_TMPDIR="${BENCH_TMPDIR:-$target_dir/bench-tmp}"
exec python3 bench/run.py "$@"
