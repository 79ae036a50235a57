import Core
import Foundation
import Torch

/// One training image with every caption it has (COCO gives five; one is drawn per image per step).
public struct CaptionedImage: Sendable, Equatable {
    public let file: URL
    public var captions: [String]
}

/// A metadata row or image that was left out, and why; `reason` is what the skipped summary counts.
public struct SkippedItem: Codable, Sendable, CustomStringConvertible {
    public let item: String
    public let reason: String
    public init(item: String, reason: String) {
        self.item = item
        self.reason = reason
    }
    public var description: String { "\(item): \(reason)" }
}

/// A Hugging Face "imagefolder" dataset: image files beside a metadata.jsonl (or metadata.csv) whose rows name an
/// image (`file_name`, relative to the folder) and its caption (`text`): a string, or in JSON a list of strings.
/// A file named in several rows collects all their captions, as COCO-style data needs.
public struct ImageFolder {
    public let directory: URL
    public let items: [CaptionedImage]
    public let skipped: [SkippedItem]

    /// Reads `directory/metadata.jsonl` (else metadata.csv). A missing metadata file is an error; rows without a
    /// caption or whose image is missing are skipped and reported (image contents are checked when decoded).
    public init(directory: URL, imageColumn: String = "file_name", captionColumn: String = "text") throws {
        self.directory = directory
        let jsonl = directory.appendingPathComponent("metadata.jsonl"), csv = directory.appendingPathComponent("metadata.csv")
        let rows: [(where: String, row: [String: JSONValue]?)]
        let metadata: URL
        if let data = FileManager.default.contents(atPath: jsonl.path) {
            metadata = jsonl
            rows = Self.jsonLines(data).map { ("metadata.jsonl line \($0.line)", $0.row) }
        } else if let data = FileManager.default.contents(atPath: csv.path) {
            metadata = csv
            rows = try CSV.rows(Self.text(data), file: csv.path).enumerated().map { n, row in
                ("metadata.csv row \(n + 2)", row.mapValues { JSONValue.string($0) })
            }
        } else {
            throw FileError(path: jsonl.path, "no metadata.jsonl (or metadata.csv): an imagefolder needs one row per "
                + #"image, like {"\#(imageColumn)": "0001.jpg", "\#(captionColumn)": "a red circle"}"#)
        }
        var items: [CaptionedImage] = [], index: [String: Int] = [:], skipped: [SkippedItem] = []
        for (place, row) in rows {
            guard let row else { skipped.append(SkippedItem(item: place, reason: "not a JSON object")); continue }
            guard case .string(let name)? = row[imageColumn], !name.isEmpty else {
                skipped.append(SkippedItem(item: place, reason: "no \(imageColumn)"))
                continue
            }
            let captions = Self.strings(row[captionColumn]).filter { !$0.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty }
            guard !captions.isEmpty else {
                skipped.append(SkippedItem(item: name, reason: "no caption in '\(captionColumn)'"))
                continue
            }
            if let i = index[name] {
                items[i].captions += captions
                continue
            }
            let file = directory.appendingPathComponent(name)
            guard FileManager.default.fileExists(atPath: file.path) else {
                skipped.append(SkippedItem(item: name, reason: "image file not found"))
                continue
            }
            index[name] = items.count
            items.append(CaptionedImage(file: file, captions: captions))
        }
        guard !items.isEmpty else {
            throw FileError(path: metadata.path, "no usable images (\(skipped.count) rows skipped"
                + (skipped.first.map { ", e.g. \($0)" } ?? "") + ")")
        }
        self.items = items
        self.skipped = skipped
    }

    /// UTF-8 text without a byte-order mark (Excel's "CSV UTF-8" starts with one).
    /// The rows of a JSON Lines file read as metadata.jsonl is: lines end at "\n" only (JSON strings may hold U+2028
    /// and friends, which Swift also calls newlines), a byte-order mark and a trailing "\r" are dropped, blank lines
    /// skipped; each row with its line number (from 1), nil when the line is not a JSON object. The split is over
    /// Unicode scalars: "\r\n" is a single Swift Character, which a split on the Character "\n" never finds.
    public static func jsonLines(_ data: Data) -> [(line: Int, row: [String: JSONValue]?)] {
        lines(text(data)).enumerated().compactMap { n, raw in
            let line = raw.hasSuffix("\r") ? raw.dropLast() : Substring(raw)
            guard !line.allSatisfy(\.isWhitespace) else { return nil }
            let row: [String: JSONValue]? = if case .object(let o)? = try? JSONValue.parse(Array(line.utf8)) {
                Dictionary(o.members, uniquingKeysWith: { a, _ in a })
            } else { nil }
            return (n + 1, row)
        }
    }

    /// A caption cell as written: a string, or the strings of a list (anything else in it is ignored).
    public static func strings(_ value: JSONValue?) -> [String] {
        switch value {
        case .string(let s)?: [s]
        case .array(let list)?: list.compactMap { if case .string(let s) = $0 { s } else { nil } }
        default: []
        }
    }

    /// `text` cut at every "\n" scalar (a "\r" before it stays on the line).
    public static func lines(_ text: String) -> [String] {
        text.unicodeScalars.split(separator: "\n", omittingEmptySubsequences: false).map { String($0) }
    }

    static func text(_ data: Data) -> String {
        let text = String(decoding: data, as: UTF8.self)
        return text.hasPrefix("\u{FEFF}") ? String(text.dropFirst()) : text
    }
}

/// RFC 4180 CSV (quoted fields, doubled quotes, newlines inside quotes): rows as header → value.
enum CSV {
    static func rows(_ text: String, file: String) throws -> [[String: String]] {
        var records: [[String]] = [], field = "", record: [String] = [], quoted = false
        var chars = Array(text.unicodeScalars)[...]
        while let c = chars.popFirst() {
            if quoted {
                if c == "\"" {
                    if chars.first == "\"" { field.unicodeScalars.append(chars.removeFirst()) } else { quoted = false }
                } else {
                    field.unicodeScalars.append(c)
                }
            } else if c == "\"" && field.isEmpty {
                quoted = true
            } else if c == "," {
                record.append(field)
                field = ""
            } else if c == "\n" || c == "\r" {
                if c == "\r" && chars.first == "\n" { chars.removeFirst() }
                record.append(field)
                if record != [""] { records.append(record) }
                (field, record) = ("", [])
            } else {
                field.unicodeScalars.append(c)
            }
        }
        guard !quoted else { throw FileError(path: file, "a quoted field is not closed") }
        if !field.isEmpty || !record.isEmpty { records.append(record + [field]) }
        guard let header = records.first else { throw FileError(path: file, "empty: expected a header row") }
        return records.dropFirst().map { Dictionary(zip(header, $0), uniquingKeysWith: { a, _ in a }) }
    }
}
