import ArgumentParser
import Foundation
import Training

/// `dit launch --nproc-per-node N [--nnodes M --node-rank R --master-addr A --master-port P] -- train --config …`:
/// torchrun's job for DiTKit. It starts this machine's N workers of `dit <command>`, passes Ctrl-C on, and stops
/// them all when one fails.
struct Launch: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Start the workers of a multi-process run on this machine (like torchrun).",
        discussion: "Example: dit launch --nproc-per-node 2 -- train --config configs/tiny-cpu.yaml")

    @Option(help: "Workers on this machine (one per GPU on CUDA).") var nprocPerNode: Int
    @Option(help: "Machines in the run.") var nnodes = 1
    @Option(help: "This machine's index, 0 on the machine that hosts the rendezvous.") var nodeRank = 0
    @Option(help: "Address of the machine with node rank 0.") var masterAddr = "127.0.0.1"
    @Option(help: "Rendezvous port on that machine (default: a free port; needed with --nnodes above 1).")
    var masterPort: Int?
    @Option(help: "Seconds the workers get to exit after one failed or after Ctrl-C, before they are killed.")
    var stopTimeout = 30.0
    @Argument(parsing: .postTerminator, help: "The dit command each worker runs, after --.") var command: [String] = []

    func validate() throws {
        guard !command.isEmpty else { throw ValidationError("give the workers' command after --, e.g. -- train --config FILE") }
        guard nprocPerNode >= 1 else { throw ValidationError("--nproc-per-node must be at least 1") }
    }

    func run() throws {
        var launcher = WorkerLauncher(nprocPerNode: nprocPerNode)
        launcher.nnodes = nnodes
        launcher.nodeRank = nodeRank
        launcher.masterAddress = masterAddr
        launcher.masterPort = masterPort
        launcher.stopTimeout = stopTimeout
        let executable = Bundle.main.executablePath ?? CommandLine.arguments[0]
        let status = try launcher.run(executable: executable, arguments: command) {
            FileHandle.standardError.write(Data(($0 + "\n").utf8))
        }
        if status != 0 { throw ExitCode(status) }
    }
}
