// Kotlin-specific tests of the generated bindings against the test origin: callbacks on
// library threads, re-entrant calls, the suspend wait, thrown errors with codes,
// close()/use {} releasing objects.
package io.github.bgcopy.test

import io.github.bgcopy.*
import java.io.File
import java.nio.file.Files
import java.time.Instant
import java.util.Collections
import java.util.concurrent.CountDownLatch
import java.util.concurrent.TimeUnit
import java.util.concurrent.atomic.AtomicInteger
import java.util.concurrent.atomic.AtomicReference
import kotlin.concurrent.thread
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertNotNull
import kotlin.test.assertNull
import kotlin.test.assertSame
import kotlin.test.assertTrue
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.async
import kotlinx.coroutines.delay
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.flow.toList
import kotlinx.coroutines.withTimeoutOrNull
import kotlin.time.Duration
import kotlin.time.Duration.Companion.milliseconds
import kotlin.time.Duration.Companion.seconds

/** Asserts that `f` throws a BgCopyException with `symbol`, and returns it. */
fun expectError(symbol: String, f: () -> Unit): BgCopyException {
    val e = assertFailsWith<BgCopyException> { f() }
    assertEquals(symbol, e.symbol(), "symbol of ${e.message}")
    assertEquals(symbol, codeSymbol(e.code()))
    // The message is the core's text, `SYMBOL (0xCODE): text`, like every language's.
    assertTrue(e.message!!.startsWith("$symbol (0x"), e.message)
    assertEquals(e.toString(), e.message)
    assertEquals(e.kind(), kindName(e))
    return e
}

/** The kind a sealed case stands for, in the core's names (exhaustive: a new case fails
 * to compile here). */
fun kindName(e: BgCopyException): String = when (e) {
    is BgCopyException.Http -> "HTTP"
    is BgCopyException.Server -> "SERVER"
    is BgCopyException.Network -> "NETWORK"
    is BgCopyException.Local -> "LOCAL"
    is BgCopyException.Validation -> "VALIDATION"
    is BgCopyException.InvalidArgument -> "INVALID_ARGUMENT"
    is BgCopyException.InvalidState -> "INVALID_STATE"
    is BgCopyException.NotFound -> "NOT_FOUND"
    is BgCopyException.Store -> "STORE"
    is BgCopyException.Other -> "OTHER"
}

class ApiTests(private val origin: Origin) {
    private fun tempDir(name: String): File = Files.createTempDirectory("bgcopy-kt-$name-").toFile()

    /** A manager on a fresh directory, closed (and the directory removed) afterwards. */
    private fun <R> withManager(name: String, options: ManagerOptions? = null, f: (CopyManager, File) -> R): R {
        val dir = tempDir(name)
        try {
            return CopyManager.open(File(dir, "state").path, options).use { f(it, dir) }
        } finally {
            dir.deleteRecursively()
        }
    }

    val tests: List<Pair<String, () -> Unit>> = listOf(
        "values, codes and the version match the contract" to ::valuesMatchSpec,
        "download with callbacks on library threads, complete() inside the callback" to ::callbacksOnLibraryThreads,
        "suspend waitAsync does not block, is cancellable" to ::suspendWait,
        "bad input throws BgCopyException with the BITS code" to ::badInput,
        "HTTP 404 gives ERROR and a CopyError object" to ::httpErrorObject,
        "close() and use {} release the manager and objects" to ::closeAndUse,
        "getNotifyInterface returns the object that was set" to ::notifyInterfaceRoundTrip,
        "a throwing callback is delivered again" to ::throwingCallbackRedelivered,
        "calls from many Kotlin threads at once" to ::manyThreads,
        "files, progress, times and addFileSet" to ::filesAndTimes,
        "callbacks in a client fire for an engine process; eventsSince" to ::clientOfAnEngineProcess,
        "custom headers (write-only) and security flags" to ::headersAndSecurityFlags,
        "credentials, new remote names, maximum download time" to ::credentialsAndRemoteNames,
        "proxy settings through a real HTTP proxy (407, then Basic)" to ::proxySettings,
        "a client certificate opens a port that requires one" to ::clientCertificate,
        "events() is a Flow to TRANSFERRED; an HTTP error ends one; cancelling releases it" to ::eventsFlow,
        "download(): paths, a typed 404 (its job cancelled), cancellation" to ::oneCallDownload,
        "properties, Duration, createJob(files =, priority =), sealed errors with readable messages" to ::kotlinIdioms,
    )

    fun kotlinIdioms() = withManager("idioms") { m, dir ->
        val job = m.createJob(
            "idioms",
            files = listOf(origin.url("kt-id-a", "size=1000") to "$dir/a.bin"),
            priority = Priority.HIGH,
            description = "one call",
        )
        assertEquals(listOf("idioms", "one call"), listOf(job.displayName, job.description))
        assertEquals(Priority.HIGH, job.priority)
        assertEquals(JobState.SUSPENDED, job.state)
        assertEquals(listOf("$dir/a.bin"), job.files.map { it.localName })
        assertEquals(job.getId(), job.uuid.toString())
        assertEquals(job.getId(), m.getJob(job.uuid).getId())
        job.priority = Priority.LOW
        assertEquals(Priority.LOW, job.getPriority())
        job.noProgressTimeout = 90.seconds
        assertEquals(90, job.getNoProgressTimeout())
        job.minimumRetryDelay = 1500.milliseconds // rounds up to whole seconds
        assertEquals(2.seconds, job.minimumRetryDelay)
        assertEquals(Duration.ZERO, job.maximumDownloadTime)
        job.notifyFlags = setOf(NotifyFlag.JOB_TRANSFERRED, NotifyFlag.FILE_TRANSFERRED)
        assertEquals(0x11, job.getNotifyFlags())
        assertEquals(setOf(NotifyFlag.JOB_TRANSFERRED, NotifyFlag.FILE_TRANSFERRED), job.notifyFlags)
        val neg = assertFailsWith<BgCopyException.InvalidArgument> { job.noProgressTimeout = (-1).seconds }
        assertTrue(neg.message!!.startsWith("INVALID_ARG (0x80070057): "), neg.message)
        assertFailsWith<BgCopyException.InvalidArgument> { job.wait(-5L) }
        assertEquals(BYTES_UNKNOWN, job.progress.bytesTotal)
        job.resume()
        assertEquals(JobState.TRANSFERRED, runBlocking { job.awaitState(30.seconds) })
        assertEquals(1000L, job.progress.bytesTotal)
        assertEquals(Completion.ALL, job.complete())
        // All or nothing: a refused file leaves no job.
        val before = m.jobs.size
        val bad = assertFailsWith<BgCopyException.InvalidArgument> {
            m.createJob("bad", files = listOf(origin.url("kt-id-b", "size=1") to "relative/b"))
        }
        assertEquals(0x80070057L, bad.code)
        assertEquals(before, m.jobs.size)
        // The sealed cases by kind, each with the core's text as its message.
        val missing = assertFailsWith<BgCopyException.NotFound> { m.getJob("00000000-0000-0000-0000-000000000000") }
        assertEquals("NOT_FOUND", missing.kind())
        assertTrue(missing.toString().startsWith("NOT_FOUND (0x80200001): "), missing.toString())
        job.close()
    }

    fun eventsFlow() = withManager("events") { m, dir ->
        val job = m.createJob("events", JobType.DOWNLOAD)
        job.setMaxConnectionsPerFile(1)
        job.addFile(origin.url("kt-ev-a", "size=300000&rate=1000000"), "$dir/a.bin")
        job.addFile(origin.url("kt-ev-b", "size=100"), "$dir/b.bin")
        job.resume()
        val seen = runBlocking { job.events().toList() }
        assertEquals(JobEventKind.STATE_CHANGED, seen.first().kind)
        assertEquals(JobState.TRANSFERRED, seen.last().state)
        assertEquals(2, seen.last().progress.filesTransferred)
        assertEquals(listOf(0, 1), seen.filter { it.kind == JobEventKind.FILE_TRANSFERRED }.mapNotNull { it.fileIndex }.sorted())
        val progress = seen.filter { it.kind == JobEventKind.PROGRESS }.map { it.progress.bytesTransferred }
        assertTrue(progress.isNotEmpty() && progress == progress.sorted(), "$progress")
        assertEquals(Completion.ALL, job.complete())
        // An HTTP error ends the flow with its kind and status.
        val bad = m.createJob("404", JobType.DOWNLOAD)
        bad.addFile(origin.url("kt-ev-404", "status=404"), "$dir/x.bin")
        bad.resume()
        val last = runBlocking { bad.events().toList() }.last()
        assertEquals(JobEventKind.ERROR, last.kind)
        assertEquals(JobState.ERROR, last.state)
        assertEquals("HTTP", last.errorKind)
        assertEquals(404, last.errorStatus)
        assertEquals("HTTP_404", last.errorSymbol)
        bad.cancel()
        // Cancelling the collector releases the stream at once.
        val slow = m.createJob("slow", JobType.DOWNLOAD)
        slow.addFile(origin.url("kt-ev-slow", "size=5000000&rate=100000"), "$dir/s.bin")
        slow.resume()
        val t0 = System.nanoTime()
        val first = runBlocking { withTimeoutOrNull(10_000) { slow.events().first() } }
        assertEquals(JobEventKind.STATE_CHANGED, first?.kind)
        assertTrue(System.nanoTime() - t0 < 5_000_000_000L)
        slow.cancel()
    }

    fun oneCallDownload() {
        val dir = tempDir("download")
        try {
            CopyManager.open(File(dir, "state").path, null).use { m ->
                val kinds = Collections.synchronizedList(mutableListOf<JobEventKind>())
                val paths = runBlocking {
                    m.download(listOf(origin.url("kt-dl-a", "size=1000"), origin.url("kt-dl-b", "size=20")), "$dir/out") {
                        kinds.add(it.kind)
                    }
                }
                assertEquals(listOf("$dir/out/kt-dl-a", "$dir/out/kt-dl-b"), paths)
                assertEquals(20L, File(paths[1]).length())
                assertTrue(JobEventKind.FILE_TRANSFERRED in kinds, "$kinds")
                val one = runBlocking { m.download(origin.url("kt-dl-c", "size=10"), "$dir/c.bin") }
                assertEquals("$dir/c.bin", one)
                // A 404: the typed error, its job cancelled.
                val e = assertFailsWith<BgCopyException.Http> {
                    runBlocking { m.download(origin.url("kt-dl-gone", "status=404"), "$dir/gone.bin") }
                }
                assertEquals("HTTP", e.kind())
                assertEquals(404, e.status)
                assertEquals(404, e.httpStatus())
                assertTrue(e.message!!.startsWith("HTTP_404 (0x80190194): "), e.message)
                assertEquals("HTTP_404", e.symbol())
                assertEquals(emptyList(), m.enumJobs().map { it.getId() })
                // Cancelling the coroutine cancels the job.
                val t0 = System.nanoTime()
                val r = runBlocking {
                    withTimeoutOrNull(400) { m.download(origin.url("kt-dl-slow", "size=5000000&rate=100000"), "$dir/slow.bin") }
                }
                assertNull(r)
                assertTrue(System.nanoTime() - t0 < 5_000_000_000L)
                assertEquals(emptyList(), m.enumJobs().map { it.getId() })
            }
        } finally {
            dir.deleteRecursively()
        }
    }

    fun clientCertificate() = withManager("mtls", ManagerOptions(tlsRootCerts = listOf(origin.cert))) { m, dir ->
        val url = "https://localhost:${origin.mtls}/f/kt-mt?size=2000"
        val job = m.createJob("mtls", JobType.DOWNLOAD)
        job.addFile(url, "$dir/m.bin")
        expectError("INVALID_ARG") { job.setClientCertificate(origin.clientKey, origin.clientKey) }
        job.setClientCertificate(origin.clientCert, origin.clientKey)
        job.resume()
        assertEquals(JobState.TRANSFERRED, job.wait(30_000))
        job.complete()
        assertEquals(2000L, File("$dir/m.bin").length())
        val bare = m.createJob("nocert", JobType.DOWNLOAD)
        bare.addFile(url, "$dir/n.bin")
        bare.setClientCertificate(origin.clientCert, origin.clientKey)
        bare.removeClientCertificate()
        bare.resume()
        assertEquals(JobState.ERROR, bare.wait(30_000))
        assertEquals("SECURE_FAILURE", bare.getError().getError().symbol)
        bare.cancel()
    }

    fun proxySettings() = withManager("proxy") { m, dir ->
        val (url, id) = origin.proxy("http", "ku:kpw")
        val job = m.createJob("proxied", JobType.DOWNLOAD)
        job.addFile(origin.url("kt-px", "size=3000"), "$dir/p.bin")
        assertEquals(ProxySettings(ProxyUsage.PRECONFIG, "", ""), job.getProxySettings())
        job.setProxySettings(ProxyUsage.OVERRIDE, url, "")
        assertEquals(ProxySettings(ProxyUsage.OVERRIDE, url, ""), job.getProxySettings())
        job.resume()
        assertEquals(JobState.ERROR, job.wait(30_000))
        assertEquals("HTTP_407", job.getError().getError().symbol)
        job.setCredentials(AuthTarget.PROXY, AuthScheme.BASIC, "ku", "kpw")
        job.resume()
        assertEquals(JobState.TRANSFERRED, job.wait(30_000))
        job.complete()
        assertEquals(3000L, File("$dir/p.bin").length())
        assertEquals(1L, origin.proxyLog(id)["established"])
        val bad = m.createJob("bad", JobType.DOWNLOAD)
        expectError("INVALID_ARG") { bad.setProxySettings(ProxyUsage.NO_PROXY, url, "") }
        expectError("INVALID_ARG") { bad.setProxySettings(ProxyUsage.OVERRIDE, "ftp://x:1", "") }
        expectError("NOT_IMPLEMENTED") { bad.setCredentials(AuthTarget.PROXY, AuthScheme.BEARER, "", "t") }
        bad.cancel()
    }

    fun credentialsAndRemoteNames() = withManager("creds") { m, dir ->
        val job = m.createJob("creds", JobType.DOWNLOAD)
        job.addFile(origin.url("kt-auth", "size=600&auth=bearer:kt.tok"), "$dir/a.bin")
        expectError("INVALID_ARG") { job.setCredentials(AuthTarget.SERVER, AuthScheme.BEARER, "user", "kt.tok") }
        expectError("INVALID_ARG") { job.setCredentials(AuthTarget.SERVER, AuthScheme.BASIC, "a:b", "pw") }
        job.setCredentials(AuthTarget.SERVER, AuthScheme.BEARER, "", "kt.tok")
        job.resume()
        assertEquals(JobState.TRANSFERRED, job.wait(30_000))
        job.complete()
        assertEquals(600L, File("$dir/a.bin").length())

        val again = m.createJob("nocreds", JobType.DOWNLOAD)
        again.addFile(origin.url("kt-auth", "size=600&auth=bearer:kt.tok"), "$dir/b.bin")
        again.setCredentials(AuthTarget.SERVER, AuthScheme.BEARER, "", "kt.tok")
        again.removeCredentials(AuthTarget.SERVER, AuthScheme.BEARER)
        again.resume()
        assertEquals(JobState.ERROR, again.wait(30_000))
        assertEquals("HTTP_401", again.getError().getError().symbol)
        val f = again.enumFiles()[0]
        expectError("INVALID_ARG") { f.setRemoteName("ftp://nowhere/x") }
        f.setRemoteName(origin.url("kt-old/x", "size=600"))
        val base = origin.url("", "").substringBefore("/f/")
        assertEquals(1, again.replaceRemotePrefix("$base/f/kt-old/", "$base/f/kt-new/"))
        assertEquals(origin.url("kt-new/x", "size=600"), f.getRemoteName())
        again.resume()
        assertEquals(JobState.TRANSFERRED, again.wait(30_000))
        again.complete()

        val slow = m.createJob("slow", JobType.DOWNLOAD)
        slow.addFile(origin.url("kt-slow", "size=20000000&rate=1000000"), "$dir/s.bin")
        assertEquals(0, slow.getMaximumDownloadTime())
        slow.setMaximumDownloadTime(1)
        assertEquals(1, slow.getMaximumDownloadTime())
        slow.resume()
        assertEquals(JobState.ERROR, slow.wait(30_000))
        assertEquals("MAXDOWNLOAD_TIMEOUT", slow.getError().getError().symbol)
        slow.cancel()
    }

    fun headersAndSecurityFlags() = withManager("request") { m, dir ->
        val job = m.createJob("request", JobType.DOWNLOAD)
        job.addFile(origin.url("kt-rq-h", "redirect=1&size=700"), "$dir/h.bin")
        assertEquals(emptyList(), job.getCustomHeaders())
        assertNull(job.enumFiles()[0].getFinalUrl())
        job.setCustomHeaders(listOf("X-Token:  kt-1 ", "X-Other: 2"))
        assertEquals(listOf("X-Token: kt-1", "X-Other: 2"), job.getCustomHeaders())
        expectError("INVALID_ARG") { job.setCustomHeaders(listOf("X-A: 1\r\nX-B: 2")) }
        expectError("INVALID_ARG") { job.setCustomHeaders(listOf("Host: elsewhere")) }
        job.makeCustomHeadersWriteOnly()
        expectError("ACCESS_DENIED") { job.getCustomHeaders() }
        assertEquals(0, job.getSecurityFlags())
        expectError("NOT_IMPLEMENTED") { job.setSecurityFlags(0x0008) }
        expectError("INVALID_ARG") { job.setSecurityFlags(0x0300) }
        job.setSecurityFlags(SecurityFlag.REDIRECT_ALLOW_REPORT.value)
        assertEquals(0x0100, job.getSecurityFlags())
        job.resume()
        assertEquals(JobState.TRANSFERRED, job.wait(30_000))
        val f = job.enumFiles()[0]
        assertEquals(origin.url("kt-rq-h", "size=700"), f.getRemoteName())
        assertEquals(origin.url("kt-rq-h", "size=700"), f.getFinalUrl())
        assertTrue(f.getTemporaryName().endsWith(".bgcopy-part"))
        assertEquals(700L, File(f.getTemporaryName()).length())
        job.complete()
        assertEquals(700L, File("$dir/h.bin").length())
    }

    /** The engine is `bgcopy run` in another process; this JVM only queues and listens. */
    fun clientOfAnEngineProcess() {
        val dir = tempDir("journal")
        val state = File(dir, "state").path
        val cli = File(System.getProperty("jna.library.path"), "bgcopy").path
        val engine = ProcessBuilder(cli, "--state-dir", state, "run", "--quiet")
            .redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD).start()
        try {
            CopyManager.open(state, ManagerOptions(startTransfers = false, notifyIntervalMs = 50)).use { m ->
                val kinds = Collections.synchronizedList(mutableListOf<String>())
                val handler = object : CopyCallbackAdapter() {
                    override fun jobTransferred(job: CopyJob) = job.use { kinds.add("transferred"); Unit }
                    override fun jobError(job: CopyJob, error: CopyError) {
                        kinds.add("error:" + error.getError().symbol)
                        error.close()
                        job.close()
                    }
                    override fun fileTransferred(job: CopyJob, file: CopyFile) = job.use {
                        kinds.add("file:" + File(file.getLocalName()).name)
                        file.close()
                    }
                }
                val job = m.createJob("client", JobType.DOWNLOAD)
                job.addFile(origin.url("kt-j-a", "size=40000"), "$dir/a.bin")
                job.addFile(origin.url("kt-j-b", "size=50000"), "$dir/b.bin")
                job.setNotifyFlags(NotifyFlag.JOB_TRANSFERRED.value or NotifyFlag.JOB_ERROR.value or
                    NotifyFlag.FILE_TRANSFERRED.value)
                job.setNotifyInterface(handler)
                // The notify command line runs in the engine's process (bgcopy run).
                val out = File(dir, "cmd.log")
                val script = "echo \"\$BGCOPY_JOB_ID \$1\" >> '${out.path}'"
                job.setNotifyCmdLine("/bin/sh", listOf("-c", script, "sh", "done"))
                assertEquals(NotifyCmdLine("/bin/sh", listOf("-c", script, "sh", "done")), job.getNotifyCmdLine())
                expectError("INVALID_ARG") { job.setNotifyCmdLine("sh", listOf()) }
                val bad = m.createJob("missing", JobType.DOWNLOAD)
                bad.addFile(origin.url("kt-j-404", "status=404"), "$dir/c.bin")
                bad.setNotifyInterface(handler)
                job.resume()
                bad.resume()
                val end = System.nanoTime() + 30_000_000_000L
                fun seen() = synchronized(kinds) {
                    "transferred" in kinds && "file:a.bin" in kinds && "file:b.bin" in kinds &&
                        "error:HTTP_404" in kinds
                }
                while (!seen() && System.nanoTime() < end) Thread.sleep(20)
                assertTrue(seen(), "callbacks seen in the client: $kinds")
                val line = "${job.getId()} done\n"
                while (!(out.exists() && out.readText() == line) && System.nanoTime() < end) Thread.sleep(20)
                assertEquals(line, out.readText())
                assertNull(bad.getNotifyCmdLine())
                assertEquals(Completion.ALL, job.complete())
                assertEquals(40000L, File(dir, "a.bin").length())
                bad.cancel()

                val events = m.eventsSince(0, 10000)
                assertTrue(events.zipWithNext().all { (a, b) -> a.seq < b.seq })
                val mine = events.filter { it.jobId == job.getId() }.map { it.kind to it.state }
                assertEquals(EventKind.STATE_CHANGED to JobState.SUSPENDED, mine.first())
                assertEquals(EventKind.STATE_CHANGED to JobState.ACKNOWLEDGED, mine.last())
                val err = events.first { it.kind == EventKind.ERROR }
                assertEquals(bad.getId(), err.jobId)
                assertEquals(0x80190194, err.errorCode)
                assertEquals(ErrorContext.REMOTE_FILE, err.errorContext)
                assertEquals(0, err.fileIndex)
                assertEquals(events.drop(1), m.eventsSince(events.first().seq, 10000))
                expectError("INVALID_ARG") { m.eventsSince(0, 0) }
                job.close()
                bad.close()
            }
        } finally {
            engine.destroy()
            engine.waitFor(30, TimeUnit.SECONDS)
            dir.deleteRecursively()
        }
    }

    fun valuesMatchSpec() {
        assertEquals((0..8).toList(), JobState.entries.map { it.value })
        assertEquals(listOf("QUEUED", "CONNECTING", "TRANSFERRING", "SUSPENDED", "ERROR", "TRANSIENT_ERROR",
            "TRANSFERRED", "ACKNOWLEDGED", "CANCELLED"), JobState.entries.map { it.name })
        assertEquals(listOf("FOREGROUND", "HIGH", "NORMAL", "LOW"), Priority.entries.map { it.name })
        assertEquals(listOf(0, 1, 2, 3), Priority.entries.map { it.value })
        assertEquals(listOf(0, 1, 2), JobType.entries.map { it.value })
        assertEquals(7, ErrorContext.REMOTE_APPLICATION.value)
        assertEquals(listOf(0x01, 0x02, 0x04, 0x08, 0x10), NotifyFlag.entries.map { it.value })
        assertEquals(0, Completion.ALL.value)
        assertEquals(0x00200017, Completion.PARTIAL.value)
        assertEquals("INVALID_STATE", codeSymbol(0x80200002))
        assertEquals("HTTP_404", codeSymbol(0x80190194))
        // The library's version is the workspace's (test.sh passes it).
        assertEquals(System.getProperty("bgcopy.expectedVersion"), bgcopyVersion())
        assertEquals("INVALID_ARG", codeSymbol(0x80070057))
        assertEquals("PARTIAL_COMPLETE", codeSymbol(0x00200017))
        assertTrue(defaultStateDir().isNotEmpty())
    }

    fun callbacksOnLibraryThreads() = withManager("cb", ManagerOptions(notifyIntervalMs = 50)) { m, dir ->
        val testThread = Thread.currentThread().name
        val threads = Collections.synchronizedSet(mutableSetOf<String>())
        val kinds = Collections.synchronizedList(mutableListOf<String>())
        val completed = AtomicReference<Any?>()
        val done = CountDownLatch(1)
        val job = m.createJob("callbacks", JobType.DOWNLOAD)
        job.addFile(origin.url("kt-cb-a", "size=300000&rate=2000000"), "$dir/a.bin")
        job.addFile(origin.url("kt-cb-b", "size=1000"), "$dir/b.bin")
        job.setNotifyFlags(NotifyFlag.entries.filter { it != NotifyFlag.DISABLE }.fold(0) { a, f -> a or f.value })
        job.setNotifyInterface(object : CopyCallbackAdapter() {
            override fun jobModification(job: CopyJob) = job.use {
                threads.add(Thread.currentThread().name)
                kinds.add("modification")
                job.getProgress() // re-entrant
                Unit
            }

            override fun fileTransferred(job: CopyJob, file: CopyFile) = job.use {
                threads.add(Thread.currentThread().name)
                kinds.add("file:" + File(file.getLocalName()).name)
                assertTrue(file.getProgress().bytesTransferred > 0)
            }

            override fun jobTransferred(job: CopyJob) = job.use {
                threads.add(Thread.currentThread().name)
                kinds.add("transferred")
                // Re-entrant: read, create another job, and complete this one from inside.
                assertEquals(JobState.TRANSFERRED, job.getState())
                m.createJob("made in a callback", JobType.DOWNLOAD).use { it.cancel() }
                completed.set(try { job.complete() } catch (e: BgCopyException) { e })
                done.countDown()
            }
        })
        job.resume()
        assertTrue(done.await(30, TimeUnit.SECONDS), "jobTransferred within 30 s: $kinds")
        assertEquals(Completion.ALL, completed.get())
        assertEquals(JobState.ACKNOWLEDGED, job.getState())
        assertEquals(300000L, File(dir, "a.bin").length())
        assertEquals(1000L, File(dir, "b.bin").length())
        assertTrue(threads.isNotEmpty() && testThread !in threads, "callbacks ran on $threads, test on $testThread")
        assertTrue("file:a.bin" in kinds && "file:b.bin" in kinds, "$kinds")
        assertTrue("modification" in kinds, "$kinds")
        job.close()
    }

    fun suspendWait() = withManager("async") { m, dir ->
        val job = m.createJob("async", JobType.DOWNLOAD)
        job.addFile(origin.url("kt-async", "size=600000&rate=600000"), "$dir/a.bin")
        // Warm up (class loading, JNA's callback stubs) so that it doesn't count below.
        runBlocking { assertEquals(JobState.SUSPENDED, job.waitAsync(0)) }
        job.resume()
        runBlocking {
            // One thread runs both coroutines: the ticker proves waitAsync suspends.
            val ticks = AtomicInteger()
            val waiting = async { job.waitAsync(30_000) }
            val ticker = async {
                while (!waiting.isCompleted) {
                    ticks.incrementAndGet()
                    delay(10)
                }
            }
            assertEquals(JobState.TRANSFERRED, waiting.await())
            ticker.await()
            assertTrue(ticks.get() > 10, "the caller's thread kept running (${ticks.get()} ticks)")
        }
        assertEquals(Completion.ALL, job.complete())
        // A timeout returns the current state; cancelling the coroutine ends the wait.
        val slow = m.createJob("slow", JobType.DOWNLOAD)
        slow.addFile(origin.url("kt-async-slow", "size=1000&stall_at=10&stall_ms=20000"), "$dir/s.bin")
        slow.resume()
        runBlocking(Dispatchers.Default) {
            val t0 = System.nanoTime()
            val state = slow.waitAsync(300)
            assertTrue(state == JobState.QUEUED || state == JobState.CONNECTING || state == JobState.TRANSFERRING, "$state")
            assertNull(withTimeoutOrNull(300) { slow.waitAsync(null) })
            assertTrue(System.nanoTime() - t0 < 5_000_000_000L)
        }
        slow.cancel()
        // A job gone final before the wait returns at once.
        runBlocking { assertEquals(JobState.CANCELLED, slow.waitAsync(null)) }
    }

    fun badInput() = withManager("bad") { m, dir ->
        val job = m.createJob("bad", JobType.DOWNLOAD)
        val url = origin.url("kt-bad", "size=1")
        expectError("INVALID_ARG") { job.addFile(url, "relative/a.bin") }
        expectError("INVALID_ARG") { job.addFile(url, "$dir/missing/a.bin") }
        expectError("INVALID_ARG") { job.addFile(url, dir.path) }
        expectError("INVALID_ARG") { job.addFile("ftp://127.0.0.1/x", "$dir/a.bin") }
        expectError("INVALID_ARG") { job.addFile("not a url", "$dir/a.bin") }
        expectError("INVALID_ARG") { job.addFile("$url\r\nInjected: yes", "$dir/a.bin") }
        expectError("INVALID_ARG") { job.addFile(url, "$dir/a\u0000.bin") }
        expectError("INVALID_ARG") { job.setDisplayName("nul\u0000inside") }
        expectError("STRING_TOO_LONG") { job.setDisplayName("x".repeat(257)) }
        expectError("STRING_TOO_LONG") { job.setDescription("x".repeat(1025)) }
        expectError("INVALID_ARG") { job.setNotifyFlags(0x40) }
        expectError("EMPTY") { job.resume() }
        expectError("ERROR_INFORMATION_UNAVAILABLE") { job.getError() }
        expectError("NOT_IMPLEMENTED") { m.createJob("up", JobType.UPLOAD) }
        expectError("INVALID_ARG") { m.getJob("not-a-uuid") }
        expectError("NOT_FOUND") { m.getJob("00000000-0000-0000-0000-000000000000") }
        job.addFile(url, "$dir/dup.bin")
        expectError("INVALID_ARG") { job.addFile(origin.url("kt-bad2", "size=1"), "$dir/dup.bin") }
        // A lone surrogate has no UTF-8 form: the generated code refuses it with Java's
        // own error before the call reaches the library, and nothing changes (the
        // decision: docs/decisions.md, "Two Kotlin cases that never reach the library").
        job.setDescription("before")
        assertFailsWith<java.nio.charset.CharacterCodingException> { job.setDescription("\uD800") }
        assertEquals("before", job.getDescription())
        expectError("INVALID_ARG") { CopyManager.open("relative/state", null) }
        expectError("INVALID_ARG") { CopyManager.open("$dir/s2", ManagerOptions(backgroundSlots = 0)) }
        expectError("INVALID_ARG") { CopyManager.open("$dir/s3", ManagerOptions(userAgent = "a\r\nb: c")) }
        // One queue (docs/spec.md §9): a second manager on the directory opens and sees the jobs.
        CopyManager.open(File(dir, "state").path, ManagerOptions(startTransfers = false)).use { other ->
            other.getJob(job.getId()).use { seen ->
                seen.setDescription("set by the other manager")
            }
        }
        assertEquals("set by the other manager", job.getDescription())
        job.cancel()
        expectError("INVALID_STATE") { job.resume() }
        expectError("INVALID_STATE") { job.setPriority(Priority.HIGH) }
        assertEquals(JobState.CANCELLED, job.getState())
        job.close()
    }

    fun httpErrorObject() = withManager("err") { m, dir ->
        val seen = AtomicReference<ErrorInfo>()
        val latch = CountDownLatch(1)
        val job = m.createJob("404", JobType.DOWNLOAD)
        job.addFile(origin.url("kt-404", "status=404"), "$dir/a.bin")
        job.setNotifyInterface(object : CopyCallbackAdapter() {
            override fun jobError(job: CopyJob, error: CopyError) {
                seen.set(error.getError())
                error.close()
                job.close()
                latch.countDown()
            }
        })
        job.resume()
        assertEquals(JobState.ERROR, job.wait(30_000))
        assertTrue(latch.await(10, TimeUnit.SECONDS))
        assertEquals(ErrorInfo(ErrorContext.REMOTE_FILE, 0x80190194, "HTTP_404"), seen.get())
        job.getError().use { e ->
            assertEquals(ErrorInfo(ErrorContext.REMOTE_FILE, 0x80190194, "HTTP_404"), e.getError())
            assertEquals("http", e.getProtocol())
            e.getFile().use { f ->
                assertEquals(0, f.getIndex())
                assertEquals("$dir/a.bin", f.getLocalName())
            }
            assertTrue(e.getErrorDescription().isNotEmpty())
            assertTrue(e.getErrorContextDescription().isNotEmpty())
        }
        assertEquals(1, job.getErrorCount())
        job.cancel()
        assertEquals(JobState.CANCELLED, job.wait(null))
    }

    fun closeAndUse() {
        val dir = tempDir("close")
        val state = File(dir, "state").path
        try {
            // use {} closes the manager: the directory is free again at once.
            val id = CopyManager.open(state, null).use { m ->
                m.createJob("kept", JobType.DOWNLOAD).use { job ->
                    job.addFile(origin.url("kt-close", "size=1000"), "$dir/a.bin")
                    job.getId()
                }
            }
            val m2 = CopyManager.open(state, null)
            val job = m2.getJob(id)
            assertEquals("kept", job.getDisplayName())
            assertEquals(JobState.SUSPENDED, job.getState())
            // close(): the manager stops; its jobs' objects answer getters, mutators fail.
            m2.close()
            assertTrue(m2.uniffiIsDestroyed)
            assertFailsWith<IllegalStateException> { m2.enumJobs() }
            expectError("INVALID_STATE") { job.resume() }
            // A closed object cannot be used any more, in any class (docs/decisions.md,
            // "Two Kotlin cases that never reach the library").
            job.close()
            assertFailsWith<IllegalStateException> { job.getId() }
            job.close() // idempotent
            // The directory is free for the next manager, which still has the job.
            CopyManager.open(state, null).use { m3 ->
                assertEquals(listOf(id), m3.enumJobs().map { j -> j.use { it.getId() } })
                m3.getJob(id).use { it.cancel() }
            }
        } finally {
            dir.deleteRecursively()
        }
    }

    fun notifyInterfaceRoundTrip() = withManager("iface") { m, _ ->
        m.createJob("iface", JobType.DOWNLOAD).use { job ->
            assertNull(job.getNotifyInterface())
            val cb = CopyCallbackAdapter()
            job.setNotifyInterface(cb)
            assertSame(cb, job.getNotifyInterface())
            assertSame(cb, m.getJob(job.getId()).use { it.getNotifyInterface() })
            val other = CopyCallbackAdapter()
            job.setNotifyInterface(other)
            assertSame(other, job.getNotifyInterface())
            job.setNotifyInterface(null)
            assertNull(job.getNotifyInterface())
            job.cancel()
        }
    }

    fun throwingCallbackRedelivered() = withManager("retry") { m, dir ->
        val calls = AtomicInteger()
        val job = m.createJob("retry", JobType.DOWNLOAD)
        job.setMinimumRetryDelay(1)
        job.addFile(origin.url("kt-retry", "size=100"), "$dir/a.bin")
        job.setNotifyInterface(object : CopyCallbackAdapter() {
            override fun jobTransferred(job: CopyJob) {
                job.close()
                when (calls.incrementAndGet()) {
                    1 -> throw BgCopyException.Other(0x80004005L, "E_FAIL", "refused on purpose")
                    2 -> throw RuntimeException("refused again")
                }
            }
        })
        job.resume()
        assertEquals(JobState.TRANSFERRED, job.wait(30_000))
        val end = System.nanoTime() + 15_000_000_000L
        while (calls.get() < 3 && System.nanoTime() < end) Thread.sleep(20)
        Thread.sleep(300)
        assertEquals(3, calls.get(), "delivered until accepted, then no more")
        assertEquals(Completion.ALL, job.complete())
    }

    fun manyThreads() = withManager("threads") { m, dir ->
        val job = m.createJob("threads", JobType.DOWNLOAD)
        job.addFile(origin.url("kt-threads", "size=2000000&rate=4000000"), "$dir/a.bin")
        job.resume()
        val errors = Collections.synchronizedList(mutableListOf<Throwable>())
        val workers = (0 until 8).map { n ->
            thread(name = "kt-worker-$n") {
                try {
                    repeat(50) { i ->
                        m.getJob(job.getId()).use { j ->
                            j.getProgress()
                            j.getState()
                            j.setDescription("worker $n round $i")
                            j.getDescription()
                        }
                        m.enumJobs().forEach { it.close() }
                    }
                } catch (e: Throwable) {
                    errors.add(e)
                }
            }
        }
        workers.forEach { it.join() }
        assertEquals(emptyList(), errors)
        assertEquals(JobState.TRANSFERRED, job.wait(30_000))
        assertTrue(job.getDescription().startsWith("worker "))
        assertEquals(Completion.ALL, job.complete())
        assertEquals(2000000L, File(dir, "a.bin").length())
    }

    fun filesAndTimes() = withManager("files") { m, dir ->
        val job = m.createJob("files", JobType.DOWNLOAD)
        val t0 = job.getTimes()
        assertNull(t0.transferCompletionTime)
        assertTrue(t0.creationTime <= t0.modificationTime)
        assertTrue(t0.creationTime <= Instant.now())
        expectError("INVALID_ARG") {
            job.addFileSet(listOf(
                FileSpec(origin.url("kt-set-1", "size=10"), "$dir/1.bin"),
                FileSpec("gopher://x/", "$dir/2.bin"),
            ))
        }
        assertEquals(0, job.enumFiles().size)
        job.addFileSet(listOf(
            FileSpec(origin.url("kt-set-1", "size=10"), "$dir/1.bin"),
            FileSpec(origin.url("kt-set-2", "size=20&etag=0&lm=0&norange=1"), "$dir/2.bin"),
        ))
        val files = job.enumFiles()
        assertEquals(listOf("$dir/1.bin", "$dir/2.bin"), files.map { it.getLocalName() })
        assertEquals(origin.url("kt-set-2", "size=20&etag=0&lm=0&norange=1"), files[1].getRemoteName())
        assertEquals(FileProgress(BYTES_UNKNOWN, 0, false), files[0].getProgress())
        assertEquals(JobProgress(BYTES_UNKNOWN, 0, 2, 0), job.getProgress())
        job.setPriority(Priority.FOREGROUND)
        assertEquals(Priority.FOREGROUND, job.getPriority())
        job.resume()
        assertEquals(JobState.TRANSFERRED, job.wait(30_000))
        assertEquals(JobProgress(30, 30, 2, 2), job.getProgress())
        val t1 = job.getTimes()
        assertNotNull(t1.transferCompletionTime)
        assertTrue(t1.modificationTime >= t0.modificationTime)
        assertEquals(listOf(job.getId()), m.enumJobs().map { j -> j.use { it.getId() } })
        assertEquals(Completion.ALL, job.complete())
        assertEquals(FileProgress(10, 10, true), files[0].getProgress())
        assertEquals(emptyList(), m.enumJobs())
        files.forEach { it.close() }
        job.close()
    }
}
