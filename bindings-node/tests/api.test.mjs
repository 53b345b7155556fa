// Node-specific behaviour: the module's shape (CommonJS and ESM), errors, number and Date
// values, the event loop during wait(), notification handlers (this, re-entrant calls,
// async handlers, failures and redelivery), and bad input of every kind.
import assert from 'node:assert/strict'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import * as esm from '../index.mjs'
import {
  BYTES_UNKNOWN,
  CopyError,
  CopyFile,
  CopyJob,
  CopyManager,
  ErrorContext,
  JobState,
  JobType,
  NotifyFlags,
  Priority,
} from '../index.mjs'
import { sleep, startOrigin, tempDir, until } from './helpers.mjs'

const require = createRequire(import.meta.url)
const cjs = require('../index.js')

const codes = {
  INVALID_ARG: 0x80070057,
  INVALID_STATE: 0x80200002,
  EMPTY: 0x80200003,
  NOT_FOUND: 0x80200001,
  STRING_TOO_LONG: 0x80200021,
  NOT_IMPLEMENTED: 0x80004001,
  ERROR_INFORMATION_UNAVAILABLE: 0x8020000f,
  HTTP_404: 0x80190194,
}

/** `fn` throws a bgcopy error with `code` (and the matching `hresult`). */
function throwsCode(fn, code) {
  assert.throws(fn, (e) => {
    assert.ok(e instanceof Error, `not an Error: ${e}`)
    assert.equal(e.code, code, e.message)
    assert.equal(e.hresult, codes[code], `hresult of ${code}`)
    assert.match(e.message, new RegExp(`^${code} \\(0x`))
    return true
  })
}

let origin
let tmp
let manager
let n = 0
const fresh = () => manager.createJob(`t${n++}`)
const local = (name) => join(tmp.dir, name)

before(async () => {
  origin = await startOrigin()
  tmp = tempDir()
  manager = CopyManager.open(join(tmp.dir, 'state'), { notifyIntervalMs: 50 })
})

after(() => {
  manager.close()
  origin.stop()
  tmp.cleanup()
})

describe('module', () => {
  it('CommonJS and ESM export the same objects', () => {
    const names = Object.keys(cjs).sort()
    assert.deepEqual(names, Object.keys(esm).filter((k) => k !== 'default').sort())
    for (const k of names) assert.equal(esm[k], cjs[k], k)
    assert.equal(esm.default, cjs)
  })

  it('exports the classes, enums and constants of the contract', () => {
    for (const c of [CopyManager, CopyJob, CopyFile, CopyError]) assert.equal(typeof c, 'function')
    assert.equal(JobState.Suspended, 3)
    assert.equal(JobState.TransientError, 5)
    assert.equal(JobState.Cancelled, 8)
    assert.equal(Priority.Foreground, 0)
    assert.equal(Priority.Low, 3)
    assert.equal(JobType.Download, 0)
    assert.equal(ErrorContext.RemoteApplication, 7)
    assert.equal(NotifyFlags.JobTransferred | NotifyFlags.JobError, 3)
    assert.equal(NotifyFlags.FileTransferred, 0x10)
    assert.equal(BYTES_UNKNOWN, 2n ** 64n - 1n)
  })

  it('reports the version of package.json (one number in every language)', () => {
    assert.equal(cjs.VERSION, require('../package.json').version)
    assert.equal(esm.VERSION, cjs.VERSION)
  })

  it('enums map both ways, like TypeScript numeric enums', () => {
    assert.equal(JobState[JobState.TransientError], 'TransientError')
    assert.equal(Priority[1], 'High')
    assert.equal(ErrorContext[ErrorContext.LocalFile], 'LocalFile')
    assert.equal(NotifyFlags[16], 'FileTransferred')
    assert.equal(JobType[0], 'Download')
  })

  it('handles cannot be made with new', () => {
    assert.throws(() => new CopyJob())
    assert.throws(() => new CopyFile())
    assert.throws(() => new CopyError())
  })

  it('a method called on a foreign object throws instead of crashing', () => {
    assert.throws(() => CopyJob.prototype.getId.call({}))
    assert.throws(() => CopyJob.prototype.suspend.call(manager))
    assert.throws(() => CopyManager.prototype.createJob.call({}, 'x'))
  })
})

describe('values', () => {
  it('a new job: suspended, defaults, number progress, Date times', () => {
    const before = Date.now()
    const job = manager.createJob('values', JobType.Download)
    // A UUID, version 7 (time-ordered: see docs/decisions.md).
    assert.match(job.getId(), /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
    assert.equal(job.getState(), JobState.Suspended)
    assert.equal(job.getType(), JobType.Download)
    assert.equal(job.getPriority(), Priority.Normal)
    assert.equal(job.getNotifyFlags(), 3)
    assert.equal(job.getNoProgressTimeout(), 1209600)
    assert.equal(job.getMinimumRetryDelay(), 600)
    assert.equal(job.getErrorCount(), 0)
    assert.equal(job.getNotifyInterface(), null)
    assert.deepEqual(job.getProgress(), {
      bytesTotal: 0,
      bytesTransferred: 0,
      filesTotal: 0,
      filesTransferred: 0,
    })
    const t = job.getTimes()
    assert.ok(t.creationTime instanceof Date)
    assert.ok(t.creationTime.getTime() >= before - 1000 && t.creationTime.getTime() <= Date.now() + 1000)
    assert.ok(t.modificationTime >= t.creationTime)
    assert.equal(t.transferCompletionTime, null)
    throwsCode(() => job.getError(), 'ERROR_INFORMATION_UNAVAILABLE')
    job.setPriority(Priority.High)
    assert.equal(job.getPriority(), Priority.High)
    job.setNotifyFlags(NotifyFlags.JobModification | NotifyFlags.FileTransferred)
    assert.equal(job.getNotifyFlags(), 0x18)
    job.setNoProgressTimeout(4294967295)
    assert.equal(job.getNoProgressTimeout(), 4294967295)
    job.setDisplayName('ünïcødé 😀')
    assert.equal(job.getDisplayName(), 'ünïcødé 😀')
    job.setDescription('x'.repeat(1024))
    assert.equal(job.getDescription().length, 1024)
    assert.equal(manager.getJob(`{${job.getId().toUpperCase()}}`).getId(), job.getId())
    assert.ok(manager.enumJobs().some((j) => j.getId() === job.getId()))
    job.cancel()
    throwsCode(() => manager.getJob(job.getId()), 'NOT_FOUND')
    assert.equal(job.getState(), JobState.Cancelled)
  })

  it('an unknown size is null; progress is plain numbers (JSON, arithmetic)', async () => {
    const job = fresh()
    job.addFile(`${origin.http}/f/api-unknown?size=300000&chunked=1&rate=200000`, local('unknown.bin'))
    job.resume()
    const p = await until(() => {
      const p = job.getProgress()
      return p.bytesTransferred > 0 && p
    })
    assert.equal(p.bytesTotal, null)
    assert.equal(typeof p.bytesTransferred, 'number')
    assert.equal(job.enumFiles()[0].getProgress().bytesTotal, null)
    const json = JSON.parse(JSON.stringify(job.getProgress()))
    assert.equal(json.bytesTotal, null)
    assert.ok(json.bytesTransferred > 0)
    job.cancel()
  })

  it('errors: code symbol, hresult, CopyError with context and protocol', async () => {
    const job = fresh()
    job.addFile(`${origin.http}/f/api-404?status=404`, local('404.bin'))
    job.resume()
    assert.equal(await job.wait(30000), JobState.Error)
    const e = job.getError()
    assert.deepEqual(e.getError(), {
      context: ErrorContext.RemoteFile,
      code: codes.HTTP_404,
      symbol: 'HTTP_404',
    })
    assert.equal(e.getProtocol(), 'http')
    assert.equal(e.getFile().getLocalName(), local('404.bin'))
    assert.equal(e.getFile().index, 0)
    assert.equal(typeof e.getErrorDescription(), 'string')
    assert.match(e.getErrorContextDescription(), /remote/)
    job.cancel()
  })
})

describe('wait', () => {
  it('returns a Promise and the event loop keeps ticking (a timer fires meanwhile)', async () => {
    const job = fresh()
    job.addFile(`${origin.http}/f/api-slow?size=600000&rate=500000`, local('slow.bin'))
    job.resume()
    let ticks = 0
    const timer = setInterval(() => ticks++, 10)
    const pending = job.wait()
    assert.ok(pending instanceof Promise)
    const state = await pending
    clearInterval(timer)
    assert.equal(state, JobState.Transferred)
    assert.ok(ticks >= 20, `only ${ticks} ticks during a ~1 s wait`)
    assert.equal(job.complete(), 'OK')
    assert.equal(job.getState(), JobState.Acknowledged)
  })

  it('a timeout resolves with the current state', async () => {
    const job = fresh()
    const start = Date.now()
    let fired = false
    setTimeout(() => (fired = true), 20)
    assert.equal(await job.wait(200), JobState.Suspended)
    assert.ok(Date.now() - start >= 190)
    assert.ok(fired)
    assert.equal(await job.wait(0), JobState.Suspended)
    job.cancel()
    assert.equal(await job.wait(), JobState.Cancelled)
  })

  it('many waits at once all resolve', async () => {
    const jobs = Array.from({ length: 12 }, () => fresh())
    const states = await Promise.all(jobs.map((j) => j.wait(100)))
    assert.deepEqual(states, jobs.map(() => JobState.Suspended))
    for (const j of jobs) j.cancel()
  })

  it('bad timeouts throw synchronously', () => {
    const job = fresh()
    for (const bad of [-1, Number.NaN, '100', {}, 10n]) throwsCode(() => job.wait(bad), 'INVALID_ARG')
    job.cancel()
  })
})

describe('notification handlers', () => {
  it('deliver on the JS thread, as methods of the object, with re-entrant calls', async () => {
    const job = fresh()
    const seen = { modification: 0, files: [], transferred: 0, inner: null }
    const handlers = {
      jobModification(j) {
        assert.equal(this, handlers)
        assert.ok(j instanceof CopyJob)
        assert.equal(j.getId(), job.getId())
        j.getProgress()
        seen.modification++
      },
      fileTransferred(j, file) {
        assert.ok(file instanceof CopyFile)
        const p = file.getProgress()
        assert.equal(p.bytesTransferred, p.bytesTotal)
        seen.files.push(file.getLocalName())
      },
      jobTransferred(j) {
        seen.transferred++
        // Re-entrant: the job's own methods, another job, and complete().
        assert.equal(j.getState(), JobState.Transferred)
        manager.enumJobs()
        j.setDescription('completed from the handler')
        seen.inner = j.complete()
      },
    }
    job.setNotifyFlags(
      NotifyFlags.JobTransferred | NotifyFlags.JobModification | NotifyFlags.FileTransferred,
    )
    job.setNotifyInterface(handlers)
    assert.equal(job.getNotifyInterface(), handlers)
    job.addFileSet([
      [`${origin.http}/f/api-cb-a?size=200000`, local('cb-a.bin')],
      [`${origin.http}/f/api-cb-b?size=100000`, local('cb-b.bin')],
    ])
    job.resume()
    assert.ok(await until(() => job.getState() === JobState.Acknowledged))
    assert.equal(seen.transferred, 1)
    assert.equal(seen.inner, 'OK')
    assert.deepEqual(seen.files.sort(), [local('cb-a.bin'), local('cb-b.bin')])
    assert.ok(seen.modification >= 1)
    // The job let go of the handlers once it was final.
    assert.ok(await until(() => job.getNotifyInterface() === null, 5000))
  })

  it('a throwing handler is reported as a warning and delivered again', async () => {
    const warnings = []
    const onWarning = (w) => warnings.push(w)
    process.on('warning', onWarning)
    try {
      const job = fresh()
      job.setMinimumRetryDelay(1)
      let calls = 0
      job.setNotifyInterface({
        jobTransferred() {
          calls++
          if (calls === 1) throw new TypeError('first delivery fails')
        },
      })
      job.addFile(`${origin.http}/f/api-throw?size=1000`, local('throw.bin'))
      job.resume()
      assert.equal(await job.wait(), JobState.Transferred)
      assert.ok(await until(() => calls === 2, 10000), `called ${calls} times`)
      await sleep(50) // emitWarning delivers on the next tick
      const w = warnings.find((x) => x.name === 'BgcopyCallbackWarning')
      assert.ok(w, 'no BgcopyCallbackWarning')
      assert.equal(w.code, 'BGCOPY_CALLBACK_FAILED')
      assert.match(w.message, /jobTransferred handler of job .* threw: TypeError: first delivery fails/)
      assert.match(w.detail, /first delivery fails/)
      job.complete()
    } finally {
      process.off('warning', onWarning)
    }
  })

  it('an async handler: a rejected promise is a failed delivery; a resolved one is done', async () => {
    const job = fresh()
    job.setMinimumRetryDelay(1)
    let calls = 0
    let resolvedAt = 0
    const onWarning = () => {}
    process.on('warning', onWarning)
    job.setNotifyInterface({
      async jobTransferred() {
        calls++
        await sleep(30)
        if (calls === 1) throw new Error('rejects once')
        resolvedAt = Date.now()
      },
    })
    job.addFile(`${origin.http}/f/api-async?size=1000`, local('async.bin'))
    job.resume()
    assert.ok(await until(() => resolvedAt > 0, 10000), `called ${calls} times`)
    await sleep(1300) // longer than the retry delay: no third call
    assert.equal(calls, 2)
    process.off('warning', onWarning)
    job.cancel()
  })

  it('a handler set after the error still receives it; any subset of methods works', async () => {
    const job = fresh()
    job.addFile(`${origin.http}/f/api-err?status=410`, local('err.bin'))
    job.resume()
    assert.equal(await job.wait(), JobState.Error)
    let got = null
    job.setNotifyInterface({
      jobError(j, error) {
        assert.ok(error instanceof CopyError)
        got = error.getError().symbol
        j.getError()
      },
    })
    assert.ok(await until(() => got !== null, 5000))
    assert.equal(got, 'HTTP_410')
    // Replacing and clearing handlers.
    job.setNotifyInterface({})
    assert.deepEqual(job.getNotifyInterface(), {})
    job.setNotifyInterface(undefined)
    assert.equal(job.getNotifyInterface(), null)
    job.cancel()
  })

  it('a handler may set new handlers and close nothing it should not', async () => {
    const job = fresh()
    job.setNotifyFlags(NotifyFlags.JobTransferred)
    let second = 0
    const next = { jobTransferred: () => second++ }
    job.setNotifyInterface({
      jobTransferred(j) {
        j.setNotifyInterface(next)
        throw new Error('so that the next handler gets it again')
      },
    })
    job.setMinimumRetryDelay(1)
    const onWarning = () => {}
    process.on('warning', onWarning)
    job.addFile(`${origin.http}/f/api-swap?size=1000`, local('swap.bin'))
    job.resume()
    assert.ok(await until(() => second === 1, 10000))
    process.off('warning', onWarning)
    assert.equal(job.getNotifyInterface(), next)
    job.complete()
  })
})

describe('bad input (docs/spec.md §5) throws INVALID_ARG, never crashes', () => {
  const job = () => fresh()

  it('undefined, null and numbers where strings are required', () => {
    const j = job()
    for (const bad of [undefined, null, 42, {}, [], true, Symbol('s'), 1n, () => 1]) {
      throwsCode(() => j.addFile(bad, local('x.bin')), 'INVALID_ARG')
      throwsCode(() => j.addFile(`${origin.http}/f/x`, bad), 'INVALID_ARG')
      throwsCode(() => j.setDisplayName(bad), 'INVALID_ARG')
      throwsCode(() => j.setDescription(bad), 'INVALID_ARG')
      throwsCode(() => manager.getJob(bad), 'INVALID_ARG')
      throwsCode(() => manager.createJob(bad), 'INVALID_ARG')
    }
    throwsCode(() => j.addFile(), 'INVALID_ARG')
    throwsCode(() => manager.createJob(), 'INVALID_ARG')
    j.cancel()
  })

  it('strings the core refuses: NUL, lone surrogates, relative paths, bad URLs, CR/LF', () => {
    const j = job()
    throwsCode(() => j.setDisplayName('a\0b'), 'INVALID_ARG')
    throwsCode(() => j.setDisplayName('\ud800'), 'INVALID_ARG')
    throwsCode(() => j.setDescription('x\udfffy'), 'INVALID_ARG')
    throwsCode(() => j.addFile(`${origin.http}/f/x`, 'relative.bin'), 'INVALID_ARG')
    throwsCode(() => j.addFile(`${origin.http}/f/x`, local('no/such/dir/x.bin')), 'INVALID_ARG')
    throwsCode(() => j.addFile('ftp://127.0.0.1/x', local('x.bin')), 'INVALID_ARG')
    throwsCode(() => j.addFile('not a url', local('x.bin')), 'INVALID_ARG')
    throwsCode(() => j.addFile(`${origin.http}/f/x\r\nInjected: 1`, local('x.bin')), 'INVALID_ARG')
    throwsCode(() => j.addFile(`${origin.http}/f/x\ud800`, local('x.bin')), 'INVALID_ARG')
    throwsCode(() => j.setDisplayName('x'.repeat(257)), 'STRING_TOO_LONG')
    throwsCode(() => manager.createJob('x'.repeat(257)), 'STRING_TOO_LONG')
    throwsCode(() => manager.getJob('not-a-uuid'), 'INVALID_ARG')
    j.addFile(`${origin.http}/f/x`, local('same.bin'))
    throwsCode(() => j.addFile(`${origin.http}/f/y`, local('same.bin')), 'INVALID_ARG')
    throwsCode(() => j.addFileSet([[`${origin.http}/f/a`, local('s.bin')], [`${origin.http}/f/b`, local('s.bin')]]), 'INVALID_ARG')
    assert.equal(j.enumFiles().length, 1)
    j.cancel()
  })

  it('file sets of the wrong shape', () => {
    const j = job()
    for (const bad of [undefined, null, 'x', {}, [['only-one']], [[1, 2]], [null], [[`${origin.http}/f/a`, local('a.bin'), 'extra']]]) {
      throwsCode(() => j.addFileSet(bad), 'INVALID_ARG')
    }
    j.addFileSet([])
    assert.equal(j.enumFiles().length, 0)
    j.cancel()
  })

  it('numbers out of range, fractions, NaN, strings for numbers', () => {
    const j = job()
    for (const bad of [-1, 1.5, Number.NaN, Infinity, -Infinity, 2 ** 32, '5', null, undefined, 5n]) {
      throwsCode(() => j.setNoProgressTimeout(bad), 'INVALID_ARG')
      throwsCode(() => j.setMinimumRetryDelay(bad), 'INVALID_ARG')
      throwsCode(() => j.setNotifyFlags(bad), 'INVALID_ARG')
    }
    throwsCode(() => j.setNotifyFlags(0x40), 'INVALID_ARG')
    assert.equal(j.getNoProgressTimeout(), 1209600)
    assert.equal(j.getNotifyFlags(), 3)
    j.cancel()
  })

  it('enum values out of range', () => {
    const j = job()
    for (const bad of [-1, 4, 1.5, Number.NaN, 'HIGH', null, undefined, {}]) {
      throwsCode(() => j.setPriority(bad), 'INVALID_ARG')
    }
    for (const bad of [3, -1, 0.5, 'DOWNLOAD']) throwsCode(() => manager.createJob('x', bad), 'INVALID_ARG')
    throwsCode(() => manager.createJob('x', JobType.Upload), 'NOT_IMPLEMENTED')
    assert.equal(j.getPriority(), Priority.Normal)
    j.cancel()
  })

  it('callback objects of the wrong kind', () => {
    const j = job()
    for (const bad of [5, 'x', true, () => 1]) throwsCode(() => j.setNotifyInterface(bad), 'INVALID_ARG')
    throwsCode(() => j.setNotifyInterface({ jobTransferred: 5 }), 'INVALID_ARG')
    throwsCode(() => j.setNotifyInterface({ jobError: 'x' }), 'INVALID_ARG')
    assert.equal(j.getNotifyInterface(), null)
    j.cancel()
  })

  it('manager options and state directories', () => {
    const dir = join(tmp.dir, 'opts')
    throwsCode(() => CopyManager.open('relative/state'), 'INVALID_ARG')
    throwsCode(() => CopyManager.open(42), 'INVALID_ARG')
    throwsCode(() => CopyManager.open('/tmp/a\0b'), 'INVALID_ARG')
    for (const bad of [
      { bogus: 1 },
      { readTimeoutMs: -1 },
      { readTimeoutMs: '10' },
      { backgroundSlots: 0 },
      { backgroundSlots: 1.5 },
      { tlsRootCerts: 'x' },
      { tlsRootCerts: [1] },
      { startTransfers: 'yes' },
      5,
      'x',
    ]) {
      throwsCode(() => CopyManager.open(dir, bad), 'INVALID_ARG')
    }
    const m = CopyManager.open(dir, { startTransfers: false, userAgent: 'test', readTimeoutMs: undefined })
    m.close()
  })

  it('the wrong state and a closed manager throw INVALID_STATE', async () => {
    const j = job()
    throwsCode(() => j.resume(), 'EMPTY')
    j.cancel()
    for (const f of [() => j.resume(), () => j.suspend(), () => j.setPriority(Priority.Low), () => j.addFile(`${origin.http}/f/x`, local('late.bin'))]) {
      throwsCode(f, 'INVALID_STATE')
    }
    const dir = join(tmp.dir, 'closed')
    const m = CopyManager.open(dir)
    const k = m.createJob('k')
    m.close()
    m.close() // idempotent
    throwsCode(() => m.createJob('x'), 'INVALID_STATE')
    throwsCode(() => m.enumJobs(), 'INVALID_STATE')
    throwsCode(() => k.suspend(), 'INVALID_STATE')
    assert.equal(k.getState(), JobState.Suspended)
    assert.equal(await k.wait(), JobState.Suspended)
    // The directory is free again.
    CopyManager.open(dir).close()
  })

  // One queue (docs/spec.md §9): a second manager on the directory opens and sees the jobs.
  it('a second manager on the same directory shares its jobs', () => {
    const job = manager.createJob('shared')
    const other = CopyManager.open(manager.stateDir, { startTransfers: false })
    try {
      const seen = other.getJob(job.getId())
      assert.equal(seen.getDisplayName(), 'shared')
      seen.setDescription('set by the other manager')
      assert.equal(job.getDescription(), 'set by the other manager')
    } finally {
      other.close()
      job.cancel()
    }
  })
})
