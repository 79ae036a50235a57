import Foundation

/// Free space on the file system that holds a path, checked before work that would otherwise fail hours later
/// (a checkpoint at step 80k on a full disk).
public enum DiskSpace {
    /// Bytes an unprivileged writer may still use on the file system of `url` (the nearest existing ancestor).
    public static func available(at url: URL) throws -> Int64 {
        let probe = nearestExistingAncestor(url)
        var info = statvfs()
        guard statvfs(probe.path, &info) == 0 else {
            throw FileError(path: probe.path, "cannot read the free disk space (errno \(errno))")
        }
        return Int64(info.f_bavail) * Int64(info.f_frsize)
    }

    /// Throws, naming `url`, when fewer than `bytes` are free for `purpose`.
    public static func require(_ bytes: Int64, at url: URL, for purpose: String) throws {
        let free = try available(at: url)
        guard free >= bytes else {
            throw FileError(path: url.path, "not enough free disk space for \(purpose): it needs about "
                + "\(megabytes(bytes)), \(megabytes(free)) are free. Free some space or choose another directory.")
        }
    }

    static func megabytes(_ bytes: Int64) -> String {
        String(format: "%.1f MB", Double(bytes) / 1_000_000)
    }
}

/// `url` itself when it exists, else its closest existing parent (`/` at worst): where a file system can be asked about
/// a path that is yet to be created.
func nearestExistingAncestor(_ url: URL) -> URL {
    var probe = url.standardizedFileURL
    while !FileManager.default.fileExists(atPath: probe.path) && probe.path != "/" {
        probe.deleteLastPathComponent()
    }
    return probe
}
