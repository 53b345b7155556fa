// The Kotlin quick start of the README (compiled by bindings-swift/test.sh).
package io.github.bgcopy.examples

import io.github.bgcopy.*
import kotlinx.coroutines.runBlocking
import kotlin.time.Duration.Companion.minutes

fun main(args: Array<String>) = runBlocking {
    val url = args.getOrElse(0) { "https://example.com/file.iso" }
    val dest = args.getOrElse(1) { "/tmp/file.iso" }
    // No directory: the platform default ($BGCOPY_STATE_DIR, else ~/.local/share/bgcopy).
    CopyManager.open().use { manager ->
        // The common case in one call (suspends; cancelling the coroutine cancels it).
        try {
            val path = manager.download(url, "$dest.copy")
            println("downloaded $path")
        } catch (e: BgCopyException.Http) {
            System.err.println("HTTP ${e.status}: ${e.message}") // HTTP 404: HTTP_404 (0x80190194): …
        }

        // The BITS model: a durable job set up in one call, its events as a Flow.
        val job = manager.createJob("my download", files = listOf(url to dest), priority = Priority.FOREGROUND)
        job.noProgressTimeout = 10.minutes
        job.resume()
        job.events().collect { ev ->
            if (ev.kind == JobEventKind.PROGRESS) {
                println("${ev.progress.bytesTransferred} / ${ev.progress.bytesTotal} bytes")
            }
        }
        when (job.state) {
            JobState.TRANSFERRED -> println("${job.complete()} $dest") // the file appears now, atomically
            JobState.ERROR -> job.getError().use { e ->
                val info = e.getError()
                System.err.println("failed: ${info.symbol} (${info.context}): ${e.getErrorDescription()}")
                job.cancel()
            }
            else -> println("still ${job.state}; the job continues on the next open")
        }
        // Every failure is a BgCopyException, one sealed case per kind (Http, Network, …).
        try {
            job.resume() // the job is final now
        } catch (e: BgCopyException.InvalidState) {
            System.err.println(e.message) // INVALID_STATE (0x80200002): …
        }
    } // close(): the transfers stop and the state directory is released
}
