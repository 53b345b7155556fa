// The README's Node quick start is examples/quickstart.mjs, verbatim, and it runs: a
// download with progress events, then a failing one.
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { after, before, describe, it } from 'node:test'
import { firstDifference, pkgDir, root, startOrigin, tempDir } from './helpers.mjs'

const example = join(pkgDir, 'examples', 'quickstart.mjs')
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

const runExample = (...args) =>
  promisify(execFile)(process.execPath, [example, ...args], {
    env: { ...process.env, BGCOPY_STATE_DIR: join(tmp.dir, 'state') },
    timeout: 60000,
  })

describe('quick start', () => {
  it('the READMEs show examples/quickstart.mjs verbatim', () => {
    const code = readFileSync(example, 'utf8').trim()
    for (const readme of [join(pkgDir, 'README.md'), join(root, 'README.md')]) {
      assert.ok(readFileSync(readme, 'utf8').includes(code), `${readme} does not show ${example}`)
    }
  })

  it('downloads with progress events and completes', async () => {
    const dest = join(tmp.dir, 'ok.bin')
    const { stdout, stderr } = await runExample(`${origin.http}/f/qs-ok?size=1500000&rate=1000000`, dest)
    assert.match(stdout, /[1-9]\d* \/ 1500000 bytes/)
    assert.match(stdout, new RegExp(`^OK ${dest}$`, 'm'))
    assert.match(stdout, new RegExp(`^downloaded ${dest}.copy$`, 'm'))
    assert.equal(readFileSync(`${dest}.copy`).length, 1500000)
    assert.match(stderr, /INVALID_STATE 0x80200002/)
    const data = readFileSync(dest)
    assert.equal(data.length, 1500000)
    assert.equal(firstDifference(data), -1)
  })

  it('reports an error', async () => {
    const { stderr } = await runExample(`${origin.http}/f/qs-404?status=404`, join(tmp.dir, 'nf.bin'))
    assert.match(stderr, /failed: HTTP_404 \(0x80190194\): /)
    assert.match(stderr, /HTTP 404: HTTP_404 \(0x80190194\): /)
  })
})
