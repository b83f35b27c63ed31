#!/usr/bin/env bash
# Builds libkizuna_mobile.so for arm64-v8a, armeabi-v7a and x86_64 with cargo-ndk into
# kizuna/src/main/jniLibs, and generates the Kotlin bindings into
# kizuna/src/main/kotlin/jp/kizuna/mobile/ffi. Needs the Android NDK (ANDROID_NDK_HOME),
# cargo-ndk (`cargo install cargo-ndk`) and the Rust targets:
#   rustup target add aarch64-linux-android armv7-linux-androideabi x86_64-linux-android
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
profile="${PROFILE:-release}"
cd "$root"
: "${ANDROID_NDK_HOME:?set ANDROID_NDK_HOME to the NDK folder}"
flag=""
[ "$profile" = "release" ] && flag="--release"
cargo ndk -t arm64-v8a -t armeabi-v7a -t x86_64 --platform 26 \
    -o "$here/kizuna/src/main/jniLibs" build $flag -p kizuna-mobile
# The bindings come from the library's own metadata (library mode); any of the three will do.
cargo build --release --manifest-path mobile-bindings/uniffi-bindgen/Cargo.toml --target-dir target/bindgen
rm -rf "$here/kizuna/src/main/kotlin/jp/kizuna/mobile/ffi"
target/bindgen/release/uniffi-bindgen generate \
    "$here/kizuna/src/main/jniLibs/arm64-v8a/libkizuna_mobile.so" \
    --language kotlin \
    --out-dir "$here/kizuna/src/main/kotlin"
echo "Android: native libraries in kizuna/src/main/jniLibs, bindings in kizuna/src/main/kotlin/jp/kizuna/mobile/ffi"
