// The Kotlin quick start of the README (compiled by bindings-swift/test.sh).
package io.github.bgcopy.examples

import io.github.bgcopy.*

fun main() {
    // null = the platform default ($BGCOPY_STATE_DIR, else ~/.local/share/bgcopy).
    CopyManager.open("/tmp/bgcopy-state").use { manager ->
        val job = manager.createJob("my download", JobType.DOWNLOAD)
        job.addFile("https://example.com/a.iso", "/tmp/a.iso")
        job.addFile("https://example.com/b.iso", "/tmp/b.iso")
        job.setPriority(Priority.FOREGROUND)
        job.setNotifyFlags(
            NotifyFlag.JOB_MODIFICATION.value or NotifyFlag.JOB_TRANSFERRED.value or NotifyFlag.JOB_ERROR.value,
        )
        job.setNotifyInterface(object : CopyCallbackAdapter() {
            // Runs on a library thread; it may call any method.
            override fun jobModification(job: CopyJob) {
                val p = job.getProgress()
                println("${p.bytesTransferred} / ${p.bytesTotal} bytes")
            }
        })
        job.resume()
        // Blocks; in a coroutine, `job.waitAsync(3_600_000u)` suspends instead.
        when (job.wait(3_600_000u)) {
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
