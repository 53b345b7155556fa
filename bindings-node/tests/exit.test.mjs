// A script that finishes its work exits by itself: notification handlers keep the
// process alive only until the job is final or the manager is closed.
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { here, startOrigin, tempDir } from './helpers.mjs'

let origin
let tmp
before(async () => {
  origin = await startOrigin()
  tmp = tempDir()
})
after(() => {
  origin.stop()
  tmp.cleanup()
})

/** Run a fixture; resolve with its exit code and output, or fail after `ms`. */
function runScript(args, ms = 30000) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--expose-gc', join(here, 'fixtures', 'transfer-with-handlers.mjs'), ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let out = ''
    child.stdout.on('data', (d) => (out += d))
    child.stderr.on('data', (d) => (out += d))
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`still running after ${ms} ms (kept alive); output:\n${out}`))
    }, ms)
    child.on('exit', (code, signal) => {
      clearTimeout(timer)
      resolve({ code, signal, out })
    })
  })
}

describe('the process exits on its own', { concurrency: true }, () => {
  const cases = {
    'complete-in-handler': [/transferred/, /complete OK/, /progress 300000\/300000/],
    'close-after-wait': [/waited 6/],
    'cancel-on-error': [/error HTTP_404/],
    'close-in-handler': [/complete OK/, /closed/],
    'dropped-handles': [/transferred/, /complete OK/],
  }
  for (const [mode, expected] of Object.entries(cases)) {
    it(`after ${mode}`, async () => {
      const dir = join(tmp.dir, mode)
      await import('node:fs').then((fs) => fs.mkdirSync(dir))
      const { code, signal, out } = await runScript([mode, origin.http, dir])
      assert.equal(signal, null, out)
      assert.equal(code, 0, out)
      for (const re of expected) assert.match(out, re)
    })
  }
})
