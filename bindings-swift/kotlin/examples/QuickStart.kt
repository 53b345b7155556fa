// The Kotlin quick start of the README (compiled by bindings-swift/test.sh).
package io.github.bgcopy.examples

import io.github.bgcopy.*
import kotlinx.coroutines.runBlocking

fun main() = runBlocking {
    // null = the platform default ($BGCOPY_STATE_DIR, else ~/.local/share/bgcopy).
    CopyManager.open("/tmp/bgcopy-state").use { manager ->
        // The common case in one call (suspends; cancelling the coroutine cancels it).
        try {
            val path = manager.download("https://example.com/a.iso", "/tmp/downloads/")
            println("downloaded $path")
        } catch (e: BgCopyException) {
            println("${e.kind()} ${e.httpStatus()} ${e.symbol()}") // HTTP 404 HTTP_404
        }

        // The BITS model: a durable job, its events as a Flow.
        val job = manager.createJob("my download", JobType.DOWNLOAD)
        job.addFile("https://example.com/a.iso", "/tmp/a.iso")
        job.addFile("https://example.com/b.iso", "/tmp/b.iso")
        job.setPriority(Priority.FOREGROUND)
        job.resume()
        job.events().collect { ev ->
            if (ev.kind == JobEventKind.PROGRESS) {
                println("${ev.progress.bytesTransferred} / ${ev.progress.bytesTotal} bytes")
            }
        }
        when (job.getState()) {
            JobState.TRANSFERRED -> job.complete() // the files appear now, atomically
            JobState.ERROR -> job.getError().use { e ->
                val info = e.getError()
                System.err.println("failed: ${info.symbol} (${info.context}): ${e.getErrorDescription()}")
                job.cancel()
            }
            else -> println("still ${job.getState()}; the job continues on the next open")
        }
    } // close(): the transfers stop and the state directory is released
}
