#!/usr/bin/env bash
# The npm packages as they would be published, built and checked from scratch, in the
# napi-rs layout (per-platform packages under npm/<platform>/, optional dependencies of
# the main package, so that adding a platform is configuration):
#   1. the native module in release mode, stripped, in the platform package
#      `bgcopy-linux-x64-gnu` (npm/linux-x64-gnu/), packed with `npm pack`;
#   2. the main package `bgcopy` packed with `npm pack` (its `files`: the loader,
#      index.mjs, index.d.ts, bin/, README, licences; no binary, no Rust sources), its
#      package.json given the optional dependency as `napi prepublish` would;
#   3. both tarballs installed into a fresh npm project and used with no Rust on PATH:
#      require and import, a download from the test origin, the types.
# Prints the sizes. The last line is "node-package: N passed, N failed".
#
#   BGCOPY_NODE_DIST=DIR   keep the tarballs in DIR (default: a temporary one)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
cd "$root"

checks_name=node-package
# shellcheck source=../tests/package-checks.sh
. "$root/tests/package-checks.sh"
dist="${BGCOPY_NODE_DIST:-$work/dist}"
mkdir -p "$dist"
version=$(node -p "require('$here/package.json').version")
platform=linux-x64-gnu
module=bgcopy.$platform.node

step "cargo build --release -p bgcopy-node; strip; the platform package npm/$platform"
cargo build --release -p bgcopy-node
plat="$work/plat"
cp -r "$here/npm/$platform" "$plat"
cp "$target/release/libbgcopy_node.so" "$plat/$module"
before=$(stat -c %s "$plat/$module")
strip --strip-unneeded "$plat/$module"
after=$(stat -c %s "$plat/$module")
echo "$module: $before bytes unstripped, $after stripped"
cp LICENSE-MIT LICENSE-APACHE "$plat/"
if [ "$(node -p "require('$plat/package.json').version")" = "$version" ]; then
  ok "platform package version $version"
else
  bad "npm/$platform/package.json version differs from $version"
fi
(cd "$plat" && npm pack --silent --pack-destination "$dist" >/dev/null)
plat_tgz="$dist/bgcopy-$platform-$version.tgz"
[ -f "$plat_tgz" ] && ok "packed $(basename "$plat_tgz")" || bad "npm pack of the platform package"

step "the main package: npm pack with the optional dependency"
main="$work/main"
mkdir -p "$main"
# What `files` lists, through npm's own selection (npm pack --dry-run --json).
(cd "$here" && npm pack --dry-run --json --ignore-scripts) >"$work/files.json"
node - "$work/files.json" "$here" "$main" <<'JS'
const [list, from, to] = process.argv.slice(2)
const fs = require('node:fs')
const path = require('node:path')
const files = JSON.parse(fs.readFileSync(list, 'utf8'))[0].files.map((f) => f.path)
for (const f of files) {
  fs.mkdirSync(path.dirname(path.join(to, f)), { recursive: true })
  fs.copyFileSync(path.join(from, f), path.join(to, f))
}
const pkg = JSON.parse(fs.readFileSync(path.join(to, 'package.json'), 'utf8'))
// As `napi prepublish` does: the platform packages become optional dependencies; the
// build scripts and tools stay behind (the published package builds nothing).
pkg.optionalDependencies = { [`bgcopy-linux-x64-gnu`]: pkg.version }
delete pkg.scripts
delete pkg.devDependencies
fs.writeFileSync(path.join(to, 'package.json'), JSON.stringify(pkg, null, 2) + '\n')
console.log(files.join('\n'))
JS
bad_files=$(node -e "
const f = require('$work/files.json')[0].files.map((x) => x.path)
const bad = f.filter((p) => p.endsWith('.node') || p.startsWith('src/') || p.startsWith('target/') || p.startsWith('node_modules/') || p.startsWith('tests/'))
const need = ['index.js', 'index.mjs', 'index.d.ts', 'LICENSE-MIT', 'LICENSE-APACHE', 'README.md', 'package.json', 'bin/bgcopy.js']
const missing = need.filter((n) => !f.includes(n))
console.log([...bad, ...missing.map((m) => 'missing ' + m)].join(' '))
")
[ -z "$bad_files" ] && ok "main package files" || bad "main package files: $bad_files"
(cd "$main" && npm pack --silent --pack-destination "$dist" >/dev/null)
main_tgz="$dist/bgcopy-$version.tgz"
[ -f "$main_tgz" ] && ok "packed $(basename "$main_tgz")" || { bad "npm pack of the main package"; finish; }

step "a fresh npm project installs both tarballs; used with no Rust on PATH"
app="$work/app"
mkdir -p "$app"
(cd "$app" && npm init -y >/dev/null && npm install --silent --no-audit --no-fund "$main_tgz" "$plat_tgz")
node_dir=$(dirname "$(command -v node)")
cat >"$app/smoke.mjs" <<'JS'
import assert from 'node:assert/strict'
import { createRequire } from 'node:module'
import { spawn } from 'node:child_process'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { CopyManager, JobState, VERSION } from 'bgcopy'

const require = createRequire(import.meta.url)
const cjs = require('bgcopy')
assert.equal(cjs.VERSION, VERSION)
assert.equal(VERSION, require('bgcopy/package.json').version)
const resolved = require.resolve('bgcopy-linux-x64-gnu')
assert.match(resolved, /node_modules\/bgcopy-linux-x64-gnu\/bgcopy\.linux-x64-gnu\.node$/)

const origin = spawn(process.env.BGCOPY_TEST_ORIGIN, [], { stdio: ['pipe', 'pipe', 'inherit'] })
const info = await new Promise((resolve) => origin.stdout.once('data', (d) => resolve(JSON.parse(String(d).split('\n')[0]))))
const dir = mkdtempSync(join(tmpdir(), 'bgcopy-npm-smoke-'))
const m = CopyManager.open(join(dir, 'state'))
const job = m.createJob('smoke')
job.addFile(`http://127.0.0.1:${info.http}/f/npm-smoke?size=200000`, join(dir, 'a.bin'))
job.resume()
assert.equal(await job.wait(30000), JobState.Transferred)
job.complete()
m.close()
origin.stdin.end()
origin.kill()
console.log('smoke ok', VERSION)
JS
if (cd "$app" && env PATH="$node_dir:/usr/bin:/bin" sh -c '! command -v cargo >/dev/null' &&
  env PATH="$node_dir:/usr/bin:/bin" node smoke.mjs); then
  ok "require, import and a download from the installed tarballs"
else
  bad "the installed tarballs do not work"
fi
if [ ! -e "$app/node_modules/bgcopy/src" ] && [ ! -e "$app/node_modules/bgcopy/target" ]; then
  ok "no Rust sources or build output in the installed package"
else
  bad "the installed package holds Rust sources"
fi

step "sizes"
for f in "$plat_tgz" "$main_tgz"; do
  printf '%s: %d bytes (%.1f MiB)\n' "$(basename "$f")" "$(stat -c %s "$f")" "$(echo "$(stat -c %s "$f") / 1048576" | bc -l)"
done
echo "$module: $after bytes stripped (unstripped $before)"
finish
