// Hand-written (not generated): every CopyCallback method has a default that does
// nothing, so a Swift callback implements only the notifications it wants (docs/spec.md §3:
// "each may be left out"). The job's notify flags still select which methods run.

public extension CopyCallback {
    func jobTransferred(_ job: CopyJob) throws {}

    func jobError(_ job: CopyJob, _ error: CopyError) throws {}

    func jobModification(_ job: CopyJob) throws {}

    func fileTransferred(_ job: CopyJob, _ file: CopyFile) throws {}
}
