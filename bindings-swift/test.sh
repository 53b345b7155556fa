#!/usr/bin/env bash
# The tests of the UniFFI package (Kotlin and Swift), from a fresh checkout:
#   1. regenerate the Kotlin and Swift sources (generate.sh) into a temporary directory;
#   2. fail when they differ from the committed ones (run ./generate.sh and commit);
#   3. check that both declare every canonical method (tests/check_api.py);
#   4. compile the Kotlin bindings with the Kotlin test suite (kotlinc from the npm
#      package kotlin-compiler; JNA from Debian's libjna-java) and run it on the JVM
#      against the test origin: every tests/scenarios/*.json plus the API tests;
#   5. build the standalone jar (package-jar.sh) and run a download with only it and
#      JNA on the class path.
# Swift can't be compiled here (no toolchain): check_swift.py parses the hand-written Swift
# and checks its calls against the generated signatures; see README.md for running its tests.
# Installs what it needs; ends with one line "kotlin: N passed, N failed".
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
cd "$root"

KOTLIN_VERSION=2.4.20
tools="$here/.tools"
khome="$tools/kotlin-compiler-$KOTLIN_VERSION"
jna=/usr/share/java/jna.jar
target_dir="${CARGO_TARGET_DIR:-$root/target}"

passed=0
failed=0
finish() {
  local rc=$?
  # A step that died without being counted is a failure too.
  if [ "$rc" -ne 0 ] && [ "$failed" -eq 0 ]; then failed=1; fi
  rm -rf "${work:-}"
  echo "kotlin: $passed passed, $failed failed"
}
trap finish EXIT
work="$(mktemp -d)"

step() { printf '\n--> %s\n' "$*"; }
# check NAME COMMAND...: run a check, count it, keep going.
check() {
  local name="$1"
  shift
  if "$@"; then
    passed=$((passed + 1))
    echo "ok      $name"
  else
    failed=$((failed + 1))
    echo "FAILED  $name"
  fi
}

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

step "tools: Kotlin $KOTLIN_VERSION (npm), JNA (Debian), Java"
if [ ! -x "$khome/bin/kotlinc" ]; then
  mkdir -p "$tools"
  (
    cd "$tools"
    rm -rf package "kotlin-compiler-$KOTLIN_VERSION"
    npm pack --silent "kotlin-compiler@$KOTLIN_VERSION" >/dev/null
    tar xzf "kotlin-compiler-$KOTLIN_VERSION.tgz"
    rm -f "kotlin-compiler-$KOTLIN_VERSION.tgz"
    mv package "kotlin-compiler-$KOTLIN_VERSION"
  )
fi
if [ ! -f "$jna" ]; then
  as_root apt-get install -y -q libjna-java >/dev/null 2>&1 ||
    { as_root apt-get update -q >/dev/null && as_root apt-get install -y -q libjna-java >/dev/null; }
fi
java -version 2>&1 | head -1
echo "kotlinc: $khome/bin/kotlinc; JNA: $(readlink -f "$jna")"

step "build the test origin"
if [ ! -x "$target_dir/debug/bgcopy-test-origin" ]; then
  cargo build --quiet -p bgcopy-test-origin
fi

step "generate the Kotlin and Swift sources (generate.sh)"
gen="$work/generated"
check "generate.sh (uniffi-bindgen, library mode)" "$here/generate.sh" "$gen"

step "the committed sources match the generated ones"
check "generated sources are committed and current (cargo xtask codegen --check uniffi)" \
  cargo xtask codegen --check uniffi

step "every contract method is declared"
check "Kotlin and Swift declare every canonical method (tests/spec_methods.json)" \
  python3 "$root/tests/check_api.py" --lang kotlin,swift \
  --kotlin "$gen/kotlin/src/main/kotlin/io/github/bgcopy/bgcopy.kt" \
  --swift "$gen/swift/Sources/BgCopy/BgCopy.swift"

step "the hand-written Swift parses and calls the package with the right labels (check_swift.py)"
swift_sources=("$here/swift/Sources/BgCopy/Idioms.swift" "$here/swift/Sources/BgCopy/CopyCallback+Defaults.swift"
  "$here/swift/Tests/BgCopyTests/BgCopyTests.swift" "$here/swift/Examples/QuickStart.swift")
swift_check() {
  local venv="$tools/swift-check"
  if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv" && "$venv/bin/pip" install -q "tree-sitter==0.26.1" "tree-sitter-swift==0.7.4" || return 1
  fi
  "$venv/bin/python" "$here/check_swift.py" "$gen/swift/Sources/BgCopy/BgCopy.swift" "${swift_sources[@]}" || return 1
  # The check can fail: the same files with one label the generated method does not
  # have give exactly that problem.
  local out
  sed 's/try job.addFile(url, "relative.bin")/try job.addFile(remoteUrl: url, "relative.bin")/' \
    "$here/swift/Tests/BgCopyTests/BgCopyTests.swift" >"$work/BgCopyTests.swift"
  out=$("$venv/bin/python" "$here/check_swift.py" "$gen/swift/Sources/BgCopy/BgCopy.swift" \
    "${swift_sources[@]/*BgCopyTests.swift/$work/BgCopyTests.swift}") && {
    echo "check_swift.py accepted addFile(remoteUrl:, _)"; return 1; }
  grep -q 'addFile(remoteUrl:, _) fits none of' <<<"$out" && grep -q ', 1 problems$' <<<"$out" ||
    { echo "check_swift.py did not report just the wrong label:"; echo "$out"; return 1; }
}
check "Swift sources parse (tree-sitter-swift) and their calls fit the generated signatures" swift_check

step "the README's quick starts are the compiled examples"
quickstarts() {
  python3 - "$root/README.md" "$here/kotlin/examples/QuickStart.kt" "$here/swift/Examples/QuickStart.swift" <<'PY'
import re, sys
readme = open(sys.argv[1], encoding="utf-8").read()
ok = True
for lang, path, first in (("kotlin", sys.argv[2], "import io.github.bgcopy."), ("swift", sys.argv[3], "import BgCopy")):
    src = open(path, encoding="utf-8").read()
    body = src[src.index(first):].strip()
    blocks = [b.strip() for b in re.findall(r"```" + lang + r"\n(.*?)```", readme, re.S)]
    if body not in blocks:
        print(f"README.md has no {lang} block equal to {path} (from '{first}')")
        ok = False
sys.exit(0 if ok else 1)
PY
}
check "README quick starts match kotlin/examples and swift/Examples" quickstarts

step "the root Package.swift (SwiftPM by git URL) and its release script"
root_package() {
  local pkg="$root/Package.swift"
  if grep -q unsafeFlags "$pkg"; then echo "the root Package.swift uses unsafeFlags"; return 1; fi
  grep -q 'path: "bindings-swift/swift/Sources/BgCopy"' "$pkg" || { echo "no BgCopy target"; return 1; }
  grep -q '\.binaryTarget(name: "BgCopyFFI"' "$pkg" || { echo "no binary target"; return 1; }
  local zip="$work/BgCopyFFI.xcframework.zip" out="$work/Package.swift"
  printf 'not really a zip' >"$zip"
  "$here/release-package.sh" --zip "$zip" --url https://releases.test/v1/BgCopyFFI.xcframework.zip \
    --out "$out" || return 1
  local sum
  sum=$(sha256sum "$zip" | cut -d' ' -f1)
  grep -q "\.binaryTarget(name: \"BgCopyFFI\", url: \"https://releases.test/v1/BgCopyFFI.xcframework.zip\", checksum: \"$sum\")" "$out" ||
    { echo "release-package.sh did not write the URL and checksum"; cat "$out"; return 1; }
  if grep -q 'path: "bindings-swift/swift/BgCopyFFI.xcframework"' "$out"; then
    echo "the local binary target is still there"; return 1
  fi
  # Refuses what SwiftPM would refuse.
  if "$here/release-package.sh" --zip "$zip" --url http://plain.test/x.zip --out "$out" 2>/dev/null; then
    echo "release-package.sh accepted a plain http URL"; return 1
  fi
}
check "root Package.swift: no unsafe flags; release-package.sh writes url + checksum" root_package

step "compile the Kotlin bindings and tests (kotlinc)"
klib="$khome/lib"
cp="$jna:$klib/kotlinx-coroutines-core-jvm.jar:$klib/kotlin-test.jar"
classes="$work/classes"
sources=("$gen/kotlin/src/main/kotlin/io/github/bgcopy/bgcopy.kt")
while IFS= read -r f; do sources+=("$f"); done < <(
  find "$here/kotlin/src" "$here/kotlin/examples" -name '*.kt' ! -path '*/src/main/kotlin/io/github/bgcopy/bgcopy.kt' | sort
)
check "kotlinc (bindings + ${#sources[@]} files)" \
  "$khome/bin/kotlinc" -nowarn -jvm-target 17 -cp "$cp" -d "$classes" "${sources[@]}"

step "the standalone jar (package-jar.sh): a download with only the jar and JNA on the class path"
jar_check() {
  "$here/package-jar.sh" --kotlin-home "$khome" --out "$work/jar" || return 1
  local jarf
  jarf=$(ls "$work/jar"/bgcopy-*.jar)
  unzip -l "$jarf" >"$work/jar.txt"
  for f in linux-x86-64/libbgcopy_uniffi.so io/github/bgcopy/CopyManager.class \
    kotlin/Unit.class META-INF/LICENSE-APACHE; do
    grep -q " $f\$" "$work/jar.txt" || { echo "the jar lacks $f"; return 1; }
  done
  "$khome/bin/kotlinc" -nowarn -jvm-target 17 -cp "$jarf:$jna" -d "$work/smoke" \
    "$here/kotlin/jar-smoke/JarSmoke.kt" || return 1
  local line port out
  coproc ORIGIN { exec "$target_dir/debug/bgcopy-test-origin"; }
  read -r line <&"${ORIGIN[0]}"
  port=$(echo "$line" | sed -E 's/.*"http":([0-9]+).*/\1/')
  # No -Djna.library.path and no Kotlin runtime on the class path: the jar has them.
  out=$(env -u LD_LIBRARY_PATH java -cp "$jarf:$jna:$work/smoke" io.github.bgcopy.jarsmoke.JarSmokeKt \
    "$work/jar-state" "http://127.0.0.1:$port/f/jar-smoke?size=150000" "$work/jar.bin" 2>&1) || { echo "$out"; return 1; }
  exec {ORIGIN[1]}>&-
  wait "$ORIGIN_PID" || true
  echo "$out"
  local version
  version=$(sed -n 's/^version = "\(.*\)"$/\1/p' "$root/Cargo.toml" | head -1)
  [ "$out" = "jar ok $version" ] || return 1
  [ "$(stat -c %s "$work/jar.bin")" = 150000 ] || return 1
  echo "$(basename "$jarf"): $(stat -c %s "$jarf") bytes"
}
check "standalone jar: java -cp bgcopy.jar:jna.jar runs a download" jar_check

# Starts the test origin as a coprocess and sets $port.
start_origin() {
  local line
  coproc ORIGIN { exec "$target_dir/debug/bgcopy-test-origin"; }
  read -r line <&"${ORIGIN[0]}"
  port=$(echo "$line" | sed -E 's/.*"http":([0-9]+).*/\1/')
}
stop_origin() {
  exec {ORIGIN[1]}>&-
  wait "$ORIGIN_PID" || true
}

step "the README's Kotlin quick start runs against the test origin"
quickstart_run() {
  local port out err rc=0
  start_origin
  local run=(java -Djna.library.path="$target_dir/debug" -cp "$classes:$cp:$klib/kotlin-stdlib.jar"
    io.github.bgcopy.examples.QuickStartKt)
  out=$(BGCOPY_STATE_DIR="$work/qs-state" "${run[@]}" "http://127.0.0.1:$port/f/qs-ok?size=1500000&rate=1000000" \
    "$work/qs.bin" 2>"$work/qs.err") || rc=1
  err=$(cat "$work/qs.err")
  printf '%s\n%s\n' "$out" "$err"
  grep -qE '^[1-9][0-9]* / 1500000 bytes$' <<<"$out" || { echo "no progress line"; rc=1; }
  grep -qx "downloaded $work/qs.bin.copy" <<<"$out" || { echo "no download line"; rc=1; }
  grep -qx "ALL $work/qs.bin" <<<"$out" || { echo "no completion line"; rc=1; }
  grep -q '^INVALID_STATE (0x80200002): ' <<<"$err" || { echo "no INVALID_STATE line"; rc=1; }
  [ "$(stat -c %s "$work/qs.bin" 2>/dev/null)" = 1500000 ] || { echo "qs.bin is not 1500000 bytes"; rc=1; }
  out=$(BGCOPY_STATE_DIR="$work/qs-state" "${run[@]}" "http://127.0.0.1:$port/f/qs-404?status=404" \
    "$work/nf.bin" 2>&1) || rc=1
  echo "$out"
  grep -q '^HTTP 404: HTTP_404 (0x80190194): ' <<<"$out" || { echo "no HTTP 404 line"; rc=1; }
  grep -q '^failed: HTTP_404 (REMOTE_FILE): ' <<<"$out" || { echo "no failed line"; rc=1; }
  stop_origin
  return "$rc"
}
check "kotlin/examples/QuickStart.kt: a download with progress, then an HTTP 404" quickstart_run

step "a Java caller (javac) uses the canonical methods without mangled names"
java_caller() {
  local port out rc=0
  mkdir -p "$work/java"
  javac -d "$work/java" -cp "$classes:$cp:$klib/kotlin-stdlib.jar" "$here/kotlin/java/JavaCaller.java" || return 1
  start_origin
  out=$(java -Djna.library.path="$target_dir/debug" -cp "$work/java:$classes:$cp:$klib/kotlin-stdlib.jar" JavaCaller \
    "$work/java-state" "http://127.0.0.1:$port/f/java-ok?size=150000" "http://127.0.0.1:$port/f/java-404?status=404" \
    "$work/java.bin" 2>&1) || rc=1
  stop_origin
  echo "$out"
  [ "$out" = "java ok" ] || rc=1
  return "$rc"
}
check "kotlin/java/JavaCaller.java: compiled with javac, runs a download and the typed errors" java_caller

step "run the Kotlin tests on the JVM against the test origin"
if [ -f "$classes/io/github/bgcopy/test/MainKt.class" ]; then
  set +e
  # The workspace's version, which bgcopyVersion() must report.
  version="$(sed -n 's/^version = "\(.*\)"$/\1/p' "$root/Cargo.toml" | head -1)"
  java -Djna.library.path="$target_dir/debug" -Dbgcopy.expectedVersion="$version" \
    -cp "$classes:$cp:$klib/kotlin-stdlib.jar" io.github.bgcopy.test.MainKt \
    "$target_dir/debug/bgcopy-test-origin" "$root/tests/scenarios" | tee "$work/run.log"
  rc=${PIPESTATUS[0]}
  set -e
  result="$(grep -E '^RESULT passed=[0-9]+ failed=[0-9]+$' "$work/run.log" | tail -1 || true)"
  if [ -n "$result" ]; then
    p="${result#RESULT passed=}"
    passed=$((passed + ${p%% *}))
    failed=$((failed + ${result##*failed=}))
  fi
  if [ -z "$result" ] || { [ "$rc" -ne 0 ] && [ "${result##*failed=}" -eq 0 ]; }; then
    echo "FAILED  the Kotlin test run (exit status $rc)"
    failed=$((failed + 1))
  fi
fi

[ "$failed" -eq 0 ]
