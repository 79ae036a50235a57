import ArgumentParser
import Core
import Course
import Datasets
import Foundation
import Recipe

/// `dit noise IMAGE --output strip.png`: the forward diffusion process on one image (docs/01's figure).
struct Noise: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show the forward process: one image noised at several timesteps, in a row.")

    @Argument(help: "A PNG or JPEG image.") var image: String
    @Option(help: "Where to write the strip (PNG).") var output: String
    @Option(help: "Comma-separated timesteps in 0..<1000.") var timesteps = "0,100,250,500,750,999"
    @Option(help: "epsilon (DDPM's variance-preserving noising) or flow (straight line to noise).")
    var objective = TrainConfig.Objective.epsilon
    @Option(help: "β schedule of the epsilon objective: linear, scaled_linear or squaredcos_cap_v2.") var betaSchedule = "linear"
    @Option(help: "Side the image is resized and cropped to.") var size = 64
    @Option(help: "Seed of the noise.") var seed: UInt64 = 0

    func run() throws {
        let steps = timesteps.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !steps.isEmpty, steps.allSatisfy({ $0.map { (0..<1000).contains($0) } ?? false }) else {
            throw ValidationError("--timesteps must be comma-separated integers in 0..<1000, got '\(timesteps)'")
        }
        guard (8...1024).contains(size) else { throw ValidationError("--size must be in 8...1024") }
        guard TrainConfig.betaSchedules.contains(betaSchedule) else {
            throw ValidationError("--beta-schedule must be one of: " + TrainConfig.betaSchedules.joined(separator: ", "))
        }
        let stripURL = try OutputLocation.file(output, option: "--output")
        var process = TrainConfig.Scheduler()
        (process.objective, process.betaSchedule) = (objective, betaSchedule)
        let scheduler = try Components.trainingScheduler(process, pixelSpace: true)
        let result = try NoiseStrip.render(try RGBImage(contentsOf: URL(fileURLWithPath: image)), size: size,
                                           scheduler: scheduler, timesteps: steps.compactMap { $0 }, seed: seed)
        try PNG.write(result.strip, to: stripURL)
        print("wrote \(output): \(steps.count) columns, \(objective.rawValue)"
            + (objective == .flow ? "" : " (\(betaSchedule) β)"))
    }
}
