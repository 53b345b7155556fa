// The Swift idioms over the generated bindings (hand-written; BgCopy.swift is
// generated): errors with a real description, notify flags as an OptionSet,
// TimeInterval, job setup in one call, a job's events as an AsyncThrowingStream, the one-call
// download as an async function. Behaviour stays in the core: these
// only run its blocking calls off the caller's task, in quarter-second slices, so that
// cancelling the consumer is heard within one. Written and generation-checked here;
// not compiled (no Swift toolchain on the machine that made it).
import Foundation

private let sliceMs: Int32 = 250

/// `bytesTotal` of a progress while the size is not known (BITS's BG_SIZE_UNKNOWN).
public let BYTES_UNKNOWN: Int64 = -1

// MARK: - Errors that read well

/// The core's text, `SYMBOL (0xCODE): message` (the generated conformance, omitted in
/// uniffi.toml, would be a reflection dump).
extension BgCopyError: LocalizedError, CustomStringConvertible {
    // `description` is the exported Rust Display (generated).
    public var errorDescription: String? { description }
}

// MARK: - Notification flags as an OptionSet

/// The notification flags (BG_NOTIFY_*) as a set: `try job.setNotifyFlags([.jobTransferred,
/// .fileTransferred])`, `try job.notifyFlagSet`.
public struct NotifyFlags: OptionSet, Sendable, Hashable {
    public let rawValue: Int32
    public init(rawValue: Int32) { self.rawValue = rawValue }
    public static let jobTransferred = NotifyFlags(rawValue: NotifyFlag.jobTransferred.rawValue)
    public static let jobError = NotifyFlags(rawValue: NotifyFlag.jobError.rawValue)
    public static let disable = NotifyFlags(rawValue: NotifyFlag.disable.rawValue)
    public static let jobModification = NotifyFlags(rawValue: NotifyFlag.jobModification.rawValue)
    public static let fileTransferred = NotifyFlags(rawValue: NotifyFlag.fileTransferred.rawValue)
}

// MARK: - Properties and setup in one call

public extension CopyJob {
    /// `getState()`.
    var state: JobState { get throws { try getState() } }
    /// `getProgress()`.
    var progress: JobProgress { get throws { try getProgress() } }
    /// `enumFiles()`.
    var files: [CopyFile] { get throws { try enumFiles() } }
    /// `getNotifyFlags()` as an OptionSet; set with `setNotifyFlags(_:)`'s twin below.
    var notifyFlagSet: NotifyFlags { get throws { NotifyFlags(rawValue: try getNotifyFlags()) } }
    /// `setNotifyFlags` from an OptionSet.
    func setNotifyFlags(_ flags: NotifyFlags) throws { try setNotifyFlags(flags.rawValue) }
    /// `getNoProgressTimeout()` as a `TimeInterval` (seconds).
    var noProgressTimeout: TimeInterval { get throws { TimeInterval(try getNoProgressTimeout()) } }
    /// `setNoProgressTimeout` from a `TimeInterval` (whole seconds, rounded up; at most
    /// `Int32.max`).
    func setNoProgressTimeout(interval: TimeInterval) throws { try setNoProgressTimeout(wholeSeconds(interval)) }
    /// `getMinimumRetryDelay()` as a `TimeInterval` (seconds).
    var minimumRetryDelay: TimeInterval { get throws { TimeInterval(try getMinimumRetryDelay()) } }
    /// `setMinimumRetryDelay` from a `TimeInterval` (whole seconds, rounded up; at most
    /// `Int32.max`).
    func setMinimumRetryDelay(interval: TimeInterval) throws { try setMinimumRetryDelay(wholeSeconds(interval)) }
    /// `wait` with a `TimeInterval` (nil or an enormous value: no timeout) that does not
    /// block the caller and ends when the task is cancelled (`CancellationError`): the
    /// blocking `wait` runs on a detached task in quarter-second slices. Returns the state
    /// it ended on, like `wait` (also when the manager closes); a negative or NaN
    /// timeout is INVALID_ARG.
    func wait(timeout: TimeInterval?) async throws -> JobState {
        if let t = timeout, !(t >= 0) { return try self.wait(-1) } // throws INVALID_ARG
        let deadline = timeout.map { Date().addingTimeInterval(min($0, 1e9)) } // ~31 years
        let task = Task.detached { () throws -> JobState in
            while true {
                try Task.checkCancellation()
                var slice = Int64(sliceMs)
                if let d = deadline {
                    let ms = d.timeIntervalSinceNow * 1000
                    if ms <= 0 { return try self.getState() }
                    if ms < Double(slice) { slice = Int64(ms.rounded(.up)) }
                }
                let started = Date()
                let state = try self.wait(slice)
                switch state {
                case .transferred, .error, .acknowledged, .cancelled:
                    return state
                default:
                    // Back well before its slice ended: the manager closed.
                    if Date().timeIntervalSince(started) * 1000 < Double(slice) - 50 { return state }
                }
            }
        }
        return try await withTaskCancellationHandler {
            try await task.value
        } onCancel: {
            task.cancel()
        }
    }
}

/// Whole seconds, rounded up; a negative or NaN interval goes through as −1 so that the
/// setter refuses it (INVALID_ARG).
private func wholeSeconds(_ t: TimeInterval) -> Int32 {
    guard t >= 0 else { return -1 }
    return t.rounded(.up) >= Double(Int32.max) ? Int32.max : Int32(t.rounded(.up))
}

// MARK: - Foundation types: UUID, URL

public extension CopyJob {
    /// `getId()` as a `UUID` (the id is always canonical UUID text).
    var uuid: UUID { UUID(uuidString: getId())! }
    /// `addFile` with URLs: an http(s) URL and a file URL (its path); another kind of
    /// local URL is INVALID_ARG.
    func addFile(_ remote: URL, _ local: URL) throws {
        guard local.isFileURL else {
            throw BgCopyError.InvalidArgument(code: 0x8007_0057, symbol: "INVALID_ARG",
                                              detail: "the local URL \(local.absoluteString) is not a file URL")
        }
        try addFile(remote.absoluteString, local.path)
    }
}

public extension CopyFile {
    /// `getRemoteName()` as a `URL`, or nil when Foundation cannot parse it (the
    /// library keeps the WHATWG form, which may hold characters older Foundations refuse).
    var remoteURL: URL? { get throws { URL(string: try getRemoteName()) } }
    /// `getLocalName()` as a file `URL`.
    var localURL: URL { get throws { URL(fileURLWithPath: try getLocalName()) } }
}

public extension CopyManager {
    /// `getJob` by `UUID`.
    func getJob(_ id: UUID) throws -> CopyJob { try getJob(id.uuidString) }

    /// A new job set up in one call: `try manager.createJob("nightly", files: [(url, path)],
    /// priority: .low)`. All or nothing: when a step is refused the new job is cancelled
    /// and the error thrown (the core's `create_job_with`).
    func createJob(_ displayName: String, files: [(String, String)] = [], priority: Priority? = nil,
                   description: String? = nil, type: JobType? = nil) throws -> CopyJob {
        try createJobWith(displayName, JobSetup(jobType: type,
                                                files: files.map { FileSpec(remoteUrl: $0.0, localPath: $0.1) },
                                                priority: priority, description: description))
    }
}

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
                        guard let ev = try stream.nextEvent(sliceMs) else {
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
        let task = startDownload(urls.map(\.absoluteString),
                                 dest.hasDirectoryPath ? dest.path + "/" : dest.path)
        return try await withTaskCancellationHandler {
            try await Task.detached {
                while true {
                    guard let step = try task.nextStep(sliceMs) else { continue }
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
