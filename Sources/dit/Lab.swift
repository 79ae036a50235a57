import ArgumentParser
import Foundation
import Lab
import Torch

/// `dit lab [RUNS_DIR]`: a local web page over the runs under a folder (status, curves, sample grids, live while
/// they train) and a playground for their checkpoints (generation streamed step by step, per-word attention).
struct LabCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lab",
        abstract: "A local web page: watch runs train, try their checkpoints, see each step and each word's attention.")

    @Argument(help: "The folder of runs (each a dit train run directory).") var runsDir = "runs"
    @Option(help: "Port to listen on (0: any free port).") var port = 7860
    @Option(help: "Address to listen on; 127.0.0.1 keeps the page to this machine.") var host = "127.0.0.1"
    @Option(help: "cpu, cuda or cuda:N for generation (default: each run's run.device when it works here, else cpu).")
    var device: Device?

    func validate() throws {
        guard (0...65535).contains(port) else { throw ValidationError("--port must be between 0 and 65535") }
    }

    func run() throws {
        // The server is async; the rest of dit is not. The main thread waits here until the server stops.
        let outcome = Outcome()
        let done = DispatchSemaphore(value: 0)
        Task {
            do { try await serve() } catch { outcome.error = error }
            done.signal()
        }
        done.wait()
        if let error = outcome.error {
            // NIO's bind error reads "bind(descriptor:ptr:bytes:): Address already in use (errno: 98)".
            if "\(error)".contains("Address already in use") {
                throw ValidationError("port \(port) on \(host) is in use (another dit lab?): choose another with --port, "
                    + "or --port 0 for any free one")
            }
            throw error
        }
    }

    final class Outcome: @unchecked Sendable { var error: (any Error)? }

    func serve() async throws {
        let root = URL(fileURLWithPath: runsDir).standardizedFileURL
        var folder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: root.path, isDirectory: &folder), folder.boolValue else {
            throw ValidationError("\(runsDir): no such folder (train a run first, e.g. make demo, or name the folder of runs)")
        }
        if let device { try DevicePreflight.check(device) }
        let host = self.host
        try await LabServer.run(root: root, host: host, port: port, device: device) { port in
            let reach = ["127.0.0.1", "localhost", "::1"].contains(host)
                ? "only from this machine" : "from other machines too (--host \(host))"
            print("DiTKit Lab: http://\(host.contains(":") ? "[\(host)]" : host):\(port)/ serving \(root.path), reachable \(reach); Ctrl-C stops it")
        }
    }
}
