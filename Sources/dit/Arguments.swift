import ArgumentParser
import Torch
import Recipe

// Values the commands parse: a bad one is a usage error that names the choices.

extension Device: ExpressibleByArgument {
    public init?(argument: String) { self.init(name: argument) }
    public static var allValueStrings: [String] { ["cpu", "cuda", "cuda:N"] }
}

extension TrainConfig.Sampler: ExpressibleByArgument {}
extension TrainConfig.Objective: ExpressibleByArgument {}
