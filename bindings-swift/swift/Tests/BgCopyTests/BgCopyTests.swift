// Tests of the Swift module against the test origin (tests/origin). Run with
// `swift test` in bindings-swift/swift after building the Rust library and the origin
// (see ../../README.md). BGCOPY_TEST_ORIGIN overrides the origin's path.
//
// No Swift toolchain exists on the machines that build this repository, so this file is
// written against the generated API (Sources/BgCopy/BgCopy.swift) and is not run in CI;
// the Kotlin suite runs the same behaviours on the JVM.

import BgCopy
import Foundation
import XCTest

/// The fault-injecting origin as a child process; it exits when its stdin closes.
final class Origin {
    let process = Process()
    let stdin = Pipe()
    let http: Int
    let https: Int

    init() throws {
        let root = URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let path = ProcessInfo.processInfo.environment["BGCOPY_TEST_ORIGIN"]
            ?? root.appendingPathComponent("target/debug/bgcopy-test-origin").path
        let stdout = Pipe()
        process.executableURL = URL(fileURLWithPath: path)
        process.standardInput = stdin
        process.standardOutput = stdout
        try process.run()
        var line = Data()
        while !line.contains(UInt8(ascii: "\n")) {
            let chunk = stdout.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            line.append(chunk)
        }
        let info = try JSONSerialization.jsonObject(with: line) as! [String: Any]
        http = info["http"] as! Int
        https = info["https"] as! Int
    }

    func url(_ name: String, _ params: String = "") -> String {
        "http://127.0.0.1:\(http)/f/\(name)?\(params)"
    }

    func stop() {
        try? stdin.fileHandleForWriting.close()
        process.waitUntilExit()
    }
}

/// Records notifications from the library's thread; can complete the job from inside.
final class Recorder: CopyCallback, @unchecked Sendable {
    private let lock = NSLock()
    private var events: [String] = []
    private(set) var onMainThread = false
    var completeInside = false
    private(set) var innerResult: Completion?
    let transferred = DispatchSemaphore(value: 0)

    var seen: [String] { lock.lock(); defer { lock.unlock() }; return events }

    private func record(_ what: String) {
        lock.lock()
        events.append(what)
        if Thread.isMainThread { onMainThread = true }
        lock.unlock()
    }

    func jobTransferred(_ job: CopyJob) throws {
        record("transferred")
        _ = try job.getState() // re-entrant call
        if completeInside {
            let r = try job.complete()
            lock.lock(); innerResult = r; lock.unlock()
        }
        transferred.signal()
    }

    func jobError(_ job: CopyJob, _ error: CopyError) throws {
        record("error:\(error.getError().symbol)")
    }

    func jobModification(_ job: CopyJob) throws {
        _ = try job.getProgress()
        record("modification")
    }

    func fileTransferred(_ job: CopyJob, _ file: CopyFile) throws {
        record("file:\(file.getIndex())")
    }
}

/// Only the method it needs: the others come from the protocol extension's defaults.
final class OnlyErrors: CopyCallback, @unchecked Sendable {
    let got = DispatchSemaphore(value: 0)
    func jobError(_ job: CopyJob, _ error: CopyError) throws { got.signal() }
}

final class BgCopyTests: XCTestCase {
    var origin: Origin!
    var dir: URL!

    override func setUpWithError() throws {
        origin = try Origin()
        dir = FileManager.default.temporaryDirectory
            .appendingPathComponent("bgcopy-swift-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        origin.stop()
        try? FileManager.default.removeItem(at: dir)
    }

    var stateDir: String { dir.appendingPathComponent("state").path }
    func local(_ name: String) -> String { dir.appendingPathComponent(name).path }

    /// Asserts that `f` throws BgCopyError with `symbol`.
    func assertFails(_ symbol: String, file: StaticString = #filePath, line: UInt = #line,
                     _ f: () throws -> Void) {
        do {
            try f()
            XCTFail("succeeded, wanted \(symbol)", file: file, line: line)
        } catch let e as BgCopyError {
            XCTAssertEqual(e.symbol(), symbol, file: file, line: line)
            XCTAssertEqual(codeSymbol(e.code()), symbol, file: file, line: line)
            // The core's text, as in every language.
            XCTAssertTrue(e.description.hasPrefix("\(symbol) (0x"), e.description, file: file, line: line)
            XCTAssertEqual(e.localizedDescription, e.description, file: file, line: line)
        } catch {
            XCTFail("threw \(error), wanted BgCopyError \(symbol)", file: file, line: line)
        }
    }

    func testValuesMatchSpec() {
        XCTAssertEqual(JobState.queued.rawValue, 0)
        XCTAssertEqual(JobState.transientError.rawValue, 5)
        XCTAssertEqual(JobState.cancelled.rawValue, 8)
        XCTAssertEqual(Priority.foreground.rawValue, 0)
        XCTAssertEqual(Priority.low.rawValue, 3)
        XCTAssertEqual(NotifyFlag.fileTransferred.rawValue, 0x10)
        XCTAssertEqual(Completion.partial.rawValue, 0x0020_0017)
        XCTAssertEqual(codeSymbol(0x8020_0002), "INVALID_STATE")
        XCTAssertEqual(codeSymbol(0x8019_0194), "HTTP_404")
    }

    func testDownloadWithCallbacksAndCompleteInside() throws {
        let m = try CopyManager.open(stateDir, ManagerOptions(notifyIntervalMs: 50))
        defer { try? m.close() }
        let job = try m.createJob("swift", .download)
        XCTAssertEqual(try job.getState(), .suspended)
        try job.addFile(origin.url("sw-a", "size=300000"), local("a.bin"))
        try job.addFileSet([FileSpec(remoteUrl: origin.url("sw-b", "size=1000"), localPath: local("b.bin"))])
        XCTAssertEqual(try job.enumFiles().map { try $0.getLocalName() }, [local("a.bin"), local("b.bin")])
        XCTAssertEqual(try job.getProgress().bytesTotal, BYTES_UNKNOWN)
        XCTAssertNil(try job.getTimes().transferCompletionTime)
        let rec = Recorder()
        rec.completeInside = true
        try job.setNotifyFlags(NotifyFlag.jobTransferred.rawValue | NotifyFlag.jobError.rawValue
            | NotifyFlag.jobModification.rawValue | NotifyFlag.fileTransferred.rawValue)
        try job.setNotifyInterface(rec)
        XCTAssertTrue(try job.getNotifyInterface() === rec)
        try job.resume()
        XCTAssertEqual(rec.transferred.wait(timeout: .now() + 30), .success)
        XCTAssertEqual(rec.innerResult, .all)
        XCTAssertEqual(try job.getState(), .acknowledged)
        XCTAssertFalse(rec.onMainThread)
        XCTAssertTrue(rec.seen.contains("file:0") && rec.seen.contains("file:1"))
        let size = try FileManager.default.attributesOfItem(atPath: local("a.bin"))[.size] as! NSNumber
        XCTAssertEqual(size.intValue, 300_000)
        XCTAssertEqual(try job.enumFiles()[1].getProgress(),
                       FileProgress(bytesTotal: 1000, bytesTransferred: 1000, completed: true))
    }

    func testWaitAsync() async throws {
        let m = try CopyManager.open(stateDir)
        let job = try m.createJob("async", .download)
        try job.addFile(origin.url("sw-async", "size=200000&rate=1000000"), local("a.bin"))
        try job.resume()
        let state = try await job.waitAsync(30_000)
        XCTAssertEqual(state, .transferred)
        XCTAssertEqual(try job.complete(), .all)
        XCTAssertEqual(try job.wait(0), .acknowledged)
        try m.close()
    }

    func testErrorsCarryCodes() throws {
        let m = try CopyManager.open(stateDir)
        let job = try m.createJob("bad", .download)
        let url = origin.url("sw-bad", "size=1")
        assertFails("INVALID_ARG") { try job.addFile(url, "relative.bin") }
        assertFails("INVALID_ARG") { try job.addFile("ftp://x/y", local("a.bin")) }
        assertFails("INVALID_ARG") { try job.addFile(url + "\r\nX: y", local("a.bin")) }
        assertFails("INVALID_ARG") { try job.setNotifyFlags(0x40) }
        assertFails("STRING_TOO_LONG") { try job.setDisplayName(String(repeating: "x", count: 257)) }
        assertFails("EMPTY") { try job.resume() }
        assertFails("ERROR_INFORMATION_UNAVAILABLE") { _ = try job.getError() }
        assertFails("NOT_IMPLEMENTED") { _ = try m.createJob("up", .upload) }
        assertFails("INVALID_ARG") { _ = try m.getJob("not-a-uuid") }
        assertFails("NOT_FOUND") { _ = try m.getJob("00000000-0000-0000-0000-000000000000") }
        assertFails("LOCKED") { _ = try CopyManager.open(self.stateDir) }
        // close() stops the manager; its jobs refuse changes afterwards.
        try m.close()
        assertFails("INVALID_STATE") { _ = try m.enumJobs() }
        assertFails("INVALID_STATE") { try job.suspend() }
        XCTAssertEqual(try job.getState(), .suspended)
        // The directory is free again.
        let again = try CopyManager.open(stateDir)
        XCTAssertEqual(try again.enumJobs().map { $0.getId() }, [job.getId()])
        try again.close()
    }

    func testHttpErrorObject() throws {
        let m = try CopyManager.open(stateDir)
        defer { try? m.close() }
        let job = try m.createJob("404", .download)
        let cb = OnlyErrors()
        try job.setNotifyInterface(cb)
        try job.addFile(origin.url("sw-404", "status=404"), local("a.bin"))
        try job.resume()
        XCTAssertEqual(try job.wait(30_000), .error)
        XCTAssertEqual(cb.got.wait(timeout: .now() + 10), .success)
        let e = try job.getError()
        XCTAssertEqual(e.getError(), ErrorInfo(context: .remoteFile, code: 0x8019_0194, symbol: "HTTP_404"))
        XCTAssertEqual(try e.getProtocol(), "http")
        XCTAssertEqual(try e.getFile().getIndex(), 0)
        XCTAssertFalse(e.getErrorDescription().isEmpty)
        XCTAssertFalse(e.getErrorContextDescription().isEmpty)
        try job.cancel()
        XCTAssertEqual(try job.getState(), .cancelled)
    }

    func testSwiftIdioms() async throws {
        let m = try CopyManager.open(stateDir)
        defer { try? m.close() }
        let job = try m.createJob("idioms", files: [(origin.url("sw-id", "size=1000"), local("id.bin"))],
                                  priority: .high, description: "one call")
        XCTAssertEqual(try job.getPriority(), .high)
        XCTAssertEqual(try job.getDescription(), "one call")
        XCTAssertEqual(try job.state, .suspended)
        XCTAssertEqual(try m.getJob(job.uuid).getId(), job.getId())
        XCTAssertEqual(try job.files[0].localURL, URL(fileURLWithPath: local("id.bin")))
        try job.setNotifyFlags([.jobTransferred, .fileTransferred])
        XCTAssertEqual(try job.notifyFlagSet, [.jobTransferred, .fileTransferred])
        try job.setNoProgressTimeout(interval: 1.5) // rounds up to whole seconds
        XCTAssertEqual(try job.noProgressTimeout, 2)
        try job.resume()
        let state = try await job.wait(timeout: 30)
        XCTAssertEqual(state, .transferred)
        XCTAssertEqual(try job.complete(), .all)
        do {
            _ = try await m.download(from: URL(string: origin.url("sw-id-404", "status=404"))!,
                                     to: URL(fileURLWithPath: local("gone.bin")))
            XCTFail("a 404 downloaded")
        } catch let BgCopyError.Http(code, symbol, _, status) {
            XCTAssertEqual(code, 0x8019_0194)
            XCTAssertEqual(symbol, "HTTP_404")
            XCTAssertEqual(status, 404)
        }
    }
}
