import Core
import Datasets
import Foundation

/// Writes the captioned-shapes data as an imagefolder (PNG files + metadata.jsonl with `file_name`, `text` and the
/// attributes, so evaluation can check them).
public enum ShapesDatasetWriter {
    /// `holdout` lists "color shape" pairs (e.g. "red circle") that never appear, for generalisation tests.
    @discardableResult
    public static func write(to directory: URL, count: Int, seed: UInt64 = 0, side: Int = 32, chinese: Bool = false,
                             holdout: [String] = []) throws -> [ShapeAttributes] {
        let held = try parseHoldout(holdout)
        let pool = ShapeAttributes.all.filter { !held.contains(HoldoutKey(color: $0.color, shape: $0.shape)) }
        guard count > 0, side >= 12 else { throw FileError(path: directory.path, "need count > 0 and side >= 12") }
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        var rng = SplitMix64(seed: seed)
        var lines: [String] = [], written: [ShapeAttributes] = []
        // Every combination once per pass, shuffled, so small datasets stay balanced.
        var order: [ShapeAttributes] = []
        for i in 0..<count {
            if order.isEmpty { order = pool.shuffled(using: &rng) }
            let a = order.removeLast()
            let name = String(format: "%06d.png", i)
            try PNG.write(a.render(side: side), to: directory.appendingPathComponent(name))
            let record: [String: Any] = ["file_name": name, "text": a.caption(chinese: chinese), "color": a.color.rawValue,
                                         "shape": a.shape.rawValue, "position": a.position.name, "size": a.size.rawValue]
            let json = try JSONSerialization.data(withJSONObject: record, options: [.sortedKeys])
            lines.append(String(decoding: json, as: UTF8.self))
            written.append(a)
        }
        try AtomicFile.write(lines.joined(separator: "\n") + "\n",
                                           to: directory.appendingPathComponent("metadata.jsonl"))
        return written
    }

    public struct HoldoutKey: Hashable, Sendable {
        public let color: ShapeColor, shape: ShapeKind
        public init(color: ShapeColor, shape: ShapeKind) { self.color = color; self.shape = shape }
    }

    public static func parseHoldout(_ specs: [String]) throws -> Set<HoldoutKey> {
        Set(try specs.map { spec in
            let words = spec.lowercased().split(separator: " ").map(String.init)
            guard words.count == 2, let c = ShapeColor(rawValue: words[0]), let s = ShapeKind(rawValue: words[1]) else {
                throw FileError(path: "--holdout", "'\(spec)' is not 'COLOR SHAPE' (colors: "
                    + ShapeColor.allCases.map(\.rawValue).joined(separator: ", ") + "; shapes: "
                    + ShapeKind.allCases.map(\.rawValue).joined(separator: ", ") + ")")
            }
            return HoldoutKey(color: c, shape: s)
        })
    }
}
