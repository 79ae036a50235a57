import Foundation

/// Training progress: a redrawn bar on a terminal, plain lines (every `logEvery` steps) when output is a pipe or
/// file, so CI logs stay readable.
public final class ProgressDisplay {
    let total: Int
    let interactive: Bool
    let logEvery: Int
    let start = Date()
    var startStep: Int
    /// Training: images per optimizer step over all ranks, shown as images/s.
    let imagesPerStep: Int?
    /// What is counted: "step" (training) or "images" (`dit prepare`).
    let unit: String

    public init(total: Int, startStep: Int = 0, logEvery: Int, imagesPerStep: Int? = nil, unit: String = "step") {
        self.total = total
        self.imagesPerStep = imagesPerStep
        self.unit = unit
        self.startStep = startStep
        self.logEvery = max(1, logEvery)
        interactive = isatty(STDOUT_FILENO) != 0 && ProcessInfo.processInfo.environment["TERM"] != "dumb"
    }

    /// Seconds-per-step based rate since this display began.
    public func rate(at step: Int) -> Double {
        let elapsed = Date().timeIntervalSince(start)
        return elapsed > 0 ? Double(step - startStep) / elapsed : 0
    }

    /// `loss`: the last one read back (training reads it on logging steps only); nil before the first shows "…".
    public func update(step: Int, loss: Double?, lr: Double) {
        let images = imagesPerStep.map { String(format: "%.1f img/s  ", rate(at: step) * Double($0)) } ?? ""
        let shown = loss.map { String(format: "%.4f", $0) } ?? "…"
        draw(step: step, stats: "loss \(shown)  " + String(format: "lr %.2e  ", lr) + images + speed(at: step, unit: "it"))
    }

    /// Progress counted in `unit`s (`dit prepare`: images).
    public func update(done: Int, unit: String) { draw(step: done, stats: speed(at: done, unit: unit)) }

    private func speed(at step: Int, unit: String) -> String {
        let perSec = rate(at: step)
        let eta = perSec > 0 ? Double(total - step) / perSec : 0
        return String(format: "%.2f %@/s  ETA %@", perSec, unit, Self.clock(eta))
    }

    private func draw(step: Int, stats: String) {
        if interactive {
            let width = 30, filled = total > 0 ? width * step / total : width
            let bar = String(repeating: "█", count: filled) + String(repeating: "·", count: width - filled)
            FileHandle.standardOutput.write(Data("\r\u{1B}[2K[\(bar)] \(step)/\(total)  \(stats)".utf8))
            if step == total { FileHandle.standardOutput.write(Data("\n".utf8)) }
        } else if step % logEvery == 0 || step == total {
            print("\(unit) \(step)/\(total)  \(stats)")
        }
    }

    /// A line that must not be overwritten by the bar.
    public func message(_ text: String) {
        if interactive { FileHandle.standardOutput.write(Data("\r\u{1B}[2K".utf8)) }
        print(text)
    }

    static func clock(_ seconds: Double) -> String {
        guard seconds.isFinite, seconds >= 0 else { return "--:--" }
        let s = Int(seconds)
        return s >= 3600 ? String(format: "%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60) : String(format: "%02d:%02d", s / 60, s % 60)
    }
}
