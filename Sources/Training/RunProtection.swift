import Core
import Foundation
import Recipe

/// What `dit train` may do to a run directory that already holds checkpoints. A trained run is never replaced or
/// pruned by accident: a fresh start there is refused (naming the checkpoints and the ways on), `--overwrite` moves
/// the old run aside instead of deleting it, and a resume from a checkpoint that is not the run's latest must say so
/// with `--overwrite`, which moves the later checkpoints aside. Decided before anything loads; carried out (`setAside`)
/// by the process that holds the run, just before it writes.
public struct RunProtection: Sendable {
    /// What has to move before the run writes: the whole earlier run, or the checkpoints after the resumed one.
    public enum Move: Sendable, Equatable {
        case run(from: URL, to: URL)
        case checkpoints([URL], to: URL)
    }

    public let move: Move?

    /// `resume` nil: a fresh run (also `--init-from`). Throws a `TrainingError` that names the checkpoints in the way.
    public init(runDirectory: URL, resume: URL?, overwrite: Bool, now: Date = Date()) throws {
        let checkpoints = Checkpoint.list(runDirectory.appendingPathComponent("checkpoints"))
        let names = { (list: [(step: Int, url: URL)]) in list.map { $0.url.lastPathComponent }.joined(separator: ", ") }
        let stamp = Self.stamp(now)
        let aside = Self.freeName(runDirectory.deletingLastPathComponent()
            .appendingPathComponent("\(runDirectory.lastPathComponent).before-\(stamp)"))
        // A resume from another run's checkpoint starts this folder afresh, as far as its checkpoints are concerned.
        let ownCheckpoints = runDirectory.appendingPathComponent("checkpoints").standardizedFileURL.path
        let fromElsewhere = resume.map { $0.standardizedFileURL.deletingLastPathComponent().path != ownCheckpoints } ?? true
        if fromElsewhere {
            guard let latest = checkpoints.last else {
                // No checkpoints: nothing is replaced, but --overwrite also moves an earlier run's logs and grids aside.
                let leftovers = ((try? FileManager.default.contentsOfDirectory(atPath: runDirectory.path)) ?? [])
                    .filter { !$0.hasPrefix(".") }
                move = overwrite && !leftovers.isEmpty ? .run(from: runDirectory, to: aside) : nil
                return
            }
            guard overwrite else {
                throw TrainingError("\(runDirectory.path) already holds a trained run (checkpoints \(names(checkpoints))): "
                    + (resume.map { "training on from \($0.path) there" } ?? "a fresh `dit train` there")
                    + " would replace it, so nothing was started. Continue it with --resume (from "
                    + "\(latest.url.lastPathComponent)), give the new run another name (--run-name NAME, or run.name in the "
                    + "config), or add --overwrite to move the old run aside to \(aside.path) (nothing is deleted).")
            }
            move = .run(from: runDirectory, to: aside)
            return
        }
        guard let resume else { move = nil; return }
        // Checkpoints of this run beyond the one resumed from: training on would interleave with them.
        let resumedStep = Checkpoint.state(of: resume)?.step ?? Int.max
        let newer = checkpoints.filter { $0.step > resumedStep && $0.url.standardizedFileURL != resume.standardizedFileURL }
        guard !newer.isEmpty else { move = nil; return }
        let later = Self.freeName(runDirectory.appendingPathComponent("checkpoints.after-step-\(resumedStep)-\(stamp)"))
        guard overwrite else {
            throw TrainingError("\(resume.path) is not the latest checkpoint of \(runDirectory.path): "
                + "\(names(newer)) came later, and training on from step \(resumedStep) would mix with them, so nothing "
                + "was started. Resume from the latest with a bare --resume, or, to go on from step \(resumedStep) "
                + "anyway, add --overwrite: the later checkpoints move to \(later.path) (nothing is deleted).")
        }
        move = .checkpoints(newer.map(\.url), to: later)
    }

    /// Carries out the move; returns a line that says what went where.
    public func setAside() throws -> String? {
        switch move {
        case nil:
            return nil
        case .run(let from, let to)?:
            // Nobody may be training the old run while it moves.
            let lock = try RunLock(directory: from)
            try Self.rename(from, to)
            lock.abandon()
            try? FileManager.default.removeItem(at: to.appendingPathComponent(".lock"))
            return "moved the earlier run \(from.path) aside to \(to.path)"
        case .checkpoints(let urls, let to)?:
            try FileManager.default.createDirectory(at: to, withIntermediateDirectories: true)
            for url in urls { try Self.rename(url, to.appendingPathComponent(url.lastPathComponent)) }
            return "moved the later checkpoints " + urls.map(\.lastPathComponent).joined(separator: ", ")
                + " aside to \(to.path)"
        }
    }

    static func rename(_ from: URL, _ to: URL) throws {
        guard Foundation.rename(from.path, to.path) == 0 else {
            throw FileError(path: from.path, "cannot move it aside to \(to.path) (\(String(cString: strerror(errno))))")
        }
    }

    static func stamp(_ date: Date) -> String {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.dateFormat = "yyyyMMdd-HHmmss"
        return f.string(from: date)
    }

    /// `url`, or `url-2`, `url-3`, … when it is taken (two moves within a second).
    static func freeName(_ url: URL) -> URL {
        var candidate = url, n = 2
        while FileManager.default.fileExists(atPath: candidate.path) {
            candidate = url.deletingLastPathComponent().appendingPathComponent("\(url.lastPathComponent)-\(n)")
            n += 1
        }
        return candidate
    }
}
