// Runs every tests/scenarios/*.json (the step language of tests/scenarios/README.md)
// against the test origin, through the Node API. The JS twin of core/tests/scenarios.rs.
// BGCOPY_SCENARIO=name runs one. Scenarios run concurrently on the one JS thread (at most
// BGCOPY_SCENARIO_JOBS, default 4, at once): every wait is asynchronous (polling with
// timers, `await job.wait()`), so the notification handlers keep running meanwhile.
// Keys not listed in tests/scenario_schema.json fail the scenario.
import assert from 'node:assert/strict'
import { readdirSync, readFileSync, existsSync, statSync, mkdirSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import {
  AuthScheme,
  AuthTarget,
  BYTES_UNKNOWN,
  CopyManager,
  ErrorContext,
  JobState,
  JobType,
  Priority,
  ProxyUsage,
} from '../index.mjs'
import { firstDifference, root, sleep, startOrigin, tempDir } from './helpers.mjs'

const scenarioDir = join(root, 'tests', 'scenarios')
const schema = JSON.parse(readFileSync(join(root, 'tests', 'scenario_schema.json'), 'utf8'))
const concurrency = Number(process.env.BGCOPY_SCENARIO_JOBS ?? 4)

/** Reject keys tests/scenario_schema.json does not list (a misspelt expectation). */
function checkKeys(what, obj, ...allowed) {
  if (!obj || typeof obj !== 'object') return
  const known = new Set(allowed.flat())
  for (const k of Object.keys(obj)) {
    if (!known.has(k)) throw new Error(`${what}: unknown key ${JSON.stringify(k)}`)
  }
}

/** A Date (or null) as milliseconds since the epoch. */
const msOf = (d) => (d === null || d === undefined ? null : d.getTime())
const only = process.env.BGCOPY_SCENARIO
const files = readdirSync(scenarioDir)
  .filter((f) => f.endsWith('.json'))
  .filter((f) => !only || f === `${only}.json`)
  .sort()

/** The contract's name of an enum value: JobState.TransientError → 'TRANSIENT_ERROR'. */
function specName(enumObj, value) {
  const key = Object.keys(enumObj).find((k) => enumObj[k] === value)
  if (key === undefined) return `?${value}`
  return key.replace(/([a-z])([A-Z])/g, '$1_$2').toUpperCase()
}

/** The enum value for a contract name ('HIGH' → Priority.High). */
function fromSpecName(enumObj, name) {
  const key = Object.keys(enumObj).find((k) => specName(enumObj, enumObj[k]) === name)
  if (key === undefined) throw new Error(`no ${name} in enum`)
  return enumObj[key]
}

/** Manager options of a scenario (snake_case keys) → CopyManager.open options
 *  (camelCase; names and values checked by the core's option table). */
function options(spec = {}, origin) {
  const o = {}
  for (const [k, v] of Object.entries(spec)) {
    if (k === 'trust_origin_cert') {
      if (v) o.tlsRootCerts = [origin.cert]
    } else {
      o[k.replace(/_([a-z])/g, (_, c) => c.toUpperCase())] = v
    }
  }
  return o
}

/** Counts deliveries; can fail the first N and can complete the job from inside. */
class Recorder {
  constructor({ fail_first = 0, complete_in_callback = false } = {}) {
    this.counts = {
      transferred: 0,
      error: 0,
      modification: 0,
      file_transferred: 0,
      final_modification: 0,
    }
    this.failFirst = fail_first
    this.completeInCallback = complete_in_callback
    this.innerResults = []
  }
  hit(kind) {
    this.counts[kind]++
    if (this.failFirst > 0) {
      this.failFirst--
      throw new Error(`recorder fails this ${kind} on purpose`)
    }
  }
  jobTransferred(job) {
    this.hit('transferred')
    if (this.completeInCallback) {
      try {
        this.innerResults.push(job.complete())
      } catch (e) {
        this.innerResults.push(e.code)
      }
    }
  }
  jobError(job, error) {
    // Re-entrant reads from inside a handler must work.
    job.getState()
    job.getProgress()
    error.getError()
    this.hit('error')
  }
  jobModification(job) {
    job.getProgress()
    const s = job.getState()
    if (s === JobState.Acknowledged || s === JobState.Cancelled) this.counts.final_modification++
    this.hit('modification')
  }
  fileTransferred(job, file) {
    file.getProgress()
    this.hit('file_transferred')
  }
}

const bytes = (n) => (n === null ? 'UNKNOWN' : n)

function countMatches(spec, n) {
  const s = String(spec)
  if (s.startsWith('>=')) return n >= Number(s.slice(2))
  if (s.startsWith('<=')) return n <= Number(s.slice(2))
  return n === Number(s)
}

/** `want` matches `got` as tests/scenarios/README.md "Matching" says. */
function matches(want, got) {
  if (want === 'any') return true
  if (want !== null && typeof want === 'object' && !Array.isArray(want)) {
    if ('contains' in want && typeof got === 'string') return got.includes(want.contains)
    if ('lacks' in want && typeof got === 'string') return !got.includes(want.lacks)
    if (got === null || typeof got !== 'object') return false
    return Object.keys(want).every((k) => matches(want[k], got[k] ?? null))
  }
  if (Array.isArray(want)) {
    return Array.isArray(got) && want.length === got.length && want.every((w, i) => matches(w, got[i]))
  }
  return want === got
}

const long = (v) => (v && typeof v === 'object' ? v.repeat.repeat(v.count) : v)

function tempFiles(dir) {
  const out = []
  const stack = [dir]
  while (stack.length) {
    const d = stack.pop()
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name)
      if (e.isDirectory()) stack.push(p)
      else if (p.endsWith('.bgcopy-part')) out.push(p)
    }
  }
  return out
}

class Run {
  constructor(origin, dir, opts) {
    this.origin = origin
    this.dir = dir
    this.opts = opts
    this.manager = null
    this.jobs = new Map()
    this.recorders = new Map()
    this.times = new Map()
    this.late = null
    this.proxy = null
  }

  subst(v) {
    if (typeof v === 'string') {
      let s = v
      if (this.late !== null) s = s.replaceAll('{late}', this.late)
      if (this.proxy !== null) s = s.replaceAll('{proxy}', this.proxy.url)
      s = s
        .replaceAll('{mtls}', this.origin.mtls)
        .replaceAll('{client_cert}', this.origin.clientCert)
        .replaceAll('{client_key}', this.origin.clientKey)
      s = s
        .replaceAll('{http}', this.origin.http)
        .replaceAll('{https}', this.origin.https)
        .replaceAll('{dir}', this.dir)
      s = s.replace(/\{job:([^}]*)\}/g, (_, alias) => this.jobs.get(alias)?.getId() ?? '')
      return s
    }
    if (Array.isArray(v)) return v.map((x) => this.subst(x))
    if (v && typeof v === 'object') {
      return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, this.subst(x)]))
    }
    return v
  }

  open() {
    this.manager = CopyManager.open(join(this.dir, 'state'), this.opts)
  }

  close() {
    this.manager?.close()
    this.manager = null
  }

  mgr() {
    if (!this.manager) throw new Error('manager is closed')
    return this.manager
  }

  job(step) {
    const j = this.jobs.get(step.job)
    if (!j) throw new Error(`unknown job alias ${step.job}`)
    return j
  }

  /** Run `fn` (sync or async) and hold its outcome against `expect` and `result`. */
  async check(what, expect, want, fn) {
    let got
    try {
      got = await fn()
    } catch (e) {
      if (typeof e?.code !== 'string' || typeof e?.hresult !== 'number') {
        throw new Error(`${what}: threw a non-bgcopy error: ${e?.stack ?? e}`)
      }
      if (e.code === expect) return undefined
      throw new Error(`${what}: failed with ${e.message}, wanted ${expect}`)
    }
    if (expect !== 'OK') throw new Error(`${what}: succeeded, wanted ${expect}`)
    // No "result" key: not checked; "result": null checks for null.
    if (want !== undefined && !matches(want, got ?? null)) {
      throw new Error(`${what} returned ${JSON.stringify(got)}, wanted ${JSON.stringify(want)}`)
    }
    return got ?? null
  }

  async step(raw) {
    const step = this.subst(raw)
    if (!(step.op in schema.ops)) throw new Error(`unknown op ${step.op}`)
    checkKeys(step.op, step, schema.step, schema.ops[step.op])
    const expect = step.expect ?? 'OK'
    const args = step.args ?? []
    const timeout = step.timeout_ms ?? 30000
    switch (step.op) {
      case 'create': {
        const type = fromSpecName(JobType, step.type ?? 'DOWNLOAD')
        const job = await this.check('create', expect, undefined, () =>
          this.mgr().createJob(step.name ?? step.job, type),
        )
        if (job) this.jobs.set(step.job, job)
        return
      }
      case 'call': {
        const job = this.job(step)
        await this.check(step.method, expect, step.result, () => this.call(job, step.method, args, step))
        return
      }
      case 'manager':
        await this.check(step.method, expect, step.result, () => this.managerCall(step.method, args))
        return
      case 'wait_state': {
        const job = this.job(step)
        const end = Date.now() + timeout
        for (;;) {
          const s = specName(JobState, job.getState())
          if (s === step.state) return
          if (Date.now() > end) {
            let err = ''
            try {
              err = job.getError().getErrorDescription()
            } catch {}
            throw new Error(`state ${s} after ${timeout} ms, wanted ${step.state} (${err})`)
          }
          await sleep(10)
        }
      }
      case 'wait_bytes': {
        const job = this.job(step)
        const end = Date.now() + timeout
        for (;;) {
          const p = job.getProgress()
          if (p.bytesTransferred >= step.at_least) return
          if (Date.now() > end) {
            throw new Error(
              `${p.bytesTransferred} bytes after ${timeout} ms, wanted ${step.at_least} ` +
                `(state ${specName(JobState, job.getState())})`,
            )
          }
          await sleep(5)
        }
      }
      case 'expect_file': {
        const exists = step.exists ?? true
        if (existsSync(step.path) !== exists) {
          throw new Error(`${step.path} exists: ${!exists}, wanted ${exists}`)
        }
        if (step.size !== undefined) {
          const data = readFileSync(step.path)
          if (data.length !== step.size) {
            throw new Error(`${step.path} has ${data.length} bytes, wanted ${step.size}`)
          }
          const i = firstDifference(data, step.version ?? 0)
          if (i >= 0) throw new Error(`${step.path} differs at byte ${i}`)
        }
        return
      }
      case 'expect_temp_files': {
        const found = tempFiles(this.dir)
        if (found.length !== (step.count ?? 0)) {
          throw new Error(`${found.length} temp files, wanted ${step.count}: ${found}`)
        }
        return
      }
      case 'measure_bytes': {
        const job = this.job(step)
        const first = job.getProgress().bytesTransferred
        await sleep(step.ms)
        const moved = Number(job.getProgress().bytesTransferred - first)
        if (moved < step.min || moved > step.max) {
          throw new Error(`${moved} bytes in ${step.ms} ms, wanted ${step.min}..${step.max}`)
        }
        return
      }
      case 'expect_times':
        this.expectTimes(step)
        return
      case 'proxy':
        this.proxy = await this.origin.proxy(step.kind ?? 'http', step.auth)
        return
      case 'expect_proxy': {
        if (this.proxy === null) throw new Error('expect_proxy before proxy')
        const log = await this.origin.proxyLog(this.proxy.id)
        for (const key of ['connections', 'established']) {
          if (step[key] !== undefined && log[key] !== step[key]) {
            throw new Error(`proxy: ${JSON.stringify(log)}, wanted ${key} ${step[key]}`)
          }
        }
        return
      }
      case 'late_origin':
        this.late = `http://127.0.0.1:${await this.origin.late(step.ms ?? 2000)}`
        return
      case 'mkdir':
        mkdirSync(step.path, { recursive: true })
        return
      case 'remove':
        rmSync(step.path, { recursive: true })
        return
      case 'expect_notifications': {
        const rec = this.recorders.get(step.job)
        if (!rec) throw new Error('no recorder on that job')
        const kinds = ['transferred', 'error', 'modification', 'file_transferred', 'final_modification'].filter(
          (k) => step[k] !== undefined,
        )
        const mismatch = () => {
          for (const kind of kinds) {
            if (!countMatches(step[kind], rec.counts[kind])) {
              return `${kind}: ${rec.counts[kind]}, wanted ${step[kind]}`
            }
          }
          if (step.inner_results && !matches(step.inner_results, rec.innerResults)) {
            return `inner results ${JSON.stringify(rec.innerResults)}, wanted ${JSON.stringify(step.inner_results)}`
          }
          return null
        }
        const end = Date.now() + timeout
        for (;;) {
          const bad = mismatch()
          if (!bad) break
          if (Date.now() > end) throw new Error(bad)
          await sleep(20)
        }
        // Exact counts must also stay put: an extra delivery shows up within a
        // coalescing interval.
        if (kinds.some((k) => !/^\s*(>=|<=)/.test(String(step[k])))) {
          const stable = step.stable_ms ?? 600
          await sleep(stable)
          const bad = mismatch()
          if (bad) throw new Error(`${bad} (${stable} ms after the counts matched)`)
        }
        return
      }
      case 'expect_origin': {
        const stats = await this.origin.stats(step.name)
        const show = JSON.stringify(stats)
        if (step.requests !== undefined && stats.requests !== step.requests) {
          throw new Error(`origin ${step.name}: ${show}, wanted ${step.requests} requests`)
        }
        if (step.bytes_sent_max !== undefined && stats.bytes_sent > step.bytes_sent_max) {
          throw new Error(`origin ${step.name}: ${show}, wanted at most ${step.bytes_sent_max} bytes sent`)
        }
        if (step.headers !== undefined) {
          const got = stats.headers.map((h) => h.join('\n'))
          if (!matches(step.headers, got)) {
            throw new Error(`origin ${step.name}: headers ${JSON.stringify(got)}, wanted ${JSON.stringify(step.headers)}`)
          }
        }
        if (step.if_ranges !== undefined && !matches(step.if_ranges, stats.if_ranges)) {
          throw new Error(`origin ${step.name}: ${show}, wanted If-Range ${JSON.stringify(step.if_ranges)}`)
        }
        if (step.range_from_min !== undefined) {
          const starts = stats.range_starts.filter((a) => a !== null)
          if (starts.length === 0 || starts.some((a) => a < step.range_from_min)) {
            throw new Error(`origin ${step.name}: ${show}, wanted ranges starting at >= ${step.range_from_min}`)
          }
        }
        if (step.min_gap_ms !== undefined) {
          for (let i = 1; i < stats.at_ms.length; i++) {
            const gap = stats.at_ms[i] - stats.at_ms[i - 1]
            if (gap < step.min_gap_ms) {
              throw new Error(`origin ${step.name}: requests ${gap} ms apart, wanted >= ${step.min_gap_ms}`)
            }
          }
        }
        const rangeRequests = stats.ranges.filter((r) => r !== '').length
        if (step.range_requests !== undefined && rangeRequests !== step.range_requests) {
          throw new Error(`origin ${step.name}: ${show}, wanted ${step.range_requests} range requests`)
        }
        if (step.min_range_requests !== undefined && rangeRequests < step.min_range_requests) {
          throw new Error(`origin ${step.name}: ${show}, wanted at least ${step.min_range_requests} range requests`)
        }
        return
      }
      case 'sleep':
        await sleep(step.ms ?? 0)
        return
      default:
        throw new Error(`unknown op ${step.op}`)
    }
  }

  expectTimes(step) {
    const t = this.job(step).getTimes()
    const c = msOf(t.creationTime)
    const m = msOf(t.modificationTime)
    const done = msOf(t.transferCompletionTime)
    const got = `creation ${c}, modification ${m}, completion ${done}`
    const saved = (key) => {
      const s = this.times.get(step[key])
      if (!s) throw new Error(`no times saved as ${step[key]}`)
      return s
    }
    if (step.creation_within_ms !== undefined && Math.abs(Date.now() - c) > step.creation_within_ms) {
      throw new Error(`${got}: creation not within ${step.creation_within_ms} ms of now`)
    }
    if (step.modification_after !== undefined && m <= saved('modification_after').m) {
      throw new Error(`${got}: modification not after ${saved('modification_after').m}`)
    }
    if ('completion' in step) {
      if (step.completion === null && done !== null) throw new Error(`${got}: completion set, wanted unset`)
      if (step.completion === 'set' && done === null) throw new Error(`${got}: completion unset, wanted set`)
    }
    if (step.completion_after !== undefined) {
      const before = saved('completion_after').m
      if (done === null || done <= before) throw new Error(`${got}: completion not after ${before}`)
    }
    if (step.completion_is_modification === true && done !== m) {
      throw new Error(`${got}: completion is not the modification time`)
    }
    if (step.save !== undefined) this.times.set(step.save, { c, m, done })
  }

  managerCall(method, args) {
    switch (method) {
      case 'get_job':
        return this.mgr().getJob(args[0] ?? '').getId()
      case 'enum_jobs':
        return this.mgr()
          .enumJobs()
          .map((j) => {
            for (const [alias, v] of this.jobs) if (v.getId() === j.getId()) return alias
            return j.getId()
          })
      case 'close': {
        const m = this.mgr()
        this.manager = null
        m.close()
        return null
      }
      case 'set_background_bandwidth_limit':
        return this.mgr().setBackgroundBandwidthLimit(args[0]) ?? null
      case 'get_background_bandwidth_limit':
        return this.mgr().getBackgroundBandwidthLimit()
      case 'reopen': {
        this.close()
        this.open()
        for (const [alias, j] of this.jobs) {
          try {
            this.jobs.set(alias, this.mgr().getJob(j.getId()))
          } catch {}
        }
        return null
      }
      default:
        throw new Error(`unknown manager method ${method}`)
    }
  }

  async call(job, method, args, step) {
    const u32 = (i) => {
      if (!Number.isInteger(args[i])) throw new Error(`${method}: argument ${i} must be a u32`)
      return args[i]
    }
    const u64 = (i) => {
      if (!Number.isInteger(args[i])) throw new Error(`${method}: argument ${i} must be a u64`)
      return args[i]
    }
    switch (method) {
      case 'add_file':
        return job.addFile(args[0], args[1]) ?? null
      case 'add_file_set':
        return job.addFileSet(args[0]) ?? null
      case 'enum_files':
        return job.enumFiles().map((f) => {
          const p = f.getProgress()
          return {
            remote_name: f.getRemoteName(),
            local_name: f.getLocalName(),
            bytes_total: bytes(p.bytesTotal),
            bytes_transferred: bytes(p.bytesTransferred),
            completed: p.completed,
          }
        })
      case 'suspend':
      case 'resume':
      case 'cancel':
        return job[method]() ?? null
      case 'complete':
        return job.complete()
      case 'get_id':
        return job.getId()
      case 'get_type':
        return specName(JobType, job.getType())
      case 'get_state':
        return specName(JobState, job.getState())
      case 'get_priority':
        return specName(Priority, job.getPriority())
      case 'get_progress': {
        const p = job.getProgress()
        return {
          bytes_total: bytes(p.bytesTotal),
          bytes_transferred: bytes(p.bytesTransferred),
          files_total: p.filesTotal,
          files_transferred: p.filesTransferred,
        }
      }
      case 'get_times': {
        const t = job.getTimes()
        assert.ok(t.creationTime instanceof Date)
        return {
          creation_time: msOf(t.creationTime),
          modification_time: msOf(t.modificationTime),
          transfer_completion_time: msOf(t.transferCompletionTime),
        }
      }
      case 'get_error': {
        const e = job.getError()
        const { context, symbol } = e.getError()
        let protocol = null
        let file = null
        try {
          protocol = e.getProtocol()
        } catch {}
        try {
          file = e.getFile().index
        } catch {}
        return {
          context: specName(ErrorContext, context),
          code: symbol,
          protocol,
          file,
          description: e.getErrorDescription(),
          context_description: e.getErrorContextDescription(),
        }
      }
      case 'get_display_name':
        return job.getDisplayName()
      case 'set_display_name':
        return job.setDisplayName(long(args[0])) ?? null
      case 'get_description':
        return job.getDescription()
      case 'set_description':
        return job.setDescription(long(args[0])) ?? null
      case 'set_priority':
        return job.setPriority(fromSpecName(Priority, args[0])) ?? null
      case 'get_notify_flags':
        return job.getNotifyFlags()
      case 'set_notify_flags':
        return job.setNotifyFlags(u32(0)) ?? null
      case 'get_notify_interface':
        return job.getNotifyInterface() ? 'set' : null
      case 'set_notify_interface': {
        if (args[0] && typeof args[0] === 'object') {
          const rec = new Recorder(args[0])
          this.recorders.set(step.job, rec)
          job.setNotifyInterface(rec)
          assert.equal(job.getNotifyInterface(), rec)
        } else {
          job.setNotifyInterface(null)
        }
        return null
      }
      case 'get_no_progress_timeout':
        return job.getNoProgressTimeout()
      case 'set_no_progress_timeout':
        return job.setNoProgressTimeout(u32(0)) ?? null
      case 'get_minimum_retry_delay':
        return job.getMinimumRetryDelay()
      case 'set_minimum_retry_delay':
        return job.setMinimumRetryDelay(u32(0)) ?? null
      case 'get_error_count':
        return job.getErrorCount()
      case 'set_credentials':
        return (
          job.setCredentials(
            fromSpecName(AuthTarget, args[0]),
            fromSpecName(AuthScheme, args[1]),
            args[2],
            args[3],
          ) ?? null
        )
      case 'remove_credentials':
        return job.removeCredentials(fromSpecName(AuthTarget, args[0]), fromSpecName(AuthScheme, args[1])) ?? null
      case 'get_maximum_download_time':
        return job.getMaximumDownloadTime()
      case 'set_maximum_download_time':
        return job.setMaximumDownloadTime(u32(0)) ?? null
      case 'get_max_connections_per_file':
        return job.getMaxConnectionsPerFile()
      case 'set_max_connections_per_file':
        return job.setMaxConnectionsPerFile(u32(0)) ?? null
      case 'get_bandwidth_limit':
        return job.getBandwidthLimit()
      case 'set_bandwidth_limit':
        return job.setBandwidthLimit(u64(0)) ?? null
      case 'replace_remote_prefix':
        return job.replaceRemotePrefix(args[0], args[1])
      case 'set_client_certificate':
        return job.setClientCertificate(args[0], args[1]) ?? null
      case 'remove_client_certificate':
        return job.removeClientCertificate() ?? null
      case 'set_custom_headers':
        return job.setCustomHeaders(args[0]) ?? null
      case 'get_custom_headers':
        return job.getCustomHeaders()
      case 'make_custom_headers_write_only':
        return job.makeCustomHeadersWriteOnly() ?? null
      case 'set_security_flags':
        return job.setSecurityFlags(u32(0)) ?? null
      case 'get_security_flags':
        return job.getSecurityFlags()
      case 'get_final_url':
        return job.enumFiles()[args[0]].getFinalUrl()
      case 'get_temporary_name':
        return job.enumFiles()[args[0]].getTemporaryName()
      case 'set_proxy_settings':
        return job.setProxySettings(fromSpecName(ProxyUsage, args[0]), args[1], args[2]) ?? null
      case 'get_proxy_settings': {
        const p = job.getProxySettings()
        return { usage: specName(ProxyUsage, p.usage), proxy: p.proxy, bypass: p.bypass }
      }
      case 'set_expected_hash':
        return job.enumFiles()[args[0]].setExpectedHash(args[1], args[2]) ?? null
      case 'get_expected_hash': {
        const h = job.enumFiles()[args[0]].getExpectedHash()
        return h === null ? null : [h.algorithm, h.hex]
      }
      case 'set_validation_state':
        return job.enumFiles()[args[0]].setValidationState(args[1]) ?? null
      case 'get_validation_state':
        return job.enumFiles()[args[0]].getValidationState()
      case 'get_response_headers':
        return job.enumFiles()[args[0]].getResponseHeaders().join('\n')
      case 'set_remote_name':
        return job.enumFiles()[args[0]].setRemoteName(args[1]) ?? null
      case 'wait':
        return specName(JobState, await job.wait(args[0] ?? 30000))
      default:
        throw new Error(`unknown job method ${method}`)
    }
  }
}

let origin
before(async () => {
  origin = await startOrigin()
})
after(() => origin?.stop())

describe('scenarios', { concurrency }, () => {
  it('found some', () => assert.ok(files.length > 0, 'no scenarios found'))
  for (const file of files) {
    const sc = JSON.parse(readFileSync(join(scenarioDir, file), 'utf8'))
    it(file.replace(/\.json$/, ''), { timeout: 120000 }, async () => {
      checkKeys('scenario', sc, schema.scenario)
      checkKeys('manager', sc.manager, schema.manager)
      const { dir, cleanup } = tempDir(`bgcopy-node-scn-${sc.name}-`)
      const run = new Run(origin, dir, options(sc.manager, origin))
      try {
        run.open()
        for (const [i, step] of sc.steps.entries()) {
          try {
            await run.step(step)
          } catch (e) {
            e.message = `step ${i + 1} ${JSON.stringify(step)}: ${e.message}`
            throw e
          }
        }
      } finally {
        run.close()
        if (statSync(dir, { throwIfNoEntry: false })) cleanup()
      }
    })
  }
})
