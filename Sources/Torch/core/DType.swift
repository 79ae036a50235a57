import CTorch

/// Element types; raw values are the shim's dtype codes.
public enum DType: Int32, Sendable, CaseIterable, CustomStringConvertible {
    case float32 = 0, float64, float16, bfloat16, int64, int32, uint8, bool, int8, int16

    public var elementSize: Int {
        switch self {
        case .float64, .int64: return 8
        case .float32, .int32: return 4
        case .float16, .bfloat16, .int16: return 2
        case .uint8, .bool, .int8: return 1
        }
    }

    public var isFloatingPoint: Bool { [.float32, .float64, .float16, .bfloat16].contains(self) }

    public var description: String {
        switch self {
        case .float32: "float32"
        case .float64: "float64"
        case .float16: "float16"
        case .bfloat16: "bfloat16"
        case .int64: "int64"
        case .int32: "int32"
        case .uint8: "uint8"
        case .bool: "bool"
        case .int8: "int8"
        case .int16: "int16"
        }
    }

    /// Parses PyTorch-style names ("float32", "bf16", "half", ...), as used in configs.
    public init?(name: String) {
        switch name.lowercased() {
        case "float32", "float", "fp32", "f32": self = .float32
        case "float64", "double", "fp64", "f64": self = .float64
        case "float16", "half", "fp16", "f16": self = .float16
        case "bfloat16", "bf16": self = .bfloat16
        case "int64", "long", "i64": self = .int64
        case "int32", "int", "i32": self = .int32
        case "uint8", "u8": self = .uint8
        case "bool": self = .bool
        case "int8", "i8": self = .int8
        case "int16", "i16": self = .int16
        default: return nil
        }
    }
}

/// Swift scalar types that map one-to-one onto a tensor dtype.
public protocol TensorElement: Sendable {
    static var dtype: DType { get }
}
extension Float: TensorElement { public static var dtype: DType { .float32 } }
extension Double: TensorElement { public static var dtype: DType { .float64 } }
extension Int64: TensorElement { public static var dtype: DType { .int64 } }
extension Int: TensorElement { public static var dtype: DType { .int64 } }
extension Int32: TensorElement { public static var dtype: DType { .int32 } }
extension Int16: TensorElement { public static var dtype: DType { .int16 } }
extension Int8: TensorElement { public static var dtype: DType { .int8 } }
extension UInt8: TensorElement { public static var dtype: DType { .uint8 } }
extension Bool: TensorElement { public static var dtype: DType { .bool } }
#if !(os(macOS) && arch(x86_64))
extension Float16: TensorElement { public static var dtype: DType { .float16 } }
#endif
