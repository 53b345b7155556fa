// `npx bgcopy run` (bin/bgcopy.js): a script queues a job and exits; the engine started
// afterwards transfers it and exits when idle; SIGTERM stops a running one cleanly.
import assert from 'node:assert/strict'
import { spawn, spawnSync } from 'node:child_process'
import { once } from 'node:events'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { CopyManager, JobState } from '../index.mjs'
import { firstDifference, startOrigin, tempDir } from './helpers.mjs'

const BIN = fileURLToPath(new URL('../bin/bgcopy.js', import.meta.url))
const INDEX = fileURLToPath(new URL('../index.js', import.meta.url))

describe('npx bgcopy run', () => {
  let origin
  let tmp
  before(async () => {
    origin = await startOrigin()
    tmp = tempDir('bgcopy-node-run-')
  })
  after(() => {
    origin.stop()
    tmp.cleanup()
  })

  it('finishes what a script queued and left', () => {
    const state = join(tmp.dir, 'state')
    const local = join(tmp.dir, 'left.bin')
    const queue = `
const { CopyManager } = require(${JSON.stringify(INDEX)})
const m = CopyManager.open(${JSON.stringify(state)}, { startTransfers: false })
const job = m.createJob('queued and left')
job.addFile(${JSON.stringify(`${origin.http}/f/node-run?size=30000`)}, ${JSON.stringify(local)})
job.resume()
console.log(job.getId())
m.close()
`
    const queued = spawnSync(process.execPath, ['-e', queue], { encoding: 'utf8' })
    assert.equal(queued.status, 0, queued.stderr)
    const id = queued.stdout.trim()
    const run = spawnSync(process.execPath, [BIN, 'run', '--state-dir', state, '--until-idle'], {
      encoding: 'utf8',
      timeout: 120000,
    })
    assert.equal(run.status, 0, run.stderr)
    assert.match(run.stderr, /this process runs the transfers/)
    assert.ok(run.stderr.includes(`${id} TRANSFERRED`), run.stderr)
    assert.match(run.stderr, /idle: 1 transferred, 0 in error, 0 suspended/)
    const m = CopyManager.open(state, { startTransfers: false })
    try {
      const job = m.getJob(id)
      assert.equal(job.getState(), JobState.Transferred)
      job.complete()
    } finally {
      m.close()
    }
    const data = readFileSync(local)
    assert.equal(data.length, 30000)
    assert.equal(firstDifference(data), -1)
  })

  it('stops cleanly on SIGTERM, and bad usage is exit 2', async () => {
    const state = join(tmp.dir, 'state-term')
    const child = spawn(process.execPath, [BIN, 'run', '--state-dir', state], {
      stdio: ['ignore', 'ignore', 'pipe'],
    })
    let err = ''
    child.stderr.setEncoding('utf8')
    const ready = new Promise((resolve) => {
      child.stderr.on('data', (d) => {
        err += d
        if (err.includes('runs the transfers')) resolve()
      })
    })
    await ready
    child.kill('SIGTERM')
    const [code] = await once(child, 'exit')
    assert.equal(code, 130, err)
    assert.match(err, /stopping/)
    const bad = spawnSync(process.execPath, [BIN, 'fly'], { encoding: 'utf8' })
    assert.equal(bad.status, 2)
    assert.match(bad.stderr, /usage: bgcopy run/)
  })
})
