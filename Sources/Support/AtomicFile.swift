import Foundation

/// Files written whole or not at all: Foundation writes a temporary file beside the target and renames it, so a
/// crash leaves the previous version (checkpoints, configs, caches, scores).
public enum AtomicFile {
    public static func write(_ data: Data, to url: URL) throws {
        do {
            try data.write(to: url, options: .atomic)
        } catch {
            throw FileError(path: url.path, "cannot write: \(error.localizedDescription)")
        }
    }

    public static func write(_ text: String, to url: URL) throws { try write(Data(text.utf8), to: url) }

    /// `value` as pretty-printed JSON with sorted keys and a final newline (manifests, trainer state, scores).
    public static func writeJSON<T: Encodable>(_ value: T, to url: URL) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        try write(try encoder.encode(value) + Data("\n".utf8), to: url)
    }
}
