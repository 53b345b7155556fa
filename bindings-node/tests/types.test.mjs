// index.d.ts describes the idioms as they are used: a TypeScript file using download(),
// job.events(), the error classes and number progress compiles with tsc --strict.
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { it } from 'node:test'
import { here, pkgDir } from './helpers.mjs'

it('the declarations type-check a program using the idioms', () => {
  const tsc = join(pkgDir, 'node_modules', 'typescript', 'bin', 'tsc')
  const r = spawnSync(
    process.execPath,
    [tsc, '--noEmit', '--strict', '--target', 'es2022', '--lib', 'es2022,dom', '--moduleResolution', 'bundler', '--module', 'es2022', join(here, 'fixtures', 'idioms.ts')],
    { encoding: 'utf8' },
  )
  assert.equal(r.status, 0, r.stdout + r.stderr)
})
