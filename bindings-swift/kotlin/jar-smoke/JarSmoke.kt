// Run by bindings-swift/test.sh with only the standalone jar and JNA on the class path
// (java -cp bgcopy-VERSION.jar:jna.jar:classes): the jar must carry everything else.
// argv: <state dir> <url> <local path>
package io.github.bgcopy.jarsmoke

import io.github.bgcopy.*

fun main(args: Array<String>) {
    val (state, url, local) = args
    CopyManager.open(state).use { manager ->
        val job = manager.createJob("jar smoke", JobType.DOWNLOAD)
        job.addFile(url, local)
        job.resume()
        check(job.wait(60_000L) == JobState.TRANSFERRED) { "state ${job.getState()}" }
        job.complete()
    }
    println("jar ok ${bgcopyVersion()}")
}
