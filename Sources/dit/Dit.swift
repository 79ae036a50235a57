import ArgumentParser

@main
struct Dit: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dit",
        abstract: "DiTKit: train and sample text-to-image Diffusion Transformers in Swift on libtorch.",
        subcommands: [Info.self, Demo.self, Forward.self]
    )
}
