import Foundation

/// Checks, before any data or model is loaded, that a device can be used: for CUDA, that the loaded torch is a CUDA
/// build, that a GPU is visible and that the driver is new enough for the torch's CUDA. A failure names the torch that
/// was found, what is needed and the fix, instead of the 49 lines of dispatcher table libtorch prints on the first
/// CUDA tensor.
public enum DevicePreflight {
    /// What `nvidia-smi` reports: the driver, the newest CUDA it supports and each GPU with its memory.
    public struct Driver: Sendable {
        public let version: String
        public let cudaVersion: String?
        public let gpus: [(name: String, memoryMiB: Int)]
    }

    /// Throws a `DeviceError` when `device` cannot run here.
    public static func check(_ device: Device) throws {
        guard case .cuda(let index) = device else { return }
        let torch = TorchInstallation.current
        let found = "the torch at \(torch.path) (\(torch.version))"
        guard let cuda = torch.cudaBuild, Runtime.cudaBuilt else {
            throw DeviceError("\(device) needs a CUDA build of torch, but \(found) is CPU-only. Install PyPI's default "
                + "(CUDA) torch into the Python that `make` uses, or point TORCH_PREFIX at one, then run `make` again "
                + "(scripts/bootstrap.sh records it); or train on the CPU with run.device: cpu / --device cpu.")
        }
        let count = Runtime.cudaDeviceCount
        if count > index { return }
        let reason: String
        if count > 0 {
            reason = "only \(count) GPU(s) are visible (cuda:0…cuda:\(count - 1))"
        } else if let driver = Self.driver() {
            if let supported = driver.cudaVersion, versionLess(supported, cuda) {
                reason = "the NVIDIA driver \(driver.version) supports CUDA up to \(supported), and \(found) is built "
                    + "for CUDA \(cuda): update the driver, or install a torch built for CUDA \(supported) or older"
            } else {
                reason = "nvidia-smi sees \(driver.gpus.count) GPU(s) but torch sees none: check CUDA_VISIBLE_DEVICES"
                    + (ProcessInfo.processInfo.environment["CUDA_VISIBLE_DEVICES"].map { " (now \"\($0)\")" } ?? "")
                    + " and that the container was started with GPU access"
            }
        } else {
            reason = "no NVIDIA driver answers (nvidia-smi is missing or fails): install the driver (on WSL2, the "
                + "Windows NVIDIA driver; nothing inside Linux), and check `nvidia-smi` works"
        }
        throw DeviceError("\(device) cannot be used: \(reason). Torch found: \(torch.path) (\(torch.version), CUDA "
            + "\(cuda)).")
    }

    /// The driver as `nvidia-smi` reports it, or nil when it is missing or fails.
    public static func driver() -> Driver? {
        guard let summary = run(["nvidia-smi"]) else { return nil }
        let cudaVersion = summary.range(of: #"CUDA Version:\s*[0-9.]+"#, options: .regularExpression)
            .map { String(summary[$0].split(separator: ":")[1]).trimmingCharacters(in: .whitespaces) }
        guard let table = run(["nvidia-smi", "--query-gpu=name,memory.total,driver_version",
                               "--format=csv,noheader,nounits"]) else { return nil }
        var version = "unknown"
        let gpus = table.split(separator: "\n").compactMap { line -> (String, Int)? in
            let fields = line.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            guard fields.count == 3 else { return nil }
            version = fields[2]
            return (fields[0], Int(fields[1]) ?? 0)
        }
        return Driver(version: version, cudaVersion: cudaVersion, gpus: gpus.map { (name: $0.0, memoryMiB: $0.1) })
    }

    /// Standard output of a program found on PATH, or nil when it cannot run or fails.
    static func run(_ arguments: [String]) -> String? {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        guard (try? process.run()) != nil else { return nil }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return process.terminationStatus == 0 ? String(decoding: data, as: UTF8.self) : nil
    }

    /// "12.4" < "13.0", numerically part by part.
    static func versionLess(_ a: String, _ b: String) -> Bool {
        let x = a.split(separator: ".").map { Int($0) ?? 0 }, y = b.split(separator: ".").map { Int($0) ?? 0 }
        for i in 0..<max(x.count, y.count) where (i < x.count ? x[i] : 0) != (i < y.count ? y[i] : 0) {
            return (i < x.count ? x[i] : 0) < (i < y.count ? y[i] : 0)
        }
        return false
    }
}

/// A device that cannot be used here, with what was found and the fix.
public struct DeviceError: Error, CustomStringConvertible, Sendable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
