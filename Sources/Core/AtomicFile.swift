import Foundation

/// Files written whole or not at all: the bytes go to a hidden temporary file beside the target (`.NAME.tmp-PID-R`),
/// are flushed to disk and renamed over it, so a crash leaves the previous version (checkpoints, configs, caches,
/// scores) and, at worst, a temporary that `removeLeftovers` recognises.
public enum AtomicFile {
    /// Writes `url` whole through `body`, which streams the bytes (a safetensors file tensor by tensor, never a second
    /// copy of all of them in memory). An error from `body` or from the disk leaves `url` as it was.
    public static func write(to url: URL, _ body: (Writer) throws -> Void) throws {
        let name = url.lastPathComponent
        guard !name.isEmpty, name != ".", name != "..", !url.path.hasSuffix("/") else {
            throw FileError(path: url.path, "does not name a file")
        }
        let temp = url.deletingLastPathComponent()
            .appendingPathComponent(".\(name).tmp-\(getpid())-\(String(UInt32.random(in: .min ... .max), radix: 16))")
        let fd = open(temp.path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw FileError(path: url.path, "cannot write: \(errnoText())") }
        do {
            try body(Writer(fd: fd, path: url.path))
            guard fsync(fd) == 0 else { throw FileError(path: url.path, "cannot write: \(errnoText())") }
        } catch {
            close(fd)
            unlink(temp.path)
            throw error
        }
        close(fd)
        guard rename(temp.path, url.path) == 0 else {
            let reason = errnoText()
            unlink(temp.path)
            throw FileError(path: url.path, "cannot rename the written temporary file into place: \(reason)")
        }
        // Best effort: persist the directory entry too, so the rename survives a power loss.
        let directory = open(url.deletingLastPathComponent().path, O_RDONLY | O_CLOEXEC)
        if directory >= 0 {
            _ = fsync(directory)
            close(directory)
        }
    }

    /// The open temporary file of `write(to:_:)`.
    public struct Writer {
        let fd: Int32
        let path: String

        /// Appends `count` bytes at `bytes` (write(2) may take fewer per call; interrupted calls are retried).
        public func write(_ bytes: UnsafeRawPointer, count: Int) throws {
            var done = 0
            while done < count {
                let n = Foundation.write(fd, bytes + done, count - done)
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else { throw FileError(path: path, "cannot write: \(errnoText())") }
                done += n
            }
        }

        public func write(_ data: Data) throws {
            try data.withUnsafeBytes { raw in
                if let base = raw.baseAddress { try write(base, count: raw.count) }
            }
        }
    }

    public static func write(_ data: Data, to url: URL) throws {
        try write(to: url) { try $0.write(data) }
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

/// The C library's text for the current errno.
func errnoText() -> String { String(cString: strerror(errno)) }
