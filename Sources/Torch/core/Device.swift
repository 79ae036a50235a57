import CTorch

/// Where a tensor lives. CUDA exists only when the torch build has it (see `Runtime.cudaAvailable`).
public enum Device: Equatable, Hashable, Sendable, CustomStringConvertible {
    case cpu
    case cuda(Int)
    /// PyTorch's meta device: tensors with shapes and dtypes but no data. Mixing a CPU tensor into meta math fails
    /// exactly as it would with CUDA, so tests on a machine without a GPU catch wrong-device mistakes with it.
    case meta

    public static let cuda = Device.cuda(0)

    var typeCode: Int32 {
        switch self {
        case .cpu: Int32(CT_CPU)
        case .cuda: Int32(CT_CUDA)
        case .meta: Int32(CT_META)
        }
    }

    var index: Int32 {
        switch self {
        case .cpu, .meta: -1
        case .cuda(let i): Int32(i)
        }
    }

    public var description: String {
        switch self {
        case .cpu: "cpu"
        case .cuda(let i): "cuda:\(i)"
        case .meta: "meta"
        }
    }

    /// Parses "cpu", "cuda", "cuda:1".
    public init?(name: String) {
        let lower = name.lowercased()
        if lower == "cpu" { self = .cpu; return }
        if lower == "cuda" { self = .cuda(0); return }
        // libtorch stores device indices in an int8.
        if lower.hasPrefix("cuda:"), let i = Int(lower.dropFirst(5)), (0...127).contains(i) { self = .cuda(i); return }
        return nil
    }
}

/// A device is written as its name ("cpu", "cuda:1") in configs.
extension Device: Codable {
    public init(from decoder: Decoder) throws {
        let name = try decoder.singleValueContainer().decode(String.self)
        guard let device = Device(name: name) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath,
                                                    debugDescription: "'\(name)' is not a device (expected cpu, cuda or cuda:N)"))
        }
        self = device
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}
