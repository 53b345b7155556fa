// What a job adds to its requests (custom headers, write-only, security flags), against
// the test origin, whose /stats shows the headers each request carried.
import assert from 'node:assert/strict'
import { statSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { CopyManager, JobState, JobType, SecurityFlags } from '../index.mjs'
import { startOrigin, tempDir } from './helpers.mjs'

function throwsCode(fn, code) {
  assert.throws(fn, (e) => {
    assert.equal(e.code, code, e.message)
    return true
  })
}

describe('request options', () => {
  let origin
  let tmp
  let m
  before(async () => {
    origin = await startOrigin()
    tmp = tempDir('bgcopy-node-request-')
    m = CopyManager.open(join(tmp.dir, 'state'))
  })
  after(() => {
    m.close()
    origin.stop()
    tmp.cleanup()
  })

  it('sends custom headers and hides them once write-only', async () => {
    const job = m.createJob('headers', JobType.Download)
    job.addFile(`${origin.http}/f/node-rq-h?size=2000`, join(tmp.dir, 'h.bin'))
    assert.deepEqual(job.getCustomHeaders(), [])
    job.setCustomHeaders(['X-Token:  node-1 ', 'X-Other: 2'])
    assert.deepEqual(job.getCustomHeaders(), ['X-Token: node-1', 'X-Other: 2'])
    job.makeCustomHeadersWriteOnly()
    throwsCode(() => job.getCustomHeaders(), 'ACCESS_DENIED')
    job.resume()
    assert.equal(await job.wait(60000), JobState.Transferred)
    const stats = await origin.stats('node-rq-h')
    assert.ok(stats.headers[0].includes('x-token: node-1'), JSON.stringify(stats.headers))
    job.complete()
    const bad = m.createJob('bad', JobType.Download)
    throwsCode(() => bad.setCustomHeaders(['X-A: 1\r\nX-B: 2']), 'INVALID_ARG')
    throwsCode(() => bad.setCustomHeaders(['Host: elsewhere']), 'INVALID_ARG')
    throwsCode(() => bad.setCustomHeaders('X-A: 1'), 'INVALID_ARG')
    bad.cancel()
  })

  it('applies the redirect policy', async () => {
    const job = m.createJob('report', JobType.Download)
    job.addFile(`${origin.http}/f/node-rq-p?redirect=1&size=100`, join(tmp.dir, 'r.bin'))
    assert.equal(job.getSecurityFlags(), 0)
    const f = job.enumFiles()[0]
    assert.equal(f.getFinalUrl(), null)
    assert.ok(f.getTemporaryName().endsWith('.bgcopy-part'), f.getTemporaryName())
    job.setSecurityFlags(SecurityFlags.RedirectAllowReport)
    assert.equal(job.getSecurityFlags(), 0x100)
    job.resume()
    assert.equal(await job.wait(60000), JobState.Transferred)
    assert.equal(job.enumFiles()[0].getRemoteName(), `${origin.http}/f/node-rq-p?size=100`)
    assert.equal(f.getFinalUrl(), `${origin.http}/f/node-rq-p?size=100`)
    assert.equal(statSync(f.getTemporaryName()).size, 100)
    job.complete()

    const dis = m.createJob('disallow', JobType.Download)
    dis.addFile(`${origin.http}/f/node-rq-p?redirect=1&size=100`, join(tmp.dir, 'd.bin'))
    dis.setSecurityFlags(SecurityFlags.RedirectDisallow)
    dis.resume()
    assert.equal(await dis.wait(60000), JobState.Error)
    assert.equal(dis.getError().getError().code, 0x80190000 + 302)
    throwsCode(() => dis.setSecurityFlags(0x0002), 'NOT_IMPLEMENTED')
    throwsCode(() => dis.setSecurityFlags(0x0300), 'INVALID_ARG')
    dis.cancel()
  })
})
