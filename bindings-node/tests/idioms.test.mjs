// The Node idioms: job.events() (an async iterator with AbortSignal), download() (one
// call, typed error, abort), numbers in progress.
import assert from 'node:assert/strict'
import { existsSync, readFileSync, readdirSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { execFile } from 'node:child_process'
import { inspect, promisify } from 'node:util'
import {
  BgCopyError,
  CopyManager,
  HttpError,
  InvalidArgumentError,
  InvalidStateError,
  JobState,
  JobType,
  Priority,
  download,
} from '../index.mjs'
import { firstDifference, here, sleep, startOrigin, tempDir } from './helpers.mjs'

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

describe('the JS shape of the canonical API', () => {
  it('createJob(name, { files, priority, description }) sets the job up, all or nothing', async () => {
    const m = CopyManager.open(join(tmp.dir, 'setup-state'))
    const local = join(tmp.dir, 'setup-a')
    const job = m.createJob('setup', {
      files: [[`${origin.http}/f/setup-a?size=1000`, local]],
      priority: Priority.High,
      description: 'one call',
    })
    assert.deepEqual([job.displayName, job.description, job.priority], ['setup', 'one call', Priority.High])
    assert.equal(job.state, JobState.Suspended)
    assert.deepEqual(job.enumFiles().map((f) => f.localName), [local])
    job.resume()
    assert.equal(await job.wait(30000), JobState.Transferred)
    job.complete()
    assert.equal(readFileSync(local).length, 1000)
    const before = m.enumJobs().length
    assert.throws(
      () => m.createJob('bad', { files: [[`${origin.http}/f/setup-b?size=1`, 'relative/b']], priority: Priority.Low }),
      (e) => e instanceof InvalidArgumentError && e.code === 'INVALID_ARG',
    )
    assert.throws(() => m.createJob('long', { description: 'x'.repeat(1025) }), (e) => e.code === 'STRING_TOO_LONG')
    assert.throws(() => m.createJob('typo', { priorty: Priority.Low }), (e) => e.code === 'INVALID_ARG')
    assert.throws(() => m.createJob('typo', { priorty: undefined }), (e) => e.code === 'INVALID_ARG')
    assert.equal(m.enumJobs().length, before)
    // The job type still goes second on its own.
    assert.equal(m.createJob('typed', JobType.Download).type, JobType.Download)
    m.close()
  })

  it('properties over getX()/setX(), durations in milliseconds', () => {
    const m = CopyManager.open(join(tmp.dir, 'props-state'))
    const job = m.createJob('props')
    job.priority = Priority.Low
    assert.equal(job.getPriority(), Priority.Low)
    job.displayName = 'renamed'
    assert.equal(job.getDisplayName(), 'renamed')
    job.noProgressTimeoutMs = 90_000
    assert.equal(job.getNoProgressTimeout(), 90)
    job.minimumRetryDelayMs = 1500 // rounds up to whole seconds
    assert.equal(job.minimumRetryDelayMs, 2000)
    assert.equal(job.maximumDownloadTimeMs, 0)
    assert.throws(() => {
      job.noProgressTimeoutMs = -1
    }, (e) => e instanceof InvalidArgumentError)
    assert.throws(() => {
      job.priority = 42
    }, (e) => e instanceof BgCopyError && e.code === 'INVALID_ARG')
    assert.equal(job.id, job.getId())
    assert.deepEqual(job.progress, job.getProgress())
    assert.equal(job.errorCount, 0)
    job.bandwidthLimit = 1_000_000
    assert.equal(job.getBandwidthLimit(), 1_000_000)
    m.backgroundBandwidthLimit = 5_000_000
    assert.equal(m.getBackgroundBandwidthLimit(), 5_000_000)
    job.cancel()
    m.close()
  })

  it('util.inspect shows what a handle is; Symbol.dispose closes the manager', () => {
    const m = CopyManager.open(join(tmp.dir, 'inspect-state'))
    const job = m.createJob('shown')
    const text = inspect(job)
    assert.match(text, /^CopyJob \{/)
    assert.ok(text.includes(job.id) && text.includes("'shown'") && text.includes("'Suspended'"), text)
    assert.match(inspect(m), /^CopyManager \{ stateDir: '.*inspect-state' \}$/)
    assert.match(inspect(job, { depth: null }), /^CopyJob \{/)
    assert.equal(inspect({ a: { b: job } }, { depth: 1 }), '{ a: { b: [CopyJob] } }')
    job.addFile(`${origin.http}/f/inspect?size=1`, join(tmp.dir, 'inspect.bin'))
    assert.match(inspect(job.enumFiles()[0], { breakLength: Infinity }), /^CopyFile \{ remoteName: '.*inspect\?size=1', localName: '.*inspect\.bin' \}$/)
    job.cancel()
    m[Symbol.dispose]()
    assert.throws(() => m.enumJobs(), (e) => e instanceof InvalidStateError)
    // A closed manager's job still prints (a failing getter shows its code).
    assert.match(inspect(job), /^CopyJob \{/)
  })

  it('wait(timeoutMs, { signal }): an abort rejects with its reason at once', async () => {
    const m = CopyManager.open(join(tmp.dir, 'wait-state'))
    const job = m.createJob('slow wait')
    job.addFile(`${origin.http}/f/wait-slow?size=5000000&rate=100000`, join(tmp.dir, 'wait-slow.bin'))
    job.resume()
    const start = Date.now()
    await assert.rejects(job.wait(null, { signal: AbortSignal.timeout(300) }), (e) => e.name === 'TimeoutError')
    assert.ok(Date.now() - start < 3000, `took ${Date.now() - start} ms`)
    const aborted = AbortSignal.abort(new Error('stop now'))
    await assert.rejects(job.wait(1000, { signal: aborted }), /stop now/)
    assert.throws(() => job.wait(1000, 'no'), (e) => e instanceof InvalidArgumentError)
    // A bad timeout throws at once, aborted signal or not.
    assert.throws(() => job.wait(-1, { signal: aborted }), (e) => e instanceof InvalidArgumentError)
    // Without an abort it waits as before.
    const c = new AbortController()
    const running = await job.wait(50, { signal: c.signal })
    assert.ok([JobState.Queued, JobState.Connecting, JobState.Transferring].includes(running), `${running}`)
    job.cancel()
    assert.equal(await job.wait(5000, { signal: c.signal }), JobState.Cancelled)
    m.close()
  })
})

describe('streams release what they hold', () => {
  it('every native stream is freed after break or abort, and the process exits by itself', async () => {
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ['--expose-gc', join(here, 'fixtures', 'streams-gc.mjs'), origin.http, tmp.dir],
      { timeout: 60000 },
    )
    const { made, freed } = JSON.parse(stdout.trim().split('\n').at(-1))
    assert.equal(made, 50)
    assert.equal(freed, 50)
  })
})

describe('streams and libuv', () => {
  it('open streams do not hold libuv\'s thread pool (fs stays quick)', async () => {
    const m = CopyManager.open(join(tmp.dir, 'pool-state'))
    const jobs = []
    const streams = []
    // More streams than libuv's four pool threads, each waiting in its slices.
    for (let i = 0; i < 6; i++) {
      const job = m.createJob(`pool ${i}`, { files: [[`${origin.http}/f/pool-${i}?size=5000000&rate=50000`, join(tmp.dir, `pool-${i}`)]] })
      job.resume()
      const it = job.events()[Symbol.asyncIterator]()
      await it.next() // the state now; the next waits
      streams.push(it)
      jobs.push(job)
      void it.next()
    }
    await sleep(100)
    // Each readFile is several pool tasks (open, stat, read, close): with the pool held
    // by 250 ms waits it took about a second; on its own it takes a millisecond.
    const times = []
    for (let i = 0; i < 5; i++) {
      const t0 = performance.now()
      await readFile(join(here, 'helpers.mjs'))
      times.push(performance.now() - t0)
    }
    times.sort((a, b) => a - b)
    assert.ok(times[2] < 120, `readFile took ${times.map((t) => t.toFixed(0)).join(', ')} ms`)
    for (const it of streams) await it.return()
    for (const job of jobs) job.cancel()
    m.close()
  })
})
