// The Swift idioms over the generated bindings (hand-written; BgCopy.swift is
// generated): a job's events as an AsyncThrowingStream, the one-call download as an
// async function, errors with a real description. Behaviour stays in the core: these
// only run its blocking calls off the caller's task, in quarter-second slices, so that
// cancelling the consumer is heard within one. Written and generation-checked here;
// not compiled (no Swift toolchain on the machine that made it).
import Foundation

private let sliceMs: UInt32 = 250

public extension CopyJob {
    /// This job's events from now on: its state now, then every state change, file
    /// transferred, error and (at most every 200 ms) progress, ending after the first
    /// state `wait()` returns on. Cancelling the consuming task releases the stream.
    var events: AsyncThrowingStream<JobEvent, Error> {
        AsyncThrowingStream { continuation in
            let task = Task.detached {
                do {
                    let stream = try self.eventStream() // released with its last reference
                    while !Task.isCancelled {
                        guard let ev = try stream.nextEvent(timeoutMs: sliceMs) else {
                            if stream.ended() { break }
                            continue
                        }
                        continuation.yield(ev)
                    }
                    continuation.finish()
                } catch {
                    continuation.finish(throwing: error)
                }
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }
}

public extension CopyManager {
    /// Download `urls` into `dest` with this manager and return each file's URL: `dest`
    /// is a directory (made if missing; names from the URLs) or, for one URL, the file's
    /// own path. One FOREGROUND job is made, followed, completed; on failure the job is
    /// cancelled and its `BgCopyError` thrown; cancelling the task cancels the job and
    /// throws `CancellationError`.
    func download(from urls: [URL], to dest: URL,
                  onEvent: @escaping @Sendable (JobEvent) -> Void = { _ in }) async throws -> [URL] {
        // A directory URL keeps its trailing `/` (one URL into a directory, not a file).
        let task = startDownload(urls: urls.map(\.absoluteString),
                                 dest: dest.hasDirectoryPath ? dest.path + "/" : dest.path)
        return try await withTaskCancellationHandler {
            try await Task.detached {
                while true {
                    guard let step = try task.nextStep(timeoutMs: sliceMs) else { continue }
                    if let ev = step.event { onEvent(ev) }
                    if step.done {
                        if step.cancelled { throw CancellationError() }
                        return step.paths.map { URL(fileURLWithPath: $0) }
                    }
                }
            }.value
        } onCancel: {
            task.cancel()
        }
    }

    /// One URL: `download(from:to:)` of a list of one.
    func download(from url: URL, to dest: URL) async throws -> URL {
        try await download(from: [url], to: dest)[0]
    }
}
