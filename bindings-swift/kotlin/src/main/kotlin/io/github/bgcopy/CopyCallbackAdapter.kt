// Hand-written (not generated): a CopyCallback whose methods do nothing, so that a
// Kotlin callback overrides only the notifications it wants (docs/spec.md §3: "each may be left
// out"). The job's notify flags still select which methods the library calls.
package io.github.bgcopy

/** A [CopyCallback] that ignores every notification; override what you need. */
open class CopyCallbackAdapter : CopyCallback {
    override fun jobTransferred(job: CopyJob) {}

    override fun jobError(job: CopyJob, error: CopyError) {}

    override fun jobModification(job: CopyJob) {}

    override fun fileTransferred(job: CopyJob, file: CopyFile) {}
}
