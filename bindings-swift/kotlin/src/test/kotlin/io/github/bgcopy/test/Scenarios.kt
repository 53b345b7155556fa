// The Kotlin runner of the shared scenarios (tests/scenarios/*.json; step language in
// tests/scenarios/README.md), the twin of core/tests/scenarios.rs.
package io.github.bgcopy.test

import io.github.bgcopy.*
import java.io.File
import java.util.Collections
import java.util.concurrent.ConcurrentHashMap
import java.util.concurrent.atomic.AtomicInteger

/** Counts deliveries; can fail the first N and can complete the job from inside. */
class Recorder(failFirst: Int, private val completeInCallback: Boolean) : CopyCallback {
    private val counts = ConcurrentHashMap<String, AtomicInteger>()
    private val failLeft = AtomicInteger(failFirst)
    val innerResults: MutableList<String> = Collections.synchronizedList(mutableListOf())
    val threads: MutableSet<String> = ConcurrentHashMap.newKeySet()

    fun count(kind: String) = counts[kind]?.get() ?: 0

    /** Counts, then fails on purpose while failures are left (a plain exception). */
    private fun hit(kind: String) {
        threads.add(Thread.currentThread().name)
        counts.computeIfAbsent(kind) { AtomicInteger() }.incrementAndGet()
        if (failLeft.getAndUpdate { if (it > 0) it - 1 else 0 } > 0) {
            throw IllegalStateException("recorder fails this $kind on purpose")
        }
    }

    override fun jobTransferred(job: CopyJob) = job.use {
        job.getState() // re-entrant read
        hit("transferred")
        if (completeInCallback) {
            val out = try {
                codeSymbol(job.complete().value.toLong())
            } catch (e: BgCopyException) {
                e.symbol()
            }
            innerResults.add(out)
        }
    }

    override fun jobError(job: CopyJob, error: CopyError) = job.use {
        error.use {
            job.getState()
            job.getProgress()
            error.getError()
            hit("error")
        }
    }

    override fun jobModification(job: CopyJob) = job.use {
        job.getProgress()
        val s = job.getState()
        if (s == JobState.ACKNOWLEDGED || s == JobState.CANCELLED) {
            counts.computeIfAbsent("final_modification") { AtomicInteger() }.incrementAndGet()
        }
        hit("modification")
    }

    override fun fileTransferred(job: CopyJob, file: CopyFile) = job.use {
        file.use {
            file.getProgress()
            hit("file_transferred")
        }
    }
}

class StepFailed(msg: String) : Exception(msg)

fun fail(msg: String): Nothing = throw StepFailed(msg)

/** The keys each part of a scenario may have (tests/scenario_schema.json). */
@Suppress("UNCHECKED_CAST")
object Schema {
    private var schema: Map<String, Any?> = emptyMap()

    fun load(file: File) {
        schema = Json.parse(file.readText()) as Map<String, Any?>
    }

    fun list(key: String): List<String> = (schema[key] as List<Any?>? ?: emptyList()).map { it as String }

    fun op(op: String): List<String>? = ((schema["ops"] as Map<String, Any?>?)?.get(op) as List<Any?>?)?.map { it as String }

    /** Rejects keys the schema does not list (a misspelt expectation). */
    fun check(what: String, obj: Map<String, Any?>?, allowed: List<String>) {
        for (k in obj?.keys ?: emptySet()) if (k !in allowed) fail("$what: unknown key \"$k\"")
    }
}

/** An Instant (or null) as milliseconds since the epoch. */
fun msOf(t: java.time.Instant?): Long? = t?.toEpochMilli()

@Suppress("UNCHECKED_CAST")
class ScenarioRun(private val origin: Origin, private val dir: File, spec: Map<String, Any?>) : AutoCloseable {
    private val options = options(spec["manager"] as Map<String, Any?>? ?: emptyMap())
    private var manager: CopyManager? = null
    private val jobs = HashMap<String, CopyJob>()
    private val recorders = HashMap<String, Recorder>()
    private val times = HashMap<String, Triple<Long, Long, Long?>>()
    private var late: String? = null
    private var proxy: Pair<String, Long>? = null

    init {
        open()
    }

    private fun options(m: Map<String, Any?>): ManagerOptions {
        fun l(k: String) = (m[k] as Long?)
        return ManagerOptions(
            backgroundSlots = l("background_slots")?.toInt(),
            connectionsPerJob = l("connections_per_job")?.toInt(),
            maxConnectionsPerFile = l("max_connections_per_file")?.toInt(),
            connectionsPerHost = l("connections_per_host")?.toInt(),
            readTimeoutMs = l("read_timeout_ms"),
            notifyIntervalMs = l("notify_interval_ms"),
            timeSliceMs = l("time_slice_ms"),
            checkpointIntervalMs = l("checkpoint_interval_ms"),
            checkpointBytes = l("checkpoint_bytes"),
            maxRedirects = l("max_redirects")?.toInt(),
            backgroundBandwidthLimit = l("background_bandwidth_limit"),
            tlsRootCerts = if (m["trust_origin_cert"] == true) listOf(origin.cert) else null,
        )
    }

    private fun open() {
        manager = try {
            CopyManager.open(File(dir, "state").path, options)
        } catch (e: BgCopyException) {
            fail("open: ${e.message}")
        }
    }

    private fun manager() = manager ?: fail("manager is closed")

    override fun close() {
        jobs.values.forEach { it.close() }
        manager?.close()
        manager = null
    }

    private fun subst(v: Any?): Any? = when (v) {
        is String -> {
            var s = (late?.let { v.replace("{late}", it) } ?: v).replace("{http}", origin.httpBase)
                .let { t -> proxy?.let { t.replace("{proxy}", it.first) } ?: t }
                .replace("{mtls}", "https://localhost:${origin.mtls}")
                .replace("{client_cert}", origin.clientCert)
                .replace("{client_key}", origin.clientKey)
                .replace("{https}", origin.httpsBase)
                .replace("{dir}", dir.path)
            while (true) {
                val i = s.indexOf("{job:")
                if (i < 0) break
                val end = s.indexOf('}', i).let { if (it < 0) s.length - 1 else it }
                val alias = s.substring(i + 5, end)
                s = s.replaceRange(i, end + 1, jobs[alias]?.getId() ?: "")
            }
            s
        }
        is List<*> -> v.map { subst(it) }
        is Map<*, *> -> v.entries.associate { (k, x) -> k as String to subst(x) }
        else -> v
    }

    private fun job(step: Map<String, Any?>): CopyJob {
        val alias = step["job"] as String? ?: fail("step needs \"job\"")
        return jobs[alias] ?: fail("unknown job alias $alias")
    }

    private fun poll(timeoutMs: Long, everyMs: Long, what: () -> String?): Unit {
        val end = System.nanoTime() + timeoutMs * 1_000_000
        while (true) {
            val bad = what() ?: return
            if (System.nanoTime() > end) fail(bad)
            Thread.sleep(everyMs)
        }
    }

    fun step(raw: Map<String, Any?>) {
        val step = subst(raw) as Map<String, Any?>
        val op = step["op"] as String? ?: fail("step needs \"op\"")
        Schema.check(op, step, Schema.list("step") + (Schema.op(op) ?: fail("unknown op $op")))
        val expect = step["expect"] as String? ?: "OK"
        val args = step["args"] as List<Any?>? ?: emptyList()
        val timeout = step["timeout_ms"] as Long? ?: 30_000L
        when (op) {
            "create" -> {
                val alias = step["job"] as String? ?: fail("create needs \"job\"")
                val type = JobType.valueOf(step["type"] as String? ?: "DOWNLOAD")
                val name = step["name"] as String? ?: alias
                val r = outcome(expect, "create") { manager().createJob(name, type) }
                if (r is CopyJob) jobs[alias] = r
            }
            "call" -> {
                val job = job(step)
                val method = step["method"] as String? ?: fail("call needs \"method\"")
                val got = outcome(expect, method) { call(job, method, args, step) }
                check(method, step, got)
            }
            "manager" -> {
                val method = step["method"] as String? ?: fail("manager needs \"method\"")
                val got = outcome(expect, method) { managerCall(method, args) }
                check(method, step, got)
            }
            "wait_state" -> {
                val job = job(step)
                val want = step["state"] as String
                poll(timeout, 10) {
                    val s = job.getState()
                    if (s.name == want) null
                    else "state $s after $timeout ms, wanted $want (${errorText(job)})"
                }
            }
            "wait_bytes" -> {
                val job = job(step)
                val want = step["at_least"] as Long
                poll(timeout, 5) {
                    val p = job.getProgress()
                    if (p.bytesTransferred.toLong() >= want) null
                    else "${p.bytesTransferred} bytes after $timeout ms, wanted $want (state ${job.getState()})"
                }
            }
            "expect_file" -> {
                val f = File(step["path"] as String)
                val exists = step["exists"] as Boolean? ?: true
                if (f.exists() != exists) fail("$f exists: ${!exists}, wanted $exists")
                val size = step["size"] as Long?
                if (size != null) {
                    val data = f.readBytes()
                    if (data.size.toLong() != size) fail("$f has ${data.size} bytes, wanted $size")
                    val v = (step["version"] as Long? ?: 0L).toInt()
                    for (i in data.indices) {
                        if (data[i] != Origin.contentByte(i.toLong(), v)) fail("$f differs at byte $i")
                    }
                }
            }
            "expect_temp_files" -> {
                val want = (step["count"] as Long? ?: 0L).toInt()
                val temps = dir.walk().filter { it.isFile && it.name.endsWith(".bgcopy-part") }.toList()
                if (temps.size != want) fail("${temps.size} temp files, wanted $want: $temps")
            }
            "measure_bytes" -> {
                val job = job(step)
                val (lo, hi, ms) = Triple(step["min"] as Long, step["max"] as Long, step["ms"] as Long)
                val first = job.getProgress().bytesTransferred.toLong()
                Thread.sleep(ms)
                val moved = job.getProgress().bytesTransferred.toLong() - first
                if (moved < lo || moved > hi) fail("$moved bytes in $ms ms, wanted $lo..$hi")
            }
            "expect_times" -> expectTimes(step)
            "proxy" -> proxy = origin.proxy(step["kind"] as String? ?: "http", step["auth"] as String?)
            "expect_proxy" -> {
                val log = origin.proxyLog((proxy ?: fail("expect_proxy before proxy")).second)
                for (key in listOf("connections", "established")) {
                    val want = step[key] as Long? ?: continue
                    if (log[key] != want) fail("proxy: $log, wanted $key $want")
                }
            }
            "late_origin" -> late = "http://127.0.0.1:${origin.late(step["ms"] as Long? ?: 2000L)}"
            "mkdir" -> File(step["path"] as String).mkdirs()
            "remove" -> {
                val f = File(step["path"] as String)
                if (!f.exists() || !f.deleteRecursively()) fail("remove $f failed")
            }
            "expect_notifications" -> {
                val alias = step["job"] as String
                val rec = recorders[alias] ?: fail("no recorder on that job")
                val kinds = listOf("transferred", "error", "modification", "file_transferred", "final_modification")
                    .filter { step.containsKey(it) }
                fun mismatch(): String? {
                    for (kind in kinds) {
                        val spec = step[kind].toString()
                        val n = rec.count(kind)
                        if (!countMatches(spec, n)) return "$kind: $n, wanted $spec"
                    }
                    val want = step["inner_results"] as List<Any?>?
                    if (want != null) {
                        val got = synchronized(rec.innerResults) { rec.innerResults.toList() }
                        if (got != want) return "inner results $got, wanted $want"
                    }
                    return null
                }
                poll(timeout, 20) { mismatch() }
                // Exact counts must also stay put: an extra delivery shows up within a
                // coalescing interval.
                if (kinds.any { !step[it].toString().trim().let { s -> s.startsWith(">=") || s.startsWith("<=") } }) {
                    val stable = step["stable_ms"] as Long? ?: 600L
                    Thread.sleep(stable)
                    mismatch()?.let { fail("$it ($stable ms after the counts matched)") }
                }
            }
            "expect_origin" -> {
                val name = step["name"] as String
                val stats = origin.stats(name)
                val show = Json.write(stats)
                val requests = step["requests"] as Long?
                if (requests != null && stats["requests"] != requests) {
                    fail("origin $name: $show, wanted $requests requests")
                }
                val max = step["bytes_sent_max"] as Long?
                if (max != null && (stats["bytes_sent"] as Long) > max) {
                    fail("origin $name: $show, wanted at most $max bytes sent")
                }
                if (step.containsKey("headers")) {
                    val got = (stats["headers"] as List<*>).map { (it as List<*>).joinToString("\n") }
                    if (!matches(step["headers"], got)) fail("origin $name: headers $got, wanted ${Json.write(step["headers"])}")
                }
                if (step.containsKey("if_ranges") && !matches(step["if_ranges"], stats["if_ranges"])) {
                    fail("origin $name: $show, wanted If-Range ${Json.write(step["if_ranges"])}")
                }
                val from = step["range_from_min"] as Long?
                if (from != null) {
                    val starts = (stats["range_starts"] as List<Any?>).filterIsInstance<Long>()
                    if (starts.isEmpty() || starts.any { it < from }) {
                        fail("origin $name: $show, wanted ranges starting at >= $from")
                    }
                }
                val gap = step["min_gap_ms"] as Long?
                if (gap != null) {
                    val at = (stats["at_ms"] as List<Any?>).map { it as Long }
                    at.zipWithNext().firstOrNull { (a, b) -> b - a < gap }?.let { (a, b) ->
                        fail("origin $name: requests ${b - a} ms apart, wanted >= $gap")
                    }
                }
                val rangeRequests = (stats["ranges"] as List<Any?>).count { (it as String).isNotEmpty() }.toLong()
                val ranges = step["range_requests"] as Long?
                if (ranges != null && rangeRequests != ranges) {
                    fail("origin $name: $show, wanted $ranges range requests")
                }
                val minRanges = step["min_range_requests"] as Long?
                if (minRanges != null && rangeRequests < minRanges) {
                    fail("origin $name: $show, wanted at least $minRanges range requests")
                }
            }
            "sleep" -> Thread.sleep(step["ms"] as Long? ?: 0L)
            else -> fail("unknown op $op")
        }
    }

    private fun expectTimes(step: Map<String, Any?>) {
        val t = job(step).getTimes()
        val c = msOf(t.creationTime)!!
        val m = msOf(t.modificationTime)!!
        val done = msOf(t.transferCompletionTime)
        val got = "creation $c, modification $m, completion $done"
        fun saved(key: String) = times[step[key] as String] ?: fail("no times saved as ${step[key]}")
        (step["creation_within_ms"] as Long?)?.let {
            if (Math.abs(System.currentTimeMillis() - c) > it) fail("$got: creation not within $it ms of now")
        }
        if (step.containsKey("modification_after")) {
            val before = saved("modification_after").second
            if (m <= before) fail("$got: modification not after $before")
        }
        if (step.containsKey("completion")) {
            val want = step["completion"]
            if (want == null && done != null) fail("$got: completion set, wanted unset")
            if (want == "set" && done == null) fail("$got: completion unset, wanted set")
        }
        if (step.containsKey("completion_after")) {
            val before = saved("completion_after").second
            if (done == null || done <= before) fail("$got: completion not after $before")
        }
        if (step["completion_is_modification"] == true && done != m) {
            fail("$got: completion is not the modification time")
        }
        (step["save"] as String?)?.let { times[it] = Triple(c, m, done) }
    }

    private fun errorText(job: CopyJob) = try {
        job.getError().use { it.getErrorDescription() }
    } catch (e: BgCopyException) {
        ""
    }

    private fun managerCall(method: String, args: List<Any?>): Any? = when (method) {
        "get_job" -> manager().getJob(args.firstOrNull() as String? ?: "").use { it.getId() }
        "enum_jobs" -> manager().enumJobs().map { j ->
            j.use { jobs.entries.find { it.value.getId() == j.getId() }?.key ?: j.getId() }
        }
        "close" -> {
            // Kotlin's close() (AutoCloseable) is the contract's close(): it releases the object,
            // and dropping the manager closes it.
            manager().close()
            manager = null
            null
        }
        "set_background_bandwidth_limit" -> {
            val n = args.firstOrNull() as Long? ?: fail("$method takes [bytes_per_second]")
            manager().setBackgroundBandwidthLimit(n).let { null }
        }
        "get_background_bandwidth_limit" -> manager().getBackgroundBandwidthLimit().toLong()
        "reopen" -> {
            manager?.close()
            manager = null
            open()
            for ((alias, old) in jobs.entries.toList()) {
                val id = old.getId()
                try {
                    jobs[alias] = manager().getJob(id)
                    old.close()
                } catch (e: BgCopyException) {
                    // A final job is gone from the new manager: keep the old handle.
                }
            }
            null
        }
        else -> fail("unknown manager method $method")
    }

    private fun bytes(n: Long): Any = if (n == BYTES_UNKNOWN) "UNKNOWN" else n

    private fun long(v: Any?): String = when (v) {
        is Map<*, *> -> (v["repeat"] as String? ?: "x").repeat((v["count"] as Long? ?: 0L).toInt())
        else -> v as String? ?: ""
    }

    private fun call(job: CopyJob, method: String, args: List<Any?>, step: Map<String, Any?>): Any? {
        fun s(i: Int) = args.getOrNull(i) as String? ?: ""
        fun n(i: Int) = (args.getOrNull(i) as Long? ?: fail("$method: argument $i must be a number")).also {
            if (it < Int.MIN_VALUE || it > Int.MAX_VALUE) fail("$method: argument $i must be an Int")
        }.toInt()
        fun n64(i: Int) = args.getOrNull(i) as Long? ?: fail("$method: argument $i must be a number")
        return when (method) {
            "add_file" -> job.addFile(s(0), s(1)).let { null }
            "add_file_set" -> {
                val pairs = (args.firstOrNull() as List<Any?>? ?: fail("add_file_set takes [[url, local], ...]"))
                    .map { p -> (p as List<Any?>).let { FileSpec(it[0] as String, it[1] as String) } }
                job.addFileSet(pairs).let { null }
            }
            "enum_files" -> job.enumFiles().map { f ->
                f.use {
                    val p = f.getProgress()
                    mapOf(
                        "remote_name" to f.getRemoteName(),
                        "local_name" to f.getLocalName(),
                        "bytes_total" to bytes(p.bytesTotal),
                        "bytes_transferred" to p.bytesTransferred.toLong(),
                        "completed" to p.completed,
                    )
                }
            }
            "suspend" -> job.suspend().let { null }
            "resume" -> job.resume().let { null }
            "cancel" -> job.cancel().let { null }
            "complete" -> codeSymbol(job.complete().value.toLong())
            "get_id" -> job.getId()
            "get_type" -> job.getType().name
            "get_state" -> job.getState().name
            "get_priority" -> job.getPriority().name
            "get_progress" -> job.getProgress().let { p ->
                mapOf(
                    "bytes_total" to bytes(p.bytesTotal),
                    "bytes_transferred" to p.bytesTransferred.toLong(),
                    "files_total" to p.filesTotal.toLong(),
                    "files_transferred" to p.filesTransferred.toLong(),
                )
            }
            "get_times" -> job.getTimes().let { t ->
                mapOf(
                    "creation_time" to msOf(t.creationTime),
                    "modification_time" to msOf(t.modificationTime),
                    "transfer_completion_time" to msOf(t.transferCompletionTime),
                )
            }
            "get_error" -> job.getError().use { e ->
                val info = e.getError()
                mapOf(
                    "context" to info.context.name,
                    "code" to codeSymbol(info.code),
                    "protocol" to try { e.getProtocol() } catch (x: BgCopyException) { null },
                    "file" to try { e.getFile().use { it.getIndex().toLong() } } catch (x: BgCopyException) { null },
                    "description" to e.getErrorDescription(),
                    "context_description" to e.getErrorContextDescription(),
                )
            }
            "get_display_name" -> job.getDisplayName()
            "set_display_name" -> job.setDisplayName(long(args[0])).let { null }
            "get_description" -> job.getDescription()
            "set_description" -> job.setDescription(long(args[0])).let { null }
            "set_priority" -> job.setPriority(Priority.valueOf(s(0))).let { null }
            "get_notify_flags" -> job.getNotifyFlags().toLong()
            "set_notify_flags" -> job.setNotifyFlags(n(0)).let { null }
            "get_notify_interface" -> job.getNotifyInterface()?.let { "set" }
            "set_notify_interface" -> {
                val alias = step["job"] as String
                val o = args.firstOrNull() as Map<String, Any?>?
                if (o != null) {
                    val rec = Recorder(
                        (o["fail_first"] as Long? ?: 0L).toInt(),
                        o["complete_in_callback"] as Boolean? ?: false,
                    )
                    recorders[alias] = rec
                    job.setNotifyInterface(rec)
                } else {
                    job.setNotifyInterface(null)
                }
                null
            }
            "get_no_progress_timeout" -> job.getNoProgressTimeout().toLong()
            "set_no_progress_timeout" -> job.setNoProgressTimeout(n(0)).let { null }
            "get_minimum_retry_delay" -> job.getMinimumRetryDelay().toLong()
            "set_minimum_retry_delay" -> job.setMinimumRetryDelay(n(0)).let { null }
            "get_error_count" -> job.getErrorCount().toLong()
            "set_credentials" ->
                job.setCredentials(AuthTarget.valueOf(s(0)), AuthScheme.valueOf(s(1)), s(2), s(3)).let { null }
            "remove_credentials" ->
                job.removeCredentials(AuthTarget.valueOf(s(0)), AuthScheme.valueOf(s(1))).let { null }
            "get_maximum_download_time" -> job.getMaximumDownloadTime().toLong()
            "set_maximum_download_time" -> job.setMaximumDownloadTime(n(0)).let { null }
            "get_max_connections_per_file" -> job.getMaxConnectionsPerFile().toLong()
            "set_max_connections_per_file" -> job.setMaxConnectionsPerFile(n(0)).let { null }
            "get_bandwidth_limit" -> job.getBandwidthLimit().toLong()
            "set_bandwidth_limit" -> job.setBandwidthLimit(n64(0)).let { null }
            "replace_remote_prefix" -> job.replaceRemotePrefix(s(0), s(1)).toLong()
            "set_client_certificate" -> job.setClientCertificate(s(0), s(1)).let { null }
            "remove_client_certificate" -> job.removeClientCertificate().let { null }
            "set_custom_headers" -> job.setCustomHeaders((args[0] as List<*>).map { it as String }).let { null }
            "get_custom_headers" -> job.getCustomHeaders()
            "make_custom_headers_write_only" -> job.makeCustomHeadersWriteOnly().let { null }
            "set_security_flags" -> job.setSecurityFlags(n(0)).let { null }
            "get_security_flags" -> job.getSecurityFlags().toLong()
            "set_proxy_settings" -> job.setProxySettings(ProxyUsage.valueOf(s(0)), s(1), s(2)).let { null }
            "get_proxy_settings" -> job.getProxySettings().let {
                mapOf("usage" to it.usage.name, "proxy" to it.proxy, "bypass" to it.bypass)
            }
            "set_remote_name", "get_final_url", "get_temporary_name", "set_expected_hash", "get_expected_hash", "set_validation_state",
            "get_validation_state", "get_response_headers" -> {
                val files = job.enumFiles()
                try {
                    val f = files[n(0).toInt()]
                    when (method) {
                        "set_remote_name" -> f.setRemoteName(s(1)).let { null }
                        "get_final_url" -> f.getFinalUrl()
                        "get_temporary_name" -> f.getTemporaryName()
                        "set_expected_hash" -> f.setExpectedHash(s(1), s(2)).let { null }
                        "get_expected_hash" -> f.getExpectedHash()?.let { listOf(it.algorithm, it.hex) }
                        "set_validation_state" -> f.setValidationState(args[1] as Boolean).let { null }
                        "get_validation_state" -> f.getValidationState()
                        else -> f.getResponseHeaders().joinToString("\n")
                    }
                } finally {
                    files.forEach { it.close() }
                }
            }
            "wait" -> job.wait(args.firstOrNull() as Long? ?: 30_000L).name
            else -> fail("unknown job method $method")
        }
    }

    companion object {
        /** Runs `f`; the result when `expect` is OK, else checks the thrown symbol. */
        fun outcome(expect: String, what: String, f: () -> Any?): Any? {
            val r = try {
                f()
            } catch (e: BgCopyException) {
                if (e.symbol() == expect) return NoResult
                fail("$what: failed with ${e.symbol()} (${e.detail()}), wanted $expect")
            }
            if (expect != "OK") fail("$what: succeeded, wanted $expect")
            return r
        }

        /** No "result" key: not checked; "result": null checks for null. */
        fun check(what: String, step: Map<String, Any?>, got: Any?) {
            if (got === NoResult || !step.containsKey("result")) return
            val want = step["result"]
            if (!matches(want, got)) fail("$what returned ${Json.write(got)}, wanted ${Json.write(want)}")
        }

        fun matches(want: Any?, got: Any?): Boolean = when {
            want == "any" -> true
            want is Map<*, *> && got is String && want.containsKey("contains") ->
                got.contains(want["contains"] as String)
            want is Map<*, *> && got is String && want.containsKey("lacks") ->
                !got.contains(want["lacks"] as String)
            want is Map<*, *> && got is Map<*, *> -> want.all { (k, w) -> matches(w, got[k]) }
            want is List<*> && got is List<*> -> want.size == got.size && want.indices.all { matches(want[it], got[it]) }
            want is Number && got is Number -> want.toLong() == got.toLong() && want.toDouble() == got.toDouble()
            else -> want == got
        }

        fun countMatches(spec: String, n: Int): Boolean = when {
            spec.startsWith(">=") -> n >= spec.substring(2).trim().toInt()
            spec.startsWith("<=") -> n <= spec.substring(2).trim().toInt()
            else -> spec.trim().toIntOrNull() == n
        }
    }
}

/** Marks an expected failure (nothing to match). */
object NoResult

/** Runs one scenario file; throws on the first step that does not hold. */
@Suppress("UNCHECKED_CAST")
fun runScenario(origin: Origin, file: File) {
    val spec = Json.parse(file.readText()) as Map<String, Any?>
    Schema.check("scenario", spec, Schema.list("scenario"))
    Schema.check("manager", spec["manager"] as Map<String, Any?>?, Schema.list("manager"))
    val dir = java.nio.file.Files.createTempDirectory("bgcopy-kt-${file.nameWithoutExtension}-").toFile()
    try {
        ScenarioRun(origin, dir, spec).use { run ->
            (spec["steps"] as List<Any?>).forEachIndexed { i, step ->
                try {
                    run.step(step as Map<String, Any?>)
                } catch (e: StepFailed) {
                    throw StepFailed("step ${i + 1} ${Json.write(step)}: ${e.message}")
                } catch (e: BgCopyException) {
                    throw StepFailed("step ${i + 1} ${Json.write(step)}: unexpected ${e.symbol()}: ${e.detail()}")
                }
            }
        }
    } finally {
        dir.deleteRecursively()
    }
}
