import Foundation

/// Files written whole or not at all: the bytes go to a hidden temporary file beside the target (`.NAME.tmp-PID-R`),
/// are flushed to disk and renamed over it, so a crash leaves the previous version (checkpoints, configs, caches,
/// scores) and, at worst, a temporary that `removeLeftovers` recognises.
public enum AtomicFile {
    public static func write(_ data: Data, to url: URL) throws {
        let temp = url.deletingLastPathComponent()
            .appendingPathComponent(".\(url.lastPathComponent).tmp-\(getpid())-\(String(UInt32.random(in: .min ... .max), radix: 16))")
        let fd = open(temp.path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw FileError(path: url.path, "cannot write: \(String(cString: strerror(errno)))") }
        var failure: String?
        data.withUnsafeBytes { raw in
            var done = 0
            while done < raw.count {
                let n = Foundation.write(fd, raw.baseAddress! + done, raw.count - done)
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { failure = String(cString: strerror(errno)); return }
                done += n
            }
        }
        if failure == nil && fsync(fd) != 0 { failure = String(cString: strerror(errno)) }
        close(fd)
        if failure == nil && rename(temp.path, url.path) != 0 { failure = String(cString: strerror(errno)) }
        if let failure {
            unlink(temp.path)
            throw FileError(path: url.path, "cannot write: \(failure)")
        }
    }

    /// Deletes the temporaries of writers that were killed in `directory`: hidden files and folders whose name has
    /// one of `markers` (`.NAME.tmp-…`; checkpoints also set aside the step they replace as `.step-N.old-…`).
    public static func removeLeftovers(in directory: URL, markers: [String] = [".tmp-"]) {
        for name in (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        where name.hasPrefix(".") && markers.contains(where: name.contains) {
            try? FileManager.default.removeItem(at: directory.appendingPathComponent(name))
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
