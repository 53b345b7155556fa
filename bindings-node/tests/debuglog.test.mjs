// NODE_DEBUG=bgcopy prints the library's log records on stderr (the debug hook).
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
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

const script = `
import { CopyManager, JobState } from ${JSON.stringify(pathToFileURL(join(here, '..', 'index.mjs')).href)}
const m = CopyManager.open(process.env.T_STATE)
const job = m.createJob('debuglog')
job.addFile(process.env.T_URL, process.env.T_OUT)
job.resume()
const s = await job.wait(30000)
if (s !== JobState.Transferred) throw new Error('state ' + s)
job.complete()
m.close()
console.log('done', job.getId())
`

/** Run the script with `nodeDebug` as NODE_DEBUG; resolve with its output. */
function run(name, nodeDebug) {
  return new Promise((resolve, reject) => {
    const dir = join(tmp.dir, name)
    const env = {
      ...process.env,
      T_STATE: join(dir, 'state'),
      T_URL: `${origin.http}/f/${name}?size=4000&token=s3cr3t`,
      T_OUT: join(tmp.dir, `${name}.bin`),
    }
    delete env.NODE_DEBUG
    if (nodeDebug !== undefined) env.NODE_DEBUG = nodeDebug
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { env, stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    let err = ''
    child.stdout.on('data', (d) => (out += d))
    child.stderr.on('data', (d) => (err += d))
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`timed out: ${out}\n${err}`))
    }, 30000)
    child.on('exit', (code) => {
      clearTimeout(timer)
      resolve({ code, out, err, pid: child.pid })
    })
  })
}

describe('NODE_DEBUG=bgcopy', () => {
  it('logs state changes and requests on stderr, without the query', async () => {
    const r = await run('dbg-on', 'net,bgcopy')
    assert.equal(r.code, 0, r.err)
    const id = r.out.trim().split(' ')[1]
    assert.match(r.err, new RegExp(`^BGCOPY ${r.pid}: INFO job: job ${id}: .* -> TRANSFERRED$`, 'm'))
    assert.match(r.err, new RegExp(`^BGCOPY ${r.pid}: DEBUG http: GET http://127\\.0\\.0\\.1:\\d+/f/dbg-on\\?…$`, 'm'))
    assert.doesNotMatch(r.err, /s3cr3t/)
  })

  it('prints nothing without it', async () => {
    const r = await run('dbg-off', undefined)
    assert.equal(r.code, 0, r.err)
    assert.doesNotMatch(r.err, /BGCOPY/)
  })
})
