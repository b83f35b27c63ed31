#!/usr/bin/env bash
# Builds build/kizuna_mobileFFI.xcframework (static libraries for iOS devices, the iOS
# simulator on Apple silicon and Intel, and macOS for `swift test`) and generates the Swift
# bindings into Sources/KizunaFFI. Run on a Mac with Xcode and rustup:
#   rustup target add aarch64-apple-ios aarch64-apple-ios-sim x86_64-apple-ios \
#       aarch64-apple-darwin x86_64-apple-darwin
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
cd "$root"
profile=release
export IPHONEOS_DEPLOYMENT_TARGET=15.0 MACOSX_DEPLOYMENT_TARGET=12.0
for t in aarch64-apple-ios aarch64-apple-ios-sim x86_64-apple-ios aarch64-apple-darwin x86_64-apple-darwin; do
    cargo build --release -p kizuna-mobile --target "$t"
done
lib=libkizuna_mobile.a
out="$here/build"
rm -rf "$out"
mkdir -p "$out/sim" "$out/macos" "$out/headers" "$out/gen"
lipo -create target/aarch64-apple-ios-sim/$profile/$lib target/x86_64-apple-ios/$profile/$lib \
    -output "$out/sim/$lib"
lipo -create target/aarch64-apple-darwin/$profile/$lib target/x86_64-apple-darwin/$profile/$lib \
    -output "$out/macos/$lib"

# The bindings, from the library's own metadata (library mode).
cargo build --release --manifest-path mobile-bindings/uniffi-bindgen/Cargo.toml --target-dir target/bindgen
target/bindgen/release/uniffi-bindgen generate target/aarch64-apple-darwin/$profile/$lib \
    --language swift --out-dir "$out/gen"
cp "$out/gen/kizuna_mobileFFI.h" "$out/headers/"
cp "$out/gen/kizuna_mobileFFI.modulemap" "$out/headers/module.modulemap"
cp "$out/gen/KizunaFFI.swift" "$here/Sources/KizunaFFI/KizunaFFI.swift"

xcodebuild -create-xcframework \
    -library target/aarch64-apple-ios/$profile/$lib -headers "$out/headers" \
    -library "$out/sim/$lib" -headers "$out/headers" \
    -library "$out/macos/$lib" -headers "$out/headers" \
    -output "$out/kizuna_mobileFFI.xcframework"
echo "iOS: $out/kizuna_mobileFFI.xcframework and Sources/KizunaFFI/KizunaFFI.swift"
