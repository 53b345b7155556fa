// Typed errors: every error bgcopy throws is a BgCopyError (instanceof) with code,
// hresult, kind and status, and the class of its kind (HttpError, …) from the core's
// table; the same classes for require() and import.
import assert from 'node:assert/strict'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import { after, before, it } from 'node:test'
import {
  BgCopyError,
  CopyManager,
  HttpError,
  InvalidArgumentError,
  InvalidStateError,
  JobState,
  NetworkError,
} from '../index.mjs'
import { startOrigin, tempDir } from './helpers.mjs'

const require = createRequire(import.meta.url)
let origin
before(async () => {
  origin = await startOrigin()
})
after(() => origin.stop())

it('a job error is an HttpError with its status and the hex code in the message', async () => {
  const { dir, cleanup } = tempDir()
  const m = CopyManager.open(join(dir, 'state'))
  const job = m.createJob('404')
  job.addFile(`${origin.http}/f/gone?status=404`, join(dir, 'x'))
  job.resume()
  assert.equal(await job.wait(30000), JobState.Error)
  const err = job.getError().toError()
  assert.ok(err instanceof HttpError && err instanceof BgCopyError)
  assert.equal(err.status, 404)
  assert.equal(err.kind, 'HTTP')
  assert.equal(err.code, 'HTTP_404')
  assert.match(err.message, /^HTTP_404 \(0x80190194\): /)
  job.cancel()
  m.close()
  cleanup()
})

it('thrown errors are BgCopyError of their kind', () => {
  const { dir, cleanup } = tempDir()
  const m = CopyManager.open(join(dir, 'state'))
  let err
  try {
    m.createJob('x').addFile('ftp://nope/x', join(dir, 'x'))
  } catch (e) {
    err = e
  }
  assert.ok(err instanceof BgCopyError)
  assert.ok(err instanceof InvalidArgumentError)
  assert.ok(!(err instanceof HttpError))
  assert.ok(err instanceof Error)
  assert.equal(err.name, 'BgCopyError')
  assert.equal(err.kind, 'INVALID_ARGUMENT')
  assert.equal(err.code, 'INVALID_ARG')
  assert.equal(err.hresult, 0x80070057)
  assert.equal(err.status, null)
  assert.match(err.message, /^INVALID_ARG \(0x80070057\): /)
  m.close()
  try {
    m.createJob('late')
    assert.fail('no error after close')
  } catch (e) {
    assert.ok(e instanceof InvalidStateError)
    assert.ok(!(e instanceof NetworkError))
  }
  // The same classes through require().
  const cjs = require('../index.js')
  assert.equal(cjs.BgCopyError, BgCopyError)
  assert.equal(cjs.HttpError, HttpError)
  // Built in JS: the same fields.
  const mine = new BgCopyError('x', { code: 'HTTP_503', hresult: 0x801901f7, kind: 'HTTP', status: 503 })
  assert.ok(mine instanceof HttpError)
  assert.equal(mine.status, 503)
  assert.ok(!({ hresult: 1, kind: 'HTTP' } instanceof BgCopyError), 'not an Error')
  // A kind's own class makes an error of that kind.
  const net = new NetworkError('NAME_NOT_RESOLVED (0x80072ee7): no such host', { code: 'NAME_NOT_RESOLVED', hresult: 0x80072ee7 })
  assert.ok(net instanceof NetworkError && net instanceof BgCopyError && !(net instanceof HttpError))
  assert.equal(net.kind, 'NETWORK')
  cleanup()
})
