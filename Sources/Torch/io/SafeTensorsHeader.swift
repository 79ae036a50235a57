import Core
// The safetensors header in both directions: the checks that turn the strict JSON reader's result (JSON.swift)
// into SafeTensorInfo entries, and the writer.

/// The largest header accepted, as in the reference implementation: it bounds what a hostile file makes us allocate.
let safeTensorsMaxHeaderLength = 100_000_000

extension DType {
    /// The dtype's code in a safetensors header.
    var safeTensorsName: String {
        switch self {
        case .float32: "F32"
        case .float64: "F64"
        case .float16: "F16"
        case .bfloat16: "BF16"
        case .int64: "I64"
        case .int32: "I32"
        case .int16: "I16"
        case .int8: "I8"
        case .uint8: "U8"
        case .bool: "BOOL"
        }
    }

    init?(safeTensorsName: String) {
        guard let match = DType.allCases.first(where: { $0.safeTensorsName == safeTensorsName }) else { return nil }
        self = match
    }
}

// MARK: Header checks

struct SafeTensorsHeader {
    var tensors: [String: SafeTensorInfo]
    var metadata: [String: String]

    /// Parses `bytes` and checks every entry against the data buffer of `bufferLength` bytes that follows it.
    /// `fail` builds the error (it knows the path).
    init(bytes: [UInt8], bufferLength: Int, fail: (String) -> FileError) throws(FileError) {
        let root: JSONValue
        do {
            root = try JSONValue.parse(bytes)  // UTF-8 checked first
        } catch {
            throw fail("header is not valid JSON: \(error.message) at byte \(error.offset) of the header")
        }
        guard case .object(let entries) = root else {
            throw fail("header must be a JSON object, found \(root.summary)")
        }

        metadata = [:]
        tensors = [:]
        for (name, entry) in entries {
            if name == "__metadata__" {
                guard case .object(let pairs) = entry else {
                    throw fail("\"__metadata__\" must be an object of string values, found \(entry.summary)")
                }
                for (key, value) in pairs {
                    guard case .string(let s) = value else {
                        throw fail("\"__metadata__\" value for key \"\(key)\" must be a string, found \(value.summary)")
                    }
                    metadata[key] = s
                }
            } else {
                tensors[name] = try Self.info(name: name, entry: entry, bufferLength: bufferLength, fail: fail)
            }
        }

        // The entries, ordered by offset, must tile the buffer exactly: no overlap (two tensors aliasing bytes),
        // no gap and no unclaimed tail (bytes no tensor accounts for).
        let ordered = tensors.sorted {
            ($0.value.dataOffsets.lowerBound, $0.value.dataOffsets.upperBound, $0.key)
                < ($1.value.dataOffsets.lowerBound, $1.value.dataOffsets.upperBound, $1.key)
        }
        var cursor = 0
        var previous: String?
        for (name, info) in ordered {
            let begin = info.dataOffsets.lowerBound
            if begin < cursor {
                throw fail("tensor \"\(name)\": data_offsets begin \(begin) overlaps tensor \"\(previous!)\", "
                    + "which ends at offset \(cursor)")
            }
            if begin > cursor {
                let after = previous.map { "tensor \"\($0)\", which ends at offset \(cursor)" } ?? "the buffer start"
                throw fail("tensor \"\(name)\": data_offsets begin \(begin) leaves a gap after \(after)")
            }
            cursor = info.dataOffsets.upperBound
            previous = name
        }
        guard cursor == bufferLength else {
            throw fail("tensors' data_offsets cover \(cursor) bytes but the data buffer holds \(bufferLength)")
        }
    }

    private static func info(name: String, entry: JSONValue, bufferLength: Int, fail: (String) -> FileError)
        throws(FileError) -> SafeTensorInfo
    {
        let tensor = "tensor \"\(name)\""
        guard case .object(let fields) = entry else {
            throw fail("\(tensor): entry must be an object, found \(entry.summary)")
        }
        guard let dtypeValue = fields["dtype"] else { throw fail("\(tensor): missing \"dtype\"") }
        guard case .string(let dtypeName) = dtypeValue else {
            throw fail("\(tensor): \"dtype\" must be a string, found \(dtypeValue.summary)")
        }
        guard let dtype = DType(safeTensorsName: dtypeName) else {
            let known = DType.allCases.map(\.safeTensorsName).joined(separator: ", ")
            throw fail("\(tensor): unknown dtype \"\(dtypeName)\" (supported: \(known))")
        }

        guard let shapeValue = fields["shape"] else { throw fail("\(tensor): missing \"shape\"") }
        guard case .array(let dims) = shapeValue else {
            throw fail("\(tensor): \"shape\" must be an array of non-negative integers, found \(shapeValue.summary)")
        }
        var shape: [Int] = []
        for (i, d) in dims.enumerated() {
            guard case .integer(let n) = d, n >= 0 else {
                throw fail("\(tensor): \"shape\"[\(i)] must be a non-negative integer, found \(d.summary)")
            }
            shape.append(n)
        }

        guard let offsetsValue = fields["data_offsets"] else { throw fail("\(tensor): missing \"data_offsets\"") }
        guard case .array(let offsets) = offsetsValue, offsets.count == 2,
              case .integer(let begin) = offsets[0], case .integer(let end) = offsets[1], begin >= 0, end >= 0
        else {
            let found = if case .array(let a) = offsetsValue { "[" + a.map(\.summary).joined(separator: ", ") + "]" }
                        else { offsetsValue.summary }
            throw fail("\(tensor): \"data_offsets\" must be two non-negative integers [begin, end], found \(found)")
        }
        guard begin <= end else { throw fail("\(tensor): data_offsets begin \(begin) is after end \(end)") }
        guard end <= bufferLength else {
            throw fail("\(tensor): data_offsets end \(end) is beyond the \(bufferLength)-byte data buffer")
        }

        // Checked products: a hostile shape like [2^40, 2^40] must fail here, not wrap around to a small size.
        var bytes = dtype.elementSize
        for n in shape {
            let (product, overflow) = bytes.multipliedReportingOverflow(by: n)
            guard !overflow else { throw fail("\(tensor): shape \(shape) overflows the byte count") }
            bytes = product
        }
        guard bytes == end - begin else {
            throw fail("\(tensor): data_offsets span \(end - begin) bytes but shape \(shape) of \(dtypeName) "
                + "needs \(bytes)")
        }
        return SafeTensorInfo(dtype: dtype, shape: shape, dataOffsets: begin..<end)
    }
}

// MARK: Header writing

/// The header JSON for `entries` (in file order), padded with spaces so that the data starts 8-byte aligned.
func encodeSafeTensorsHeader(_ entries: [(name: String, info: SafeTensorInfo)], metadata: [String: String])
    -> [UInt8]
{
    var json = "{"
    var members: [String] = []
    if !metadata.isEmpty {
        let pairs = metadata.sorted { $0.key < $1.key }.map { "\(JSONValue.quoted($0.key)):\(JSONValue.quoted($0.value))" }
        members.append("\"__metadata__\":{" + pairs.joined(separator: ",") + "}")
    }
    for (name, info) in entries {
        let shape = info.shape.map(String.init).joined(separator: ",")
        members.append("\(JSONValue.quoted(name)):{\"dtype\":\"\(info.dtype.safeTensorsName)\",\"shape\":[\(shape)],"
            + "\"data_offsets\":[\(info.dataOffsets.lowerBound),\(info.dataOffsets.upperBound)]}")
    }
    json += members.joined(separator: ",") + "}"
    var bytes = Array(json.utf8)
    bytes.append(contentsOf: repeatElement(UInt8(ascii: " "), count: (8 - bytes.count % 8) % 8))
    return bytes
}
