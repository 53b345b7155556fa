#!/usr/bin/env node
// `npx bgcopy run [--state-dir DIR] [--until-idle] [-q]`: the engine of a state
// directory in the foreground, like the `bgcopy run` command, for machines with the npm
// package but not the command. It stands for election (another engine may run; this
// one takes over when it stops), logs each job's state changes and errors from any
// process on stderr, and stops cleanly (exit 130) on Ctrl-C or SIGTERM; with
// `--until-idle` it exits 0 once no job is queued, running or waiting for a retry.
'use strict'

const { CopyManager } = require('../index.js')

const USAGE = 'usage: bgcopy run [--state-dir DIR] [--until-idle] [-q | --quiet]'

function parse(argv) {
  if (argv[0] !== 'run') return null
  const opts = { stateDir: null, untilIdle: false, quiet: false }
  for (let i = 1; i < argv.length; i++) {
    const a = argv[i]
    if (a === '--state-dir' && i + 1 < argv.length) opts.stateDir = argv[++i]
    else if (a.startsWith('--state-dir=')) opts.stateDir = a.slice('--state-dir='.length)
    else if (a === '--until-idle') opts.untilIdle = true
    else if (a === '-q' || a === '--quiet') opts.quiet = true
    else return null
  }
  return opts
}

const opts = parse(process.argv.slice(2))
if (!opts) {
  console.error(USAGE)
  process.exit(2)
}
let manager
try {
  const path = require('node:path')
  manager = CopyManager.open(opts.stateDir === null ? null : path.resolve(opts.stateDir))
} catch (e) {
  console.error(`bgcopy: ${e.message}`)
  process.exit(1)
}
const stop = () => manager.close()
process.on('SIGINT', stop)
process.on('SIGTERM', stop)
manager.serve({ untilIdle: opts.untilIdle, quiet: opts.quiet }).then(
  (end) => {
    manager.close()
    process.exit(end === 'idle' ? 0 : 130)
  },
  (e) => {
    console.error(`bgcopy: ${e.message}`)
    process.exit(1)
  },
)
