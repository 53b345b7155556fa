// The Kotlin idioms over the generated bindings (hand-written; the generated file is
// bgcopy.kt): a job's events as a Flow, the one-call download as a suspend function,
// an error's kind. Behaviour stays in the core: these only run its blocking calls off
// the caller's thread, in quarter-second slices, so that cancelling the coroutine is
// heard within one.
package io.github.bgcopy

import kotlinx.coroutines.CancellationException
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.ensureActive
import kotlinx.coroutines.isActive
import kotlinx.coroutines.flow.Flow
import kotlinx.coroutines.flow.flow
import kotlinx.coroutines.flow.flowOn
import kotlinx.coroutines.withContext
import kotlin.coroutines.coroutineContext

private const val SLICE_MS = 250u

/**
 * This job's events from now on: its state now, then every state change, file
 * transferred, error and (at most every 200 ms) progress, ending after the first state
 * `wait()` returns on. Read from the durable journal, so changes made by other
 * processes show. Cancelling the collector releases the stream.
 */
fun CopyJob.events(): Flow<JobEvent> = flow {
    val stream = eventStream()
    try {
        while (true) {
            coroutineContext.ensureActive()
            val ev = stream.nextEvent(SLICE_MS)
            if (ev == null) {
                if (stream.ended()) break
                continue
            }
            emit(ev)
        }
    } finally {
        stream.close()
    }
}.flowOn(Dispatchers.IO)

/**
 * Download [urls] into [dest] with this manager and return each file's path: [dest] is
 * a directory (made if missing; names from the URLs, like `curl -O`) or, for one URL,
 * the file's own path when it is not an existing directory and does not end with `/`.
 * One FOREGROUND job is made, followed, completed; [onEvent] gets its events. On failure
 * the job is cancelled and its error thrown ([BgCopyException]: `kind()`, `httpStatus()`); cancelling
 * the coroutine cancels the job.
 */
suspend fun CopyManager.download(
    urls: List<String>,
    dest: String,
    onEvent: (JobEvent) -> Unit = {},
): List<String> = withContext(Dispatchers.IO) {
    val task = startDownload(urls, dest)
    try {
        var paths: List<String>? = null
        while (paths == null) {
            // Cancelled: the core cancels the job, and the end comes as `cancelled`.
            if (!isActive) task.cancel()
            val step = task.nextStep(SLICE_MS) ?: continue
            step.event?.let(onEvent)
            if (step.done) {
                if (step.cancelled) throw CancellationException("the download was cancelled")
                paths = step.paths
            }
        }
        paths
    } finally {
        task.cancel()
        task.close()
    }
}

/** One URL: [download] of a list of one. */
suspend fun CopyManager.download(url: String, dest: String, onEvent: (JobEvent) -> Unit = {}): String =
    download(listOf(url), dest, onEvent).single()
