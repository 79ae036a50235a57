import Core
import Foundation
import Recipe
import Training

/// What the lab's Runs page shows of each run under the runs folder, read fresh on every request so it follows a
/// run while it trains (and survives one being deleted or a checkpoint being half-written meanwhile).
struct RunSummary: Encodable, Sendable {
    let name: String
    /// "training" (a live `dit train` holds its lock), "finished" (its last checkpoint is at max_steps), "interrupted"
    /// or "not started".
    let status: String
    let step: Int
    let maxSteps: Int?
    /// Optimizer steps per second as last logged, and the seconds left at that rate (training runs only).
    let rate: Double?
    let eta: Double?
    let checkpoints: [Int]
    /// Sample grids (samples/step-N.png), by step.
    let samples: [Int]
    let config: String
    /// Why the config could not be read, if it could not.
    let problem: String?
}

enum RunCatalog {
    /// Every folder under `root` holding a config.yaml, by name.
    static func runs(in root: URL) -> [RunSummary] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: root.path)) ?? []
        return names.sorted().compactMap { name in
            guard !name.hasPrefix("."), let dir = SafePath.run(name, under: root),
                  FileManager.default.fileExists(atPath: dir.appendingPathComponent("config.yaml").path) else { return nil }
            return summary(name: name, directory: dir)
        }
    }

    static func summary(name: String, directory: URL) -> RunSummary {
        let text = (try? String(contentsOf: directory.appendingPathComponent("config.yaml"), encoding: .utf8)) ?? ""
        var maxSteps: Int?, problem: String?
        do { maxSteps = try TrainConfig.ofRun(directory).training.maxSteps } catch { problem = "\(error)" }
        let checkpoints = Checkpoint.list(directory.appendingPathComponent("checkpoints")).map(\.step).sorted()
        let scalars = self.scalars(directory)
        let logged = scalars["train/loss"]?.last?.step ?? 0
        let step = max(checkpoints.last ?? 0, logged)
        let training = RunLock.trainer(of: directory) != nil
        let rate = training ? scalars["train/it_per_sec"]?.last?.value : nil
        let eta = both(rate, maxSteps).flatMap { r, m in r > 0 ? Double(max(0, m - step)) / r : nil }
        let status = training ? "training"
            : (maxSteps.map { (checkpoints.last ?? 0) >= $0 } ?? false) ? "finished"
            : (checkpoints.isEmpty && logged == 0) ? "not started" : "interrupted"
        return RunSummary(name: name, status: status, step: step, maxSteps: maxSteps, rate: rate, eta: eta,
                          checkpoints: checkpoints, samples: sampleSteps(directory), config: text, problem: problem)
    }

    /// The run's TensorBoard scalars by tag (empty when it has no event files yet).
    static func scalars(_ directory: URL) -> [String: [(step: Int, value: Double)]] {
        (try? TensorBoardReader.scalars(in: directory.appendingPathComponent("logs"))) ?? [:]
    }

    /// Steps of samples/step-N.png, ascending.
    static func sampleSteps(_ directory: URL) -> [Int] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.appendingPathComponent("samples").path)) ?? []
        return names.compactMap { name -> Int? in
            guard name.hasPrefix("step-"), name.hasSuffix(".png") else { return nil }
            return Int(name.dropFirst(5).dropLast(4))
        }.sorted()
    }
}

private func both<A, B>(_ a: A?, _ b: B?) -> (A, B)? {
    guard let a, let b else { return nil }
    return (a, b)
}
