// The Swift quick start of the README (a `main.swift` of an executable target that
// depends on the BgCopy product). Not compiled here: there is no Swift toolchain.
import BgCopy

final class Progress: CopyCallback, @unchecked Sendable {
    // Runs on a library thread; the other notifications default to doing nothing.
    func jobModification(job: CopyJob) throws {
        let p = try job.getProgress()
        print("\(p.bytesTransferred) / \(p.bytesTotal) bytes")
    }
}

do {
    // nil = the platform default ($BGCOPY_STATE_DIR, else ~/Library/Application Support/bgcopy).
    let manager = try CopyManager.open(stateDir: "/tmp/bgcopy-state")
    let job = try manager.createJob(displayName: "my download", jobType: .download)
    try job.addFile(remoteUrl: "https://example.com/a.iso", localPath: "/tmp/a.iso")
    try job.setPriority(priority: .foreground)
    try job.setNotifyFlags(flags: NotifyFlag.jobModification.rawValue
        | NotifyFlag.jobTransferred.rawValue | NotifyFlag.jobError.rawValue)
    try job.setNotifyInterface(callback: Progress())
    try job.resume()
    // Suspends; `try job.wait(timeoutMs: 3_600_000)` blocks instead.
    switch try await job.waitAsync(timeoutMs: 3_600_000) {
    case .transferred:
        _ = try job.complete() // the files appear now, atomically
    case .error:
        let error = try job.getError()
        print("failed: \(error.getError().symbol): \(error.getErrorDescription())")
        try job.cancel()
    default:
        print("still running; the job continues on the next open")
    }
    try manager.close() // the transfers stop and the state directory is released
} catch let e as BgCopyError {
    print("bgcopy: \(e.symbol()) (0x\(String(e.code(), radix: 16)))")
}
