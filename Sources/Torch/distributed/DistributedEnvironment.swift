import Foundation

/// Where this process sits in a multi-process run, read from the variables torchrun sets for each worker (and that
/// `dit launch`, Slurm scripts or a person can set the same way): RANK, LOCAL_RANK, WORLD_SIZE, LOCAL_WORLD_SIZE,
/// MASTER_ADDR, MASTER_PORT. Without WORLD_SIZE the process trains alone.
public struct DistributedEnvironment: Equatable, Sendable {
    public var rank = 0
    public var localRank = 0
    public var worldSize = 1
    public var localWorldSize = 1
    public var masterAddress = "127.0.0.1"
    public var masterPort = 29500
    /// Started by a launcher (WORLD_SIZE set): the process joins a group even alone, as under torchrun, so that
    /// a one-GPU machine runs the same NCCL path as several.
    public var isDistributed = false

    public static let single = DistributedEnvironment()

    public init() {}

    /// This process's launch variables.
    public static func current() throws -> DistributedEnvironment {
        try DistributedEnvironment(environment: ProcessInfo.processInfo.environment)
    }

    /// Reads the launcher's variables; a value that is missing or not a number is an error naming the variable.
    public init(environment: [String: String]) throws {
        guard let world = environment["WORLD_SIZE"], !world.isEmpty else { return }
        func integer(_ name: String, default value: Int? = nil, in range: ClosedRange<Int>) throws -> Int {
            guard let text = environment[name], !text.isEmpty else {
                if let value { return value }
                throw DistributedError("\(name) is not set; a multi-process run (WORLD_SIZE \(world)) needs RANK, "
                    + "WORLD_SIZE, MASTER_ADDR and MASTER_PORT, as torchrun and `dit launch` set them")
            }
            guard let n = Int(text.trimmingCharacters(in: .whitespaces)), range.contains(n) else {
                throw DistributedError("\(name)=\(text) is not an integer in \(range.lowerBound)...\(range.upperBound)")
            }
            return n
        }
        worldSize = try integer("WORLD_SIZE", in: 1...1 << 20)
        isDistributed = true
        rank = try integer("RANK", in: 0...worldSize - 1)
        localWorldSize = try integer("LOCAL_WORLD_SIZE", default: worldSize, in: 1...worldSize)
        localRank = try integer("LOCAL_RANK", default: rank % localWorldSize, in: 0...localWorldSize - 1)
        masterPort = try integer("MASTER_PORT", in: 1...65535)
        guard let address = environment["MASTER_ADDR"], !address.isEmpty else {
            throw DistributedError("MASTER_ADDR is not set; it names the machine of rank 0, which hosts the rendezvous")
        }
        masterAddress = address
    }

    /// Rank 0 writes checkpoints, logs and sample grids, and shows progress.
    public var isMain: Bool { rank == 0 }

    /// The device this rank trains on: a CUDA config puts each local rank on its own card, cuda:LOCAL_RANK.
    public func device(for configured: Device) -> Device {
        if case .cuda = configured, isDistributed { return .cuda(localRank) }
        return configured
    }

    /// Joins the other ranks (nil when training alone): NCCL on CUDA when torch has it, Gloo otherwise.
    public func processGroup(device: Device, timeout: Double) throws -> ProcessGroup? {
        guard isDistributed else { return nil }
        var backend = ProcessGroup.Backend.gloo
        if case .cuda = device, ProcessGroup.Backend.nccl.isAvailable { backend = .nccl }
        do {
            return try ProcessGroup(masterAddress: masterAddress, masterPort: masterPort, rank: rank,
                                    worldSize: worldSize, backend: backend, device: device, timeout: timeout)
        } catch {
            throw DistributedError("rank \(rank) of \(worldSize) could not join the process group at "
                + "\(masterAddress):\(masterPort) (\(backend.rawValue)): \(error)")
        }
    }
}

/// A failure of the multi-process machinery: a bad launch variable, a peer that is gone, a collective that timed out.
public struct DistributedError: Error, CustomStringConvertible, Sendable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
