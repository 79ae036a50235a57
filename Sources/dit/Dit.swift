import ArgumentParser
import Torch

@main
struct Dit: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dit",
        abstract: "DiTKit: train and sample text-to-image Diffusion Transformers in Swift on libtorch.",
        subcommands: [Info.self, Shapes.self, Noise.self, Plot.self, Prepare.self, Train.self, Launch.self, Generate.self, Eval.self, Explain.self, LabCommand.self, Export.self, Forward.self, Smoke.self]
    )

    /// `--resume` with no path after it means "the latest checkpoint", which the argument parser cannot express
    /// for an option that otherwise takes a value.
    static func main() {
        Runtime.lineBufferedOutput()
        main(normalized(Array(CommandLine.arguments.dropFirst())))
    }

    /// The arguments as the parser takes them (a bare `--resume` becomes `--resume-latest`).
    static func normalized(_ arguments: [String]) -> [String] {
        var arguments = arguments
        for i in arguments.indices where arguments[i] == "--resume"
            && (i + 1 == arguments.count || arguments[i + 1].hasPrefix("-")) {
            arguments[i] = "--resume-latest"
        }
        return arguments
    }
}
