import ArgumentParser
import Datasets
import Foundation
import Pipeline
import Schedulers

/// `dit noise IMAGE --output strip.png`: the forward diffusion process on one image (docs/01's figure).
struct Noise: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show the forward process: one image noised at several timesteps, in a row.")

    @Argument(help: "A PNG or JPEG image.") var image: String
    @Option(help: "Where to write the strip (PNG).") var output: String
    @Option(help: "Comma-separated timesteps in 0..<1000.") var timesteps = "0,100,250,500,750,999"
    @Option(help: "epsilon (DDPM's variance-preserving noising) or flow (straight line to noise).") var objective = "epsilon"
    @Option(help: "β schedule of the epsilon objective: linear, scaled_linear or squaredcos_cap_v2.") var betaSchedule = "linear"
    @Option(help: "Side the image is resized and cropped to.") var size = 64
    @Option(help: "Seed of the noise.") var seed: UInt64 = 0

    func run() throws {
        let steps = timesteps.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !steps.isEmpty, steps.allSatisfy({ $0.map { (0..<1000).contains($0) } ?? false }) else {
            throw ValidationError("--timesteps must be comma-separated integers in 0..<1000, got '\(timesteps)'")
        }
        guard ["epsilon", "flow"].contains(objective) else { throw ValidationError("--objective is epsilon or flow") }
        guard (8...1024).contains(size) else { throw ValidationError("--size must be in 8...1024") }
        let scheduler: any NoiseScheduler
        if objective == "flow" {
            scheduler = try FlowMatchEulerDiscreteScheduler(FlowMatchEulerDiscreteSchedulerConfig())
        } else {
            var c = DDPMFamilyConfig(className: DDPMScheduler.className)
            c.betaSchedule = betaSchedule
            scheduler = try DDPMScheduler(c)
        }
        let result = try NoiseStrip.render(try RGBImage(contentsOf: URL(fileURLWithPath: image)), size: size,
                                           scheduler: scheduler, timesteps: steps.compactMap { $0 }, seed: seed)
        try PNG.write(result.strip, to: URL(fileURLWithPath: output))
        print("wrote \(output): \(steps.count) columns, \(objective)" + (objective == "epsilon" ? " (\(betaSchedule) β)" : ""))
    }
}
