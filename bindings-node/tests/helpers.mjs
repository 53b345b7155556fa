// Test support: the fault-injecting test origin (tests/origin), temporary directories,
// the origin's content formula, small async helpers.
import { spawn } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'

export const here = dirname(fileURLToPath(import.meta.url))
export const pkgDir = dirname(here)
export const root = dirname(pkgDir)

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

/** The test origin binary: $BGCOPY_TEST_ORIGIN, else target/{debug,release}. */
export function originBinary() {
  if (process.env.BGCOPY_TEST_ORIGIN) return process.env.BGCOPY_TEST_ORIGIN
  const target = process.env.CARGO_TARGET_DIR || join(root, 'target')
  for (const profile of ['debug', 'release']) {
    const p = join(target, profile, 'bgcopy-test-origin')
    if (existsSync(p)) return p
  }
  throw new Error('bgcopy-test-origin not built: run `cargo build -p bgcopy-test-origin`')
}

/**
 * Start the origin as a child with a piped stdin (it exits when stdin closes). The
 * child is unref'd so that it never keeps a test process alive by itself.
 */
export async function startOrigin() {
  const child = spawn(originBinary(), [], { stdio: ['pipe', 'pipe', 'inherit'] })
  const lines = createInterface({ input: child.stdout })
  const line = await new Promise((resolve, reject) => {
    child.once('error', reject)
    child.once('exit', (code) => reject(new Error(`origin exited (${code}) before it was ready`)))
    lines.once('line', resolve)
  })
  lines.close()
  child.removeAllListeners('exit')
  const info = JSON.parse(line)
  child.unref()
  child.stdout.unref?.()
  child.stdin.unref?.()
  return {
    http: `http://127.0.0.1:${info.http}`,
    https: `https://localhost:${info.https}`,
    cert: info.cert,
    /** HTTPS that requires a client certificate; one it accepts and its key. */
    mtls: `https://localhost:${info.mtls}`,
    clientCert: info.client_cert,
    clientKey: info.client_key,
    async stats(name) {
      const r = await fetch(`http://127.0.0.1:${info.http}/stats/${encodeURIComponent(name)}`)
      return r.json()
    },
    /** A real proxy the origin starts: `'http'` (tinyproxy) or `'socks5'` (microsocks),
     *  wanting `auth` `'USER:PASS'` if given: `{ url, id }`. */
    async proxy(kind, auth) {
      const q = auth ? `&auth=${auth}` : ''
      const v = await (await fetch(`http://127.0.0.1:${info.http}/proxy?kind=${kind}${q}`)).json()
      return { url: `${kind === 'socks5' ? 'socks5h' : 'http'}://127.0.0.1:${v.port}`, id: v.id }
    },
    /** What proxy `id` logged: `{ connections, established, targets }`. */
    async proxyLog(id) {
      return (await fetch(`http://127.0.0.1:${info.http}/proxylog/${id}`)).json()
    },
    /** A port that refuses connections for `ms`, then serves (`/late?ms=N`). */
    async late(ms) {
      const r = await fetch(`http://127.0.0.1:${info.http}/late?ms=${ms}`)
      return (await r.json()).port
    },
    stop() {
      child.stdin.end()
    },
  }
}

/** A fresh temporary directory; `cleanup()` removes it. */
export function tempDir(prefix = 'bgcopy-node-') {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) }
}

/** The origin's byte at offset i of content version v. */
export const contentByte = (i, v = 0) => ((i % 251) + 7 * v) % 256

/** The first offset where `data` differs from the origin's content, or -1. */
export function firstDifference(data, v = 0) {
  for (let i = 0; i < data.length; i++) if (data[i] !== contentByte(i, v)) return i
  return -1
}

/** Poll `fn` every `every` ms until it returns a truthy value or `timeoutMs` passes. */
export async function until(fn, timeoutMs = 30000, every = 10) {
  const end = Date.now() + timeoutMs
  for (;;) {
    const v = await fn()
    if (v) return v
    if (Date.now() > end) return v
    await sleep(every)
  }
}
