import Foundation
import Support

/// A Hugging Face "imagefolder" dataset: image files beside a metadata.jsonl whose lines name each image
/// (`file_name`, relative to the folder) and its caption (`text` by default).
public struct ImageFolder {
    public struct Item: Sendable {
        public let file: URL
        public let caption: String
    }
    /// A metadata line or image that was left out, and why.
    public struct Skipped: Sendable, CustomStringConvertible {
        public let item: String
        public let reason: String
        public var description: String { "\(item): \(reason)" }
    }

    public let directory: URL
    public let items: [Item]
    public let skipped: [Skipped]

    /// Reads `directory/metadata.jsonl`. A missing or unreadable metadata file is an error; lines without a caption
    /// or whose image is missing are skipped and reported (image contents are checked when loaded).
    public init(directory: URL, captionColumn: String = "text") throws {
        self.directory = directory
        let metadata = directory.appendingPathComponent("metadata.jsonl")
        guard let data = FileManager.default.contents(atPath: metadata.path) else {
            throw FileError(path: metadata.path, "no metadata.jsonl: an imagefolder needs one line per image, "
                + #"like {"file_name": "0001.png", "text": "a red circle"}"#)
        }
        var items: [Item] = [], skipped: [Skipped] = []
        var seen = Set<String>()
        for (number, line) in String(decoding: data, as: UTF8.self).split(whereSeparator: \.isNewline).enumerated() {
            let where_ = "\(metadata.lastPathComponent) line \(number + 1)"
            guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
                skipped.append(Skipped(item: where_, reason: "not a JSON object"))
                continue
            }
            guard let name = object["file_name"] as? String, !name.isEmpty else {
                skipped.append(Skipped(item: where_, reason: "no file_name"))
                continue
            }
            guard let caption = object[captionColumn] as? String,
                  !caption.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
                skipped.append(Skipped(item: name, reason: "no caption in '\(captionColumn)'"))
                continue
            }
            let file = directory.appendingPathComponent(name)
            guard FileManager.default.fileExists(atPath: file.path) else {
                skipped.append(Skipped(item: name, reason: "image file not found"))
                continue
            }
            guard seen.insert(name).inserted else {
                skipped.append(Skipped(item: name, reason: "listed twice"))
                continue
            }
            items.append(Item(file: file, caption: caption))
        }
        guard !items.isEmpty else {
            throw FileError(path: metadata.path, "no usable images (\(skipped.count) lines skipped"
                + (skipped.first.map { ", e.g. \($0)" } ?? "") + ")")
        }
        self.items = items
        self.skipped = skipped
    }
}

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
