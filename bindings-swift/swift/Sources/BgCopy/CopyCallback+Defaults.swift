// Hand-written (not generated): every CopyCallback method has a default that does
// nothing, so a Swift callback implements only the notifications it wants (docs/spec.md §3:
// "each may be left out"). The job's notify flags still select which methods run.

public extension CopyCallback {
    func jobTransferred(job: CopyJob) throws {}

    func jobError(job: CopyJob, error: CopyError) throws {}

    func jobModification(job: CopyJob) throws {}

    func fileTransferred(job: CopyJob, file: CopyFile) throws {}
}
