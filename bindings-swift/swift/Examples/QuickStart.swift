// The Swift quick start of the README (a `main.swift` of an executable target that
// depends on the BgCopy product). Not compiled here: there is no Swift toolchain.
import BgCopy
import Foundation

do {
    // nil = the platform default ($BGCOPY_STATE_DIR, else ~/Library/Application Support/bgcopy).
    let manager = try CopyManager.open("/tmp/bgcopy-state")
    // The common case in one call (cancelling the task cancels the job).
    let path = try await manager.download(from: URL(string: "https://example.com/a.iso")!,
                                          to: URL(fileURLWithPath: "/tmp/downloads/"))
    print("downloaded \(path.path)")

    // The BITS model: a durable job set up in one call, its events as an AsyncThrowingStream.
    let job = try manager.createJob("my download", files: [("https://example.com/a.iso", "/tmp/a.iso")],
                                    priority: .foreground)
    try job.resume()
    for try await ev in job.events where ev.kind == .progress {
        print("\(ev.progress.bytesTransferred) / \(ev.progress.bytesTotal) bytes")
    }
    let state = try job.state
    switch state {
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
} catch let BgCopyError.Http(_, _, _, status) {
    print("HTTP \(status)") // one case per kind: .Http, .Network, .Local, .InvalidState, …
} catch let e as BgCopyError {
    print("bgcopy: \(e.localizedDescription)") // INVALID_STATE (0x80200002): …
}
