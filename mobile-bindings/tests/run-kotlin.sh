#!/usr/bin/env bash
# The generated Kotlin and the Android facade (android/kizuna/src/main/kotlin) compiled with
# kotlinc and run on the JVM with JNA against the host library, driving a real relay on
# loopback (see mobile-bindings/tests/README.md). Tools: kotlinc from the npm package
# kotlin-compiler@2.4.20 in tools/ (`npm install --prefix tools kotlin-compiler@2.4.20`) and
# JNA from Debian (`apt-get install libjna-java`). Without them the test is skipped, unless
# KIZUNA_BINDING_TESTS=required (CI), where it fails.
set -euo pipefail
cd "$(dirname "$0")/../.."
kotlin_home="$PWD/tools/node_modules/kotlin-compiler"
jna=/usr/share/java/jna.jar
missing=""
[ -x "$kotlin_home/bin/kotlinc" ] || missing="kotlinc ($kotlin_home)"
[ -f "$jna" ] || missing="$missing jna ($jna)"
command -v java >/dev/null || missing="$missing java"
if [ -n "$missing" ]; then
    if [ "${KIZUNA_BINDING_TESTS:-}" = "required" ]; then
        echo "kotlin binding tests: missing $missing" >&2
        exit 1
    fi
    echo "kotlin binding tests: SKIPPED, missing $missing"
    exit 0
fi
out=$(bash mobile-bindings/tests/build.sh kotlin)
lib="$kotlin_home/lib"
export KIZUNA_BIN="$PWD/target/debug/kizuna"
start=$(date +%s)
"$kotlin_home/bin/kotlinc" -nowarn \
    "$out" android/kizuna/src/main/kotlin/jp/kizuna/mobile/Kizuna.kt \
    mobile-bindings/tests/kotlin/KizunaTest.kt \
    -cp "$jna:$lib/kotlin-test.jar:$lib/kotlinx-coroutines-core-jvm.jar" \
    -d "$out/test.jar" 2>&1 | grep -v "^warning:" || true
[ -f "$out/test.jar" ] || { echo "kotlin binding tests: compilation failed" >&2; exit 1; }
compiled=$(date +%s)
java -Djna.library.path="$PWD/target/debug" \
    -cp "$out/test.jar:$jna:$lib/kotlin-stdlib.jar:$lib/kotlin-test.jar:$lib/kotlinx-coroutines-core-jvm.jar" \
    KizunaTestKt
echo "kotlin binding tests: compile $(( compiled - start )) s, run $(( $(date +%s) - compiled )) s"
