// What a job adds to its requests (custom headers, write-only, security flags), against
// the test origin, whose /stats shows the headers each request carried.
import assert from 'node:assert/strict'
import { statSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import {
  AuthScheme,
  AuthTarget,
  CopyManager,
  ErrorContext,
  JobState,
  JobType,
  ProxyUsage,
  SecurityFlags,
} from '../index.mjs'
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

  it('sends credentials, takes new remote names and ends at the maximum download time', async () => {
    const job = m.createJob('creds', JobType.Download)
    job.addFile(`${origin.http}/f/node-auth?size=700&auth=basic:nu:npw`, join(tmp.dir, 'a.bin'))
    job.setCredentials(AuthTarget.Server, AuthScheme.Basic, 'nu', 'npw')
    job.resume()
    assert.equal(await job.wait(60000), JobState.Transferred)
    job.complete()
    assert.equal(statSync(join(tmp.dir, 'a.bin')).size, 700)

    const again = m.createJob('nocreds', JobType.Download)
    again.addFile(`${origin.http}/f/node-auth?size=700&auth=basic:nu:npw`, join(tmp.dir, 'b.bin'))
    again.setCredentials(AuthTarget.Server, AuthScheme.Bearer, '', 'tok')
    again.removeCredentials(AuthTarget.Server, AuthScheme.Bearer)
    again.resume()
    assert.equal(await again.wait(60000), JobState.Error)
    assert.equal(again.getError().getError().symbol, 'HTTP_401')
    const f = again.enumFiles()[0]
    throwsCode(() => f.setRemoteName('ftp://nowhere/x'), 'INVALID_ARG')
    f.setRemoteName(`${origin.http}/f/node-old/x?size=700`)
    assert.equal(again.replaceRemotePrefix(`${origin.http}/f/node-old/`, `${origin.http}/f/node-new/`), 1)
    assert.equal(f.getRemoteName(), `${origin.http}/f/node-new/x?size=700`)
    again.resume()
    assert.equal(await again.wait(60000), JobState.Transferred)
    again.complete()

    const slow = m.createJob('slow', JobType.Download)
    slow.addFile(`${origin.http}/f/node-slow?size=20000000&rate=1000000`, join(tmp.dir, 's.bin'))
    assert.equal(slow.getMaximumDownloadTime(), 0)
    slow.setMaximumDownloadTime(1)
    assert.equal(slow.getMaximumDownloadTime(), 1)
    slow.resume()
    assert.equal(await slow.wait(60000), JobState.Error)
    assert.equal(slow.getError().getError().symbol, 'MAXDOWNLOAD_TIMEOUT')
    slow.cancel()

    const bad = m.createJob('bad', JobType.Download)
    for (const args of [
      [AuthTarget.Server, AuthScheme.Basic, 'a:b', 'node-secret'],
      [AuthTarget.Server, AuthScheme.Bearer, 'user', 'node-secret'],
      [3, AuthScheme.Basic, 'u', 'node-secret'],
      [AuthTarget.Server, 2, 'u', 'node-secret'],
    ]) {
      assert.throws(() => bad.setCredentials(...args), (e) => {
        assert.equal(e.code, 'INVALID_ARG', e.message)
        assert.ok(!e.message.includes('node-secret'), e.message)
        return true
      })
    }
    throwsCode(() => bad.setMaximumDownloadTime(-1), 'INVALID_ARG')
    bad.cancel()
  })

  it('goes through a real SOCKS5 proxy and reports 407 from an HTTP one', async () => {
    const socks = await origin.proxy('socks5', 'nsu:nspw')
    const job = m.createJob('socks', JobType.Download)
    job.addFile(`${origin.http}/f/node-px-s?size=6000`, join(tmp.dir, 's.bin'))
    assert.deepEqual(job.getProxySettings(), { usage: ProxyUsage.Preconfig, proxy: '', bypass: '' })
    job.setProxySettings(ProxyUsage.Override, socks.url, 'example.com')
    job.setCredentials(AuthTarget.Proxy, AuthScheme.Basic, 'nsu', 'nspw')
    assert.deepEqual(job.getProxySettings(), {
      usage: ProxyUsage.Override,
      proxy: socks.url,
      bypass: 'example.com',
    })
    job.resume()
    assert.equal(await job.wait(60000), JobState.Transferred)
    job.complete()
    assert.equal(statSync(join(tmp.dir, 's.bin')).size, 6000)
    assert.equal((await origin.proxyLog(socks.id)).connections, 1)

    const http = await origin.proxy('http', 'hu:hpw')
    const refused = m.createJob('407', JobType.Download)
    refused.addFile(`${origin.http}/f/node-px-h?size=100`, join(tmp.dir, 'h.bin'))
    refused.setProxySettings(ProxyUsage.Override, http.url)
    refused.resume()
    assert.equal(await refused.wait(60000), JobState.Error)
    const e = refused.getError().getError()
    assert.equal(e.symbol, 'HTTP_407')
    assert.equal(e.context, ErrorContext.GeneralTransport)
    throwsCode(() => refused.setProxySettings(ProxyUsage.NoProxy, http.url), 'INVALID_ARG')
    throwsCode(() => refused.setProxySettings(9), 'INVALID_ARG')
    throwsCode(() => refused.setCredentials(AuthTarget.Proxy, AuthScheme.Bearer, '', 't'), 'NOT_IMPLEMENTED')
    refused.cancel()
  })

  it('presents a client certificate to a port that requires one', async () => {
    const mm = CopyManager.open(join(tmp.dir, 'mtls-state'), { tlsRootCerts: [origin.cert] })
    try {
      const url = `${origin.mtls}/f/node-mt?size=3000`
      const job = mm.createJob('mtls', JobType.Download)
      job.addFile(url, join(tmp.dir, 'm.bin'))
      throwsCode(() => job.setClientCertificate(origin.clientKey, origin.clientKey), 'INVALID_ARG')
      job.setClientCertificate(origin.clientCert, origin.clientKey)
      job.resume()
      assert.equal(await job.wait(60000), JobState.Transferred)
      job.complete()
      assert.equal(statSync(join(tmp.dir, 'm.bin')).size, 3000)
      const bare = mm.createJob('nocert', JobType.Download)
      bare.addFile(url, join(tmp.dir, 'n.bin'))
      bare.setClientCertificate(origin.clientCert, origin.clientKey)
      bare.removeClientCertificate()
      bare.resume()
      assert.equal(await bare.wait(60000), JobState.Error)
      assert.equal(bare.getError().getError().symbol, 'SECURE_FAILURE')
      bare.cancel()
    } finally {
      mm.close()
    }
  })
})
