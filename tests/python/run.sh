#!/usr/bin/env bash
# A Python client generated from the committed spec (openapi-python-client, in a venv under
# target/) logs in with token_delivery=body, calls /api/me and refreshes, against the real binary.
# Proof that openapi/openapi.json serves generated clients outside the browser.
#
#   TESSERA_BIN                the binary (default target/debug/tessera)
#   PY_CLIENT_SPEC             generate from another spec file (default openapi/openapi.json)
#   PY_CLIENT_ALLOW_WARNINGS=1 go on when the generator skipped parts of the spec
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="${PY_VENV:-$ROOT/target/py-venv}"
OUT="$ROOT/target/py-client"
LOG="$ROOT/target/py-client-generate.log"
SPEC="${PY_CLIENT_SPEC:-$ROOT/openapi/openapi.json}"
PYTHON="${PYTHON:-python3}"

if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV"
fi
"$VENV/bin/pip" install -q --disable-pip-version-check 'openapi-python-client==0.29.*'

rm -rf "$OUT"
"$VENV/bin/openapi-python-client" generate --path "$SPEC" \
  --config "$ROOT/tests/python/client-config.yaml" --output-path "$OUT" --meta setup >"$LOG" 2>&1 || {
  cat "$LOG"; echo "openapi-python-client failed on $SPEC" >&2; exit 1; }
if grep -qE 'WARNING|Unable to process' "$LOG"; then
  echo "openapi-python-client could not use all of $SPEC:" >&2
  {
    grep -E -A3 'Unable to process schema' "$LOG" | grep -vE '^(--)?$|^Failure to process'
    grep -E -B1 -A2 'Endpoint will not be generated' "$LOG" | grep -vE '^(--)?$'
    echo "responses omitted from the client: $(grep -c 'response will be omitted' "$LOG")"
  } | uniq >&2
  echo "(full log: $LOG)" >&2
  if [ "${PY_CLIENT_ALLOW_WARNINGS:-0}" != 1 ]; then exit 1; fi
fi
"$VENV/bin/pip" install -q --disable-pip-version-check "$OUT"

export TESSERA_BIN="${TESSERA_BIN:-$ROOT/target/debug/tessera}"
cd "$ROOT/tests/python"
"$VENV/bin/python" -m unittest -v test_generated_client
