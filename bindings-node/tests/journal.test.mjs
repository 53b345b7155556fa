// The durable event journal (eventsSince) and notification handlers in a client
// process: the engine runs in a child Node process; this one queues, watches and is told.
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { after, before, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { CopyManager, ErrorContext, EventKind, JobState, NotifyFlags } from '../index.mjs'
import { startOrigin, tempDir, until } from './helpers.mjs'

const INDEX = fileURLToPath(new URL('../index.js', import.meta.url))
const ENGINE = `
const { CopyManager } = require(${JSON.stringify(INDEX)})
const m = CopyManager.open(process.argv[1])
console.log('ready')
process.stdin.on('end', () => { m.close() }).resume()
`

describe('event journal', () => {
  let origin
  let tmp
  before(async () => {
    origin = await startOrigin()
    tmp = tempDir('bgcopy-node-journal-')
  })
  after(() => {
    origin.stop()
    tmp.cleanup()
  })

  it('handlers in a client process fire for the engine process, and every process reads one journal', async () => {
    const state = join(tmp.dir, 'state')
    const engine = spawn(process.execPath, ['-e', ENGINE, state], {
      stdio: ['pipe', 'pipe', 'inherit'],
    })
    const [line] = await once(createInterface({ input: engine.stdout }), 'line')
    assert.equal(line, 'ready')
    const m = CopyManager.open(state, { startTransfers: false, notifyIntervalMs: 50 })
    try {
      const seen = { transferred: 0, files: [], errors: [], modifications: 0 }
      const handlers = {
        jobTransferred() {
          seen.transferred++
        },
        jobError(_job, error) {
          seen.errors.push(error.getError().symbol)
        },
        jobModification() {
          seen.modifications++
        },
        fileTransferred(_job, file) {
          seen.files.push(file.index)
        },
      }
      const job = m.createJob('client')
      job.addFile(`${origin.http}/f/nj-a?size=40000`, join(tmp.dir, 'a.bin'))
      job.addFile(`${origin.http}/f/nj-b?size=50000`, join(tmp.dir, 'b.bin'))
      job.setNotifyFlags(
        NotifyFlags.JobTransferred |
          NotifyFlags.JobError |
          NotifyFlags.JobModification |
          NotifyFlags.FileTransferred,
      )
      job.setNotifyInterface(handlers)
      // The notify command line runs in the engine's process, with the job's id.
      const out = join(tmp.dir, 'cmd.log')
      const script = `echo "$BGCOPY_JOB_ID $1" >> '${out}'`
      job.setNotifyCmdLine('/bin/sh', ['-c', script, 'sh', 'done'])
      assert.deepEqual(job.getNotifyCmdLine(), { program: '/bin/sh', args: ['-c', script, 'sh', 'done'] })
      assert.throws(() => job.setNotifyCmdLine('sh', []), (e) => e.code === 'INVALID_ARG')
      assert.throws(() => job.setNotifyCmdLine('/bin/sh', '-c'), (e) => e.code === 'INVALID_ARG')
      const bad = m.createJob('missing')
      bad.addFile(`${origin.http}/f/nj-404?status=404`, join(tmp.dir, 'c.bin'))
      bad.setNotifyInterface(handlers)
      job.resume()
      bad.resume()
      assert.ok(await until(() => seen.transferred === 1 && seen.files.length === 2), JSON.stringify(seen))
      assert.ok(await until(() => seen.errors.length === 1), JSON.stringify(seen))
      assert.deepEqual(seen.files.sort(), [0, 1])
      assert.deepEqual(seen.errors, ['HTTP_404'])
      assert.ok(seen.modifications >= 1)
      const ran = () => existsSync(out) && readFileSync(out, 'utf8') === `${job.getId()} done\n`
      assert.ok(await until(ran), 'the notify command line ran once')
      assert.equal(bad.getNotifyCmdLine(), null)
      job.complete()
      bad.cancel()

      const events = m.eventsSince(0, 10000)
      assert.ok(events.every((e, i) => i === 0 || e.seq > events[i - 1].seq))
      const mine = events.filter((e) => e.jobId === job.getId()).map((e) => [e.kind, e.state])
      assert.deepEqual(mine[0], [EventKind.StateChanged, JobState.Suspended])
      assert.deepEqual(mine.at(-1), [EventKind.StateChanged, JobState.Acknowledged])
      assert.ok(mine.some(([k, s]) => k === EventKind.StateChanged && s === JobState.Transferred))
      const err = events.find((e) => e.kind === EventKind.Error)
      assert.equal(err.jobId, bad.getId())
      assert.equal(err.state, JobState.Error)
      assert.equal(err.errorCode, 0x80190194)
      assert.equal(err.errorSymbol, 'HTTP_404')
      assert.equal(err.errorContext, ErrorContext.RemoteFile)
      assert.equal(err.fileIndex, 0)
      assert.match(err.errorDescription, /404/)
      assert.ok(err.time instanceof Date)
      const first = events[0]
      assert.equal(first.errorCode, undefined)
      assert.ok(!('errorDescription' in first))
      // A cursor continues after an entry; the limit and cursor are checked.
      assert.deepEqual(m.eventsSince(first.seq, 10000), events.slice(1))
      assert.equal(m.eventsSince(0, 1).length, 1)
      for (const [cursor, limit] of [[0, 0], [-1, 10], [0, 1.5], ['0', 10], [0, 10001]]) {
        assert.throws(() => m.eventsSince(cursor, limit), (e) => e.code === 'INVALID_ARG', `${cursor}, ${limit}`)
      }
    } finally {
      m.close()
      engine.stdin.end()
      const [code] = await once(engine, 'exit')
      assert.equal(code, 0)
    }
  })
})
