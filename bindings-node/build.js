#!/usr/bin/env node
// Builds the native module; the package's `prepare` script, so `npm install` runs it.
// It runs the napi CLI (devDependency @napi-rs/cli):
//   napi build --platform --release --no-js --no-const-enum
// which compiles the Rust crate with cargo into ./bgcopy.<platform>.node and
// regenerates ./index.d.ts. BGCOPY_NODE_PROFILE=debug builds the debug profile
// instead (faster to build; the test suite uses it).
//
// When another project installs this folder (`npm install /path/to/bindings-node`),
// npm links it and runs this script but does not install the folder's
// devDependencies; the CLI is then installed here first, at the versions of
// package-lock.json (`npm ci --ignore-scripts`).
'use strict'

const { existsSync } = require('node:fs')
const { join } = require('node:path')
const { spawnSync } = require('node:child_process')

function run(cmd, args) {
  const r = spawnSync(cmd, args, { cwd: __dirname, stdio: 'inherit' })
  if (r.error) {
    console.error(`bgcopy: could not run ${cmd}: ${r.error.message}`)
    process.exit(1)
  }
  if (r.status !== 0) process.exit(r.status ?? 1)
}

const cli = join(__dirname, 'node_modules', '@napi-rs', 'cli', 'dist', 'cli.js')
if (!existsSync(cli)) {
  console.error('bgcopy: installing the napi CLI (npm ci --ignore-scripts) to build the addon')
  // npm sets npm_execpath for lifecycle scripts; else use npm from PATH.
  const npm = process.env.npm_execpath
  const ciArgs = ['ci', '--ignore-scripts', '--no-audit', '--no-fund']
  if (npm && npm.endsWith('.js')) run(process.execPath, [npm, ...ciArgs])
  else run(process.platform === 'win32' ? 'npm.cmd' : 'npm', ciArgs)
}

const debug = process.env.BGCOPY_NODE_PROFILE === 'debug'
run(process.execPath, [
  cli,
  'build',
  '--platform',
  '--no-js',
  '--no-const-enum',
  ...(debug ? [] : ['--release']),
])
