import Foundation
import Testing
@testable import Torch

/// Tests/Fixtures, written by python/make_fixtures.py.
let fixturesDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("Fixtures")

func fixture(_ name: String) throws -> [String: Tensor] {
    try SafeTensors.load(fixturesDirectory.appendingPathComponent(name).path)
}

extension Dictionary where Key == String, Value == Tensor {
    /// The tensor under `key`, or a test failure naming it.
    func tensor(_ key: String) throws -> Tensor {
        guard let t = self[key] else { throw TorchError("fixture has no tensor '\(key)'") }
        return t
    }
}

/// max |a − b| over all elements, compared in float64.
func maxAbsDiff(_ a: Tensor, _ b: Tensor) throws -> Double {
    #expect(a.shape == b.shape, "shapes differ: \(a.shape) vs \(b.shape)")
    return try (a.to(.float64) - b.to(.float64)).abs().max().item()
}

/// A fresh temporary directory, removed by the caller.
func temporaryDirectory() throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("ditkit-test-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}
