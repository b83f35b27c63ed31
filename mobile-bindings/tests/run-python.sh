#!/usr/bin/env bash
# The Python bindings with unittest against a real relay on loopback (see
# mobile-bindings/tests/README.md). Needs only python3.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=$(bash mobile-bindings/tests/build.sh python)
# The generated module loads libkizuna_mobile.so from its own folder.
ln -sf "$PWD/target/debug/libkizuna_mobile.so" "$out/libkizuna_mobile.so"
cp mobile-bindings/tests/test_bindings.py "$out/"
export KIZUNA_BIN="$PWD/target/debug/kizuna"
cd "$out"
start=$(date +%s)
python3 -m unittest -v test_bindings
echo "python binding tests: $(( $(date +%s) - start )) s"
