// The Node idioms: job.events() (an async iterator with AbortSignal), download() (one
// call, typed error, abort), numbers in progress.
import assert from 'node:assert/strict'
import { existsSync, readFileSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { BgCopyError, CopyManager, HttpError, JobState, download } from '../index.mjs'
import { firstDifference, startOrigin, tempDir } from './helpers.mjs'

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

describe('job.events()', () => {
  it('runs from the state now to Transferred, with progress and files', async () => {
    const m = CopyManager.open(join(tmp.dir, 'ev-state'))
    const job = m.createJob('events')
    job.setMaxConnectionsPerFile(1)
    job.addFile(`${origin.http}/f/ev-a?size=300000&rate=1000000`, join(tmp.dir, 'ev-a'))
    job.addFile(`${origin.http}/f/ev-b?size=100`, join(tmp.dir, 'ev-b'))
    job.resume()
    const seen = []
    for await (const ev of job.events()) seen.push(ev)
    assert.equal(seen[0].kind, 'STATE_CHANGED')
    const last = seen.at(-1)
    assert.equal(last.state, JobState.Transferred)
    assert.equal(last.progress.filesTransferred, 2)
    assert.deepEqual(
      seen.filter((e) => e.kind === 'FILE_TRANSFERRED').map((e) => e.fileIndex).sort(),
      [0, 1],
    )
    const progress = seen.filter((e) => e.kind === 'PROGRESS').map((e) => e.progress.bytesTransferred)
    assert.ok(progress.length > 0)
    assert.deepEqual(progress, [...progress].sort((a, b) => a - b))
    assert.ok(seen.every((e) => e.time instanceof Date))
    assert.doesNotThrow(() => JSON.stringify(seen.map((e) => e.progress)))
    job.complete()
    m.close()
  })

  it('ends with a typed HTTP error', async () => {
    const m = CopyManager.open(join(tmp.dir, 'ev404-state'))
    const job = m.createJob('404')
    job.addFile(`${origin.http}/f/ev-gone?status=404`, join(tmp.dir, 'ev-gone'))
    job.resume()
    let last
    for await (const ev of job.events()) last = ev
    assert.equal(last.kind, 'ERROR')
    assert.equal(last.state, JobState.Error)
    assert.ok(last.error instanceof HttpError && last.error instanceof BgCopyError)
    assert.equal(last.error.status, 404)
    assert.match(last.error.message, /^HTTP_404 \(0x80190194\): /)
    job.cancel()
    m.close()
  })

  it('an AbortSignal rejects with its reason; break releases the stream', async () => {
    const m = CopyManager.open(join(tmp.dir, 'evab-state'))
    const job = m.createJob('abort')
    job.addFile(`${origin.http}/f/ev-slow?size=5000000&rate=100000`, join(tmp.dir, 'ev-slow'))
    job.resume()
    const ac = new AbortController()
    setTimeout(() => ac.abort(new Error('enough')), 300)
    const start = Date.now()
    await assert.rejects(async () => {
      for await (const _ev of job.events({ signal: ac.signal })) {
        // keep reading
      }
    }, /enough/)
    assert.ok(Date.now() - start < 5000)
    for await (const _ev of job.events()) break
    job.cancel()
    m.close()
  })
})

describe('download()', () => {
  it('one URL to a file, several into a directory, paths in order', async () => {
    const stateDir = join(tmp.dir, 'dl-state')
    const one = await download(`${origin.http}/f/dl-one?size=1000`, join(tmp.dir, 'one.bin'), { stateDir })
    assert.deepEqual(one, [join(tmp.dir, 'one.bin')])
    assert.equal(firstDifference(readFileSync(one[0])), -1)
    const kinds = []
    const many = await download(
      [`${origin.http}/f/x/dl-a?size=10`, `${origin.http}/f/y/dl-b?size=20`],
      join(tmp.dir, 'many'),
      { stateDir, onProgress: (ev) => kinds.push(ev.kind) },
    )
    assert.deepEqual(many, [join(tmp.dir, 'many', 'dl-a'), join(tmp.dir, 'many', 'dl-b')])
    assert.equal(readFileSync(many[1]).length, 20)
    assert.ok(kinds.includes('FILE_TRANSFERRED'))
  })

  it('an HTTP error is thrown typed and its job cancelled', async () => {
    const stateDir = join(tmp.dir, 'dl404-state')
    await assert.rejects(
      download(`${origin.http}/f/dl-gone?status=404`, join(tmp.dir, 'gone.bin'), { stateDir }),
      (e) => e instanceof HttpError && e.status === 404 && e.code === 'HTTP_404',
    )
    assert.ok(!existsSync(join(tmp.dir, 'gone.bin')))
    const m = CopyManager.open(stateDir)
    assert.deepEqual(m.enumJobs(), [])
    m.close()
  })

  it('an AbortSignal cancels the job and rejects with its reason', async () => {
    const stateDir = join(tmp.dir, 'dlab-state')
    const dir = join(tmp.dir, 'dlab')
    const start = Date.now()
    await assert.rejects(
      download(`${origin.http}/f/dl-slow?size=5000000&rate=100000`, join(dir, 'slow.bin'), {
        stateDir,
        signal: AbortSignal.timeout(400),
      }),
      (e) => e.name === 'TimeoutError',
    )
    assert.ok(Date.now() - start < 5000)
    const m = CopyManager.open(stateDir)
    assert.deepEqual(m.enumJobs(), [])
    m.close()
    assert.deepEqual(existsSync(dir) ? readdirSync(dir) : [], [])
  })
})
