import ArgumentParser
import Core
import Foundation
import Torch

/// `dit info`: what this binary runs on.
struct Info: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print versions, the torch library path, devices and threads.")

    func run() throws {
        print("DiTKit       \(DiTKitVersion.string)")
        let torch = TorchInstallation.current
        print("torch        \(torch.version) (loaded; DiTKit was compiled against \(Runtime.torchVersion))")
        print("torch path   \(Runtime.torchLibraryPath ?? "unknown")")
        print("cuda build   \(torch.cudaBuild.map { "CUDA \($0)" } ?? "none (CPU-only torch)")")
        print("devices      \(Runtime.devices.map(\.description).joined(separator: ", "))")
        print("cuda         \(Runtime.cudaAvailable ? "available (\(Runtime.cudaDeviceCount) device(s))" : "not available")")
        if let driver = DevicePreflight.driver() {
            print("driver       NVIDIA \(driver.version)" + (driver.cudaVersion.map { ", CUDA up to \($0)" } ?? ""))
            for (i, gpu) in driver.gpus.enumerated() { print("gpu \(i)        \(gpu.name), \(gpu.memoryMiB) MiB") }
        }
        print("threads      \(Runtime.threads)")
    }
}
