import Core
import Foundation

/// One trainer per run directory: `.lock` holds the owner's pid and host. A second `dit train` on the same run is
/// refused (two writers would interleave checkpoints); a lock whose process is gone (a crash, a kill) is taken over.
public final class RunLock {
    let url: URL

    init(directory: URL) throws {
        url = directory.appendingPathComponent(".lock")
        let me = "\(getpid()) \(ProcessInfo.processInfo.hostName)"
        for _ in 0..<2 {
            let fd = open(url.path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
            if fd >= 0 {
                _ = me.withCString { write(fd, $0, strlen($0)) }
                close(fd)
                return
            }
            guard errno == EEXIST else { throw FileError(path: url.path, "cannot create the run lock (errno \(errno))") }
            let owner = (try? String(contentsOf: url, encoding: .utf8))?.split(separator: " ") ?? []
            let pid = owner.first.flatMap { Int32($0) }, host = owner.dropFirst().joined(separator: " ")
            if let pid, host == ProcessInfo.processInfo.hostName, Self.isRunning(pid) {
                throw FileError(path: directory.path, "another dit train (pid \(pid)) is training this run; wait for it "
                    + "or stop it (a lock left by a process that is gone is taken over by itself)")
            }
            if let pid, host != ProcessInfo.processInfo.hostName, !host.isEmpty {
                throw FileError(path: directory.path, "dit train on \(host) (pid \(pid)) holds this run; if it is gone, "
                    + "delete \(url.path)")
            }
            try? FileManager.default.removeItem(at: url)  // stale: its process is gone
        }
        throw FileError(path: url.path, "cannot take the run lock")
    }

    private var held = true

    deinit { if held { try? FileManager.default.removeItem(at: url) } }

    /// Forgets the lock without removing its file: its folder moved away (with the file, which the mover deletes),
    /// and deinit must leave alone whatever takes its place.
    func abandon() { held = false }

    /// The pid of the live `dit train` on this host holding `directory`'s lock, nil when none does (no lock, a stale
    /// one, or one held on another host): what `dit lab` calls a run that is training.
    public static func trainer(of directory: URL) -> Int32? {
        guard let text = try? String(contentsOf: directory.appendingPathComponent(".lock"), encoding: .utf8) else { return nil }
        let owner = text.split(separator: " ")
        guard let pid = owner.first.flatMap({ Int32($0) }),
              owner.dropFirst().joined(separator: " ") == ProcessInfo.processInfo.hostName, isRunning(pid) else { return nil }
        return pid
    }

    /// Whether `pid` is a live process. A killed trainer whose parent has not reaped it yet is a zombie: it still
    /// answers kill(pid, 0) but will never write again, so its lock is stale.
    static func isRunning(_ pid: Int32) -> Bool {
        guard kill(pid, 0) == 0 || errno == EPERM else { return false }
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return true }
        let state = stat[stat.index(after: close)...].drop { $0 == " " }.first
        return state != "Z" && state != "X"
    }
}
