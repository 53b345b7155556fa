// The Kotlin idioms over the generated bindings (hand-written; the generated file is
// bgcopy.kt): properties, kotlin.time.Duration, job setup in one call, a job's events as
// a Flow, the one-call download as a suspend function. Behaviour stays in the core:
// these are forwards to the canonical methods, and the blocking calls run off the
// caller's thread in quarter-second slices, so that cancelling the coroutine is heard
// within one.
package io.github.bgcopy

import kotlinx.coroutines.CancellationException
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.ensureActive
import kotlinx.coroutines.isActive
import kotlinx.coroutines.flow.Flow
import kotlinx.coroutines.flow.flow
import kotlinx.coroutines.flow.flowOn
import kotlinx.coroutines.withContext
import java.util.UUID
import kotlin.coroutines.coroutineContext
import kotlin.time.Duration
import kotlin.time.Duration.Companion.milliseconds
import kotlin.time.Duration.Companion.seconds

private const val SLICE_MS = 250

/** `bytesTotal` of a progress while the size is not known (BITS's BG_SIZE_UNKNOWN). */
const val BYTES_UNKNOWN: Long = -1L

// ---- Properties over the canonical getX()/setX() methods ----

/** [CopyJob.getId]. */
val CopyJob.id: String get() = getId()

/** [CopyJob.getId] as a [UUID]. */
val CopyJob.uuid: UUID get() = UUID.fromString(getId())

/** [CopyManager.getJob] by [UUID]. */
fun CopyManager.getJob(id: UUID): CopyJob = getJob(id.toString())

/** [CopyJob.getType]. */
val CopyJob.type: JobType get() = getType()

/** [CopyJob.getState]. */
val CopyJob.state: JobState get() = getState()

/** [CopyJob.getProgress]. */
val CopyJob.progress: JobProgress get() = getProgress()

/** [CopyJob.getTimes]. */
val CopyJob.times: JobTimes get() = getTimes()

/** [CopyJob.enumFiles]. */
val CopyJob.files: List<CopyFile> get() = enumFiles()

/** [CopyJob.getErrorCount]. */
val CopyJob.errorCount: Int get() = getErrorCount()

/** [CopyJob.getDisplayName] / [CopyJob.setDisplayName]. */
var CopyJob.displayName: String
    get() = getDisplayName()
    set(value) = setDisplayName(value)

/** [CopyJob.getDescription] / [CopyJob.setDescription]. */
var CopyJob.description: String
    get() = getDescription()
    set(value) = setDescription(value)

/** [CopyJob.getPriority] / [CopyJob.setPriority]. */
var CopyJob.priority: Priority
    get() = getPriority()
    set(value) = setPriority(value)

/** [CopyJob.getNotifyFlags] / [CopyJob.setNotifyFlags] as a set of [NotifyFlag]. */
var CopyJob.notifyFlags: Set<NotifyFlag>
    get() = getNotifyFlags().let { bits -> NotifyFlag.entries.filter { bits and it.value != 0 }.toSet() }
    set(value) = setNotifyFlags(value.fold(0) { bits, f -> bits or f.value })

/** [CopyJob.getBandwidthLimit] / [CopyJob.setBandwidthLimit], bytes per second (0: none). */
var CopyJob.bandwidthLimit: Long
    get() = getBandwidthLimit()
    set(value) = setBandwidthLimit(value)

/** [CopyJob.getMaxConnectionsPerFile] / [CopyJob.setMaxConnectionsPerFile]. */
var CopyJob.maxConnectionsPerFile: Int
    get() = getMaxConnectionsPerFile()
    set(value) = setMaxConnectionsPerFile(value)

/** Whole seconds for a BITS setter, rounded up; a negative duration goes through as −1
 * so that the setter refuses it (INVALID_ARG). */
private fun Duration.toSeconds(): Int = when {
    isNegative() -> -1
    this > Int.MAX_VALUE.seconds -> Int.MAX_VALUE
    else -> ((inWholeMilliseconds + 999) / 1000).toInt()
}

/** [CopyJob.getNoProgressTimeout] / [CopyJob.setNoProgressTimeout] (whole seconds, rounded up). */
var CopyJob.noProgressTimeout: Duration
    get() = getNoProgressTimeout().seconds
    set(value) = setNoProgressTimeout(value.toSeconds())

/** [CopyJob.getMinimumRetryDelay] / [CopyJob.setMinimumRetryDelay] (whole seconds, rounded up). */
var CopyJob.minimumRetryDelay: Duration
    get() = getMinimumRetryDelay().seconds
    set(value) = setMinimumRetryDelay(value.toSeconds())

/** [CopyJob.getMaximumDownloadTime] / [CopyJob.setMaximumDownloadTime]: [Duration.ZERO] is
 * no limit (whole seconds, rounded up). */
var CopyJob.maximumDownloadTime: Duration
    get() = getMaximumDownloadTime().seconds
    set(value) = setMaximumDownloadTime(value.toSeconds())

/** [CopyJob.wait] with a [Duration] (blocks the calling thread; see [awaitState]). */
fun CopyJob.wait(timeout: Duration): JobState = wait(timeout.inWholeMilliseconds.coerceAtLeast(-1))

/** [CopyJob.waitAsync] with a [Duration] (null: no timeout); cancelling the coroutine ends
 * the wait. */
suspend fun CopyJob.awaitState(timeout: Duration? = null): JobState =
    waitAsync(timeout?.inWholeMilliseconds?.coerceAtLeast(-1))

/** [CopyFile.getRemoteName] / [CopyFile.setRemoteName]. */
var CopyFile.remoteName: String
    get() = getRemoteName()
    set(value) = setRemoteName(value)

/** [CopyFile.getLocalName]. */
val CopyFile.localName: String get() = getLocalName()

/** [CopyFile.getProgress]. */
val CopyFile.progress: FileProgress get() = getProgress()

/** [CopyFile.getIndex]. */
val CopyFile.index: Int get() = getIndex()

/** [CopyManager.getStateDir]. */
val CopyManager.stateDir: String get() = getStateDir()

/** [CopyManager.getBackgroundBandwidthLimit] / [CopyManager.setBackgroundBandwidthLimit]. */
var CopyManager.backgroundBandwidthLimit: Long
    get() = getBackgroundBandwidthLimit()
    set(value) = setBackgroundBandwidthLimit(value)

/** [CopyManager.enumJobs]. */
val CopyManager.jobs: List<CopyJob> get() = enumJobs()

/**
 * A new job set up in one call: `manager.createJob("nightly", files = listOf(url to path),
 * priority = Priority.LOW)`. All or nothing: when a step is refused the new job is
 * cancelled and the error thrown (the core's `create_job_with`).
 */
fun CopyManager.createJob(
    displayName: String,
    files: List<Pair<String, String>> = emptyList(),
    priority: Priority? = null,
    description: String? = null,
    type: JobType? = null,
): CopyJob = createJobWith(
    displayName,
    JobSetup(
        jobType = type,
        files = files.map { (url, path) -> FileSpec(url, path) },
        priority = priority,
        description = description,
    ),
)

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
 * the job is cancelled and its error thrown ([BgCopyException.Http] with `status`, …); cancelling
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
