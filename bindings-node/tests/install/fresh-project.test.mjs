// `npm install /path/to/bindings-node` in a fresh project: npm links the folder and runs
// its `prepare` script (build.js, the napi CLI), then `require('bgcopy')`,
// `import … from 'bgcopy'` and the TypeScript types work there. Runs on its own (not
// beside the other test files): the install rebuilds the .node file they load.
//
// BGCOPY_NODE_PROFILE=debug (set by test.sh) makes the install reuse the debug build.
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { createRequire } from 'node:module'
import { existsSync, lstatSync, readdirSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { pkgDir, tempDir } from '../helpers.mjs'

let project
let stateRoot

function run(cmd, args, opts = {}) {
  return execFileSync(cmd, args, {
    cwd: project.dir,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: 600000,
    ...opts,
  })
}

const npm = process.env.npm_execpath?.endsWith('.js')
  ? [process.execPath, [process.env.npm_execpath]]
  : ['npm', []]

before(() => {
  project = tempDir('bgcopy-node-fresh-')
  stateRoot = tempDir('bgcopy-node-fresh-state-')
  writeFileSync(
    join(project.dir, 'package.json'),
    JSON.stringify({ name: 'fresh-project', version: '1.0.0', private: true, type: 'module' }, null, 2),
  )
})

after(() => {
  project.cleanup()
  stateRoot.cleanup()
})

describe('a fresh project installs the folder', () => {
  it('npm install /path/to/bindings-node builds and links bgcopy', () => {
    const start = Date.now() - 2000
    const out = run(npm[0], [...npm[1], 'install', '--no-audit', '--no-fund', pkgDir])
    // The prepare script ran: it (re)wrote the native module.
    const built = readdirSync(pkgDir).filter((f) => f.startsWith('bgcopy.') && f.endsWith('.node'))
    assert.ok(built.length > 0, `no .node file in ${pkgDir}`)
    assert.ok(
      built.some((f) => statSync(join(pkgDir, f)).mtimeMs >= start),
      `npm install did not run the prepare script (no fresh .node file)\n${out}`,
    )
    const link = join(project.dir, 'node_modules', 'bgcopy')
    assert.ok(existsSync(join(link, 'package.json')), out)
    assert.ok(lstatSync(link).isSymbolicLink() || lstatSync(link).isDirectory())
  })

  it('require("bgcopy") works (CommonJS)', () => {
    const dir = join(stateRoot.dir, 'cjs')
    const out = run(process.execPath, [
      '-e',
      `const { CopyManager, JobState } = require('bgcopy');
       const m = CopyManager.open(${JSON.stringify(dir)});
       const j = m.createJob('fresh');
       console.log(JSON.stringify({ state: j.getState() === JobState.Suspended, id: j.getId() }));
       m.close();`,
    ])
    const r = JSON.parse(out)
    assert.equal(r.state, true)
    assert.match(r.id, /^[0-9a-f-]{36}$/)
  })

  it('import { … } from "bgcopy" works (ESM), with a Promise-returning wait', () => {
    const dir = join(stateRoot.dir, 'esm')
    const out = run(process.execPath, [
      '--input-type=module',
      '-e',
      `import { CopyManager, JobState } from 'bgcopy';
       import bgcopy from 'bgcopy';
       const m = CopyManager.open(${JSON.stringify(dir)});
       const j = m.createJob('fresh');
       const s = await j.wait(10);
       console.log(JSON.stringify({ s, same: bgcopy.CopyManager === CopyManager }));
       m.close();`,
    ])
    assert.deepEqual(JSON.parse(out), { s: 3, same: true })
  })

  it('the TypeScript types check in the project', (t) => {
    let tsc
    try {
      tsc = createRequire(join(pkgDir, 'package.json')).resolve('typescript/bin/tsc')
    } catch {
      t.skip('typescript is not installed in bindings-node')
      return
    }
    writeFileSync(
      join(project.dir, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          strict: true,
          noEmit: true,
          module: 'nodenext',
          moduleResolution: 'nodenext',
          target: 'es2022',
          types: [],
        },
        files: ['check.ts'],
      }),
    )
    writeFileSync(
      join(project.dir, 'check.ts'),
      `import {
  BYTES_UNKNOWN, CopyError, CopyFile, CopyJob, CopyManager, ErrorContext, JobState, JobType,
  NotifyFlags, Priority, type CopyCallback, type JobProgress, type JobTimes, type ManagerOptions,
} from 'bgcopy'

const options: ManagerOptions = { readTimeoutMs: 1000, tlsRootCerts: ['/x.pem'] }
const m: CopyManager = CopyManager.open('/tmp/state', options)
const j: CopyJob = m.createJob('x', JobType.Download)
j.setPriority(Priority.High)
j.setNotifyFlags(NotifyFlags.JobTransferred | NotifyFlags.JobModification)
const cb: CopyCallback = {
  jobTransferred(job: CopyJob) { job.complete() },
  async jobError(job: CopyJob, e: CopyError) {
    const { context, code, symbol } = e.getError()
    const c: ErrorContext = context
    return [c, code.toFixed(), symbol.length, job.getId()]
  },
  fileTransferred(_job: CopyJob, f: CopyFile) { f.getProgress().bytesTransferred + 1 },
}
j.setNotifyInterface(cb)
j.setNotifyInterface(null)
const p: JobProgress = j.getProgress()
const unknown: boolean = p.bytesTotal === null && typeof BYTES_UNKNOWN === 'bigint'
const t: JobTimes = j.getTimes()
const done: Date | null = t.transferCompletionTime
const s: Promise<JobState> = j.wait(100)
const r: 'OK' | 'PARTIAL_COMPLETE' = j.complete()
// @ts-expect-error a string is not a Priority
j.setPriority('HIGH')
// @ts-expect-error byte counts are numbers
const n: bigint = p.bytesTransferred
void [unknown, done, s, r, n]
`,
    )
    try {
      run(process.execPath, [tsc, '-p', project.dir])
    } catch (e) {
      assert.fail(`tsc: ${e.stdout}${e.stderr}`)
    }
  })
})
