#!/usr/bin/env bash
# Hostile-client suite: builds (or finds) the `kizuna` binary, installs the Node packages,
# and runs the attacks with node's test runner. The tests start their own `kizuna demo` relay
# on a free 127.0.0.1 port in a temp dir (and restart or stop it themselves).
#
#   bash tests/hostile/run.sh                 # build target/debug/kizuna if needed, then run
#   KIZUNA_BIN=/path/to/kizuna bash tests/hostile/run.sh
#   bash tests/hostile/run.sh --test-name-pattern F1   # extra args go to node --test
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"

if [[ -z "${KIZUNA_BIN:-}" ]]; then
  if [[ "${HOSTILE_NO_BUILD:-}" != "1" ]]; then
    (cd "$root" && cargo build -q -p kizuna-server --bin kizuna)
  fi
  for b in "$root/target/debug/kizuna" "$root/target/release/kizuna"; do
    if [[ -x "$b" ]]; then KIZUNA_BIN="$b"; break; fi
  done
fi
if [[ -z "${KIZUNA_BIN:-}" || ! -x "$KIZUNA_BIN" ]]; then
  echo "hostile: no kizuna binary (set KIZUNA_BIN or build kizuna-server)" >&2
  exit 2
fi
export KIZUNA_BIN
echo "hostile: relay binary $KIZUNA_BIN"

cd "$here"
npm ci --no-audit --no-fund --loglevel=error
exec node --test --test-concurrency=1 --test-reporter=tap "$@" hostile.test.mjs
