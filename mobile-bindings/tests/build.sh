#!/usr/bin/env bash
# Builds what the binding tests need and generates the bindings of one language:
#   build.sh kotlin|python|swift  ->  target/mobile-tests/<language>/
# The library, the relay and uniffi-bindgen are built in separate cargo invocations: built
# together, uniffi's `cli` feature would be unified into the library.
set -euo pipefail
cd "$(dirname "$0")/../.."
lang="$1"
cargo build -q -p kizuna-mobile
cargo build -q -p kizuna-server --bin kizuna
cargo build -q --manifest-path mobile-bindings/uniffi-bindgen/Cargo.toml --target-dir target/bindgen
out="target/mobile-tests/$lang"
rm -rf "$out"
mkdir -p "$out"
target/bindgen/debug/uniffi-bindgen generate target/debug/libkizuna_mobile.so \
    --language "$lang" --out-dir "$out" --no-format >/dev/null
echo "$out"
