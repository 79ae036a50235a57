import ArgumentParser
import Core
import Foundation
import Torch

/// `dit info`: what this binary runs on.
struct Info: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print versions, the torch library path, devices and threads.")

    func run() throws {
        print("DiTKit       \(DiTKitVersion.string)")
        print("libtorch     \(Runtime.torchVersion)")
        print("torch path   \(Runtime.torchLibraryPath ?? "unknown")")
        print("devices      \(Runtime.devices.map(\.description).joined(separator: ", "))")
        print("cuda         \(Runtime.cudaAvailable ? "available (\(Runtime.cudaDeviceCount) device(s))" : "not available")")
        print("threads      \(Runtime.threads)")
    }
}
