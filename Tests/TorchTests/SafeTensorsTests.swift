import Core
import Foundation
import TestSupport
import Testing
@testable import Torch

/// Runs `body` with a fresh directory that is removed afterwards (a closure rather than a class with a deinit,
/// whose early release could delete the directory mid-test).
private func withTempDir(_ body: (String) throws -> Void) throws {
    let path = NSTemporaryDirectory() + "/safetensors-tests-" + UUID().uuidString
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: path) }
    try body(path)
}

private func writeBytes(_ bytes: [UInt8], to path: String) throws {
    try Data(bytes).write(to: URL(fileURLWithPath: path))
}

private func readBytes(_ path: String) throws -> [UInt8] {
    [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
}

private func le64(_ v: UInt64) -> [UInt8] { (0..<8).map { UInt8(truncatingIfNeeded: v >> (8 * $0)) } }

/// A file whose length prefix matches `header`, followed by `dataBytes` zero bytes.
private func file(_ header: String, data dataBytes: Int = 0) -> [UInt8] {
    le64(UInt64(header.utf8.count)) + Array(header.utf8) + [UInt8](repeating: 0, count: dataBytes)
}

/// A one-tensor header for tensor "w" with the given JSON field texts.
private func entry(dtype: String = "\"F32\"", shape: String = "[2]", offsets: String = "[0,8]") -> String {
    #"{"w":{"dtype":\#(dtype),"shape":\#(shape),"data_offsets":\#(offsets)}}"#
}

struct Malformed: Sendable, CustomTestStringConvertible {
    let name: String
    let bytes: [UInt8]
    /// Substrings the error's description must contain.
    let expected: [String]
    var testDescription: String { name }
    init(_ name: String, _ bytes: [UInt8], _ expected: String...) {
        self.name = name
        self.bytes = bytes
        self.expected = expected
    }
}

private let malformedFiles: [Malformed] = [
    Malformed("empty file", [], "too short", "header length"),
    Malformed("seven bytes", [8, 0, 0, 0, 0, 0, 0], "too short"),
    Malformed("header length 0", le64(0) + Array("{}".utf8), "header length is 0"),
    Malformed("header length past the end", le64(100) + Array("{}".utf8), "header length 100"),
    Malformed("header length over 100 MB", le64(200_000_000) + Array("{}".utf8), "header length", "limit"),
    Malformed("header length UInt64.max", le64(.max) + Array("{}".utf8), "header length"),
    Malformed("header not UTF-8", le64(4) + [0x7B, 0x22, 0xFF, 0x7D], "header", "UTF-8"),
    Malformed("truncated JSON", file(#"{"w":"#), "header", "JSON"),
    Malformed("data after the JSON object", file("{} x"), "JSON", "after"),
    Malformed("unterminated string", file(#"{"w}"#), "JSON", "unterminated"),
    Malformed("control character in a string", file("{\"w\u{1}\":{}}"), "JSON", "control"),
    Malformed("lone UTF-16 surrogate", file(#"{"\ud800":{}}"#), "JSON", "surrogate"),
    Malformed("deep nesting", file(String(repeating: "[", count: 10_000)), "JSON", "nesting"),
    Malformed("number with a leading zero", file(entry(shape: "[02]"), data: 8), "JSON", "leading zero"),
    Malformed("duplicate tensor name", file(#"{"w":{},"w":{}}"#), "duplicate", "\"w\""),
    Malformed("header is an array", file("[1,2]"), "header", "object"),
    Malformed("entry is not an object", file(#"{"w":5}"#), "\"w\"", "object"),
    Malformed("missing dtype", file(#"{"w":{"shape":[2],"data_offsets":[0,8]}}"#, data: 8), "\"w\"", "dtype"),
    Malformed("dtype not a string", file(entry(dtype: "4"), data: 8), "\"w\"", "dtype"),
    Malformed("unknown dtype", file(entry(dtype: "\"F8_E4M3\""), data: 8), "\"w\"", "dtype", "F8_E4M3"),
    Malformed("missing shape", file(#"{"w":{"dtype":"F32","data_offsets":[0,8]}}"#, data: 8), "\"w\"", "shape"),
    Malformed("shape not an array", file(entry(shape: "2"), data: 8), "\"w\"", "shape"),
    Malformed("negative dimension", file(entry(shape: "[-2]"), data: 8), "\"w\"", "shape", "-2"),
    Malformed("fractional dimension", file(entry(shape: "[1.5]"), data: 8), "\"w\"", "shape", "1.5"),
    Malformed("dimension written 2.0", file(entry(shape: "[2.0]"), data: 8), "\"w\"", "shape", "2.0"),
    Malformed("string dimension", file(entry(shape: #"["2"]"#), data: 8), "\"w\"", "shape"),
    Malformed("boolean dimension", file(entry(shape: "[true]"), data: 4), "\"w\"", "shape", "true"),
    Malformed("null dimension", file(entry(shape: "[null]"), data: 4), "\"w\"", "shape", "null"),
    Malformed("missing data_offsets", file(#"{"w":{"dtype":"F32","shape":[2]}}"#, data: 8), "\"w\"", "data_offsets"),
    Malformed("three data_offsets", file(entry(offsets: "[0,4,8]"), data: 8), "\"w\"", "data_offsets"),
    Malformed("negative data_offsets", file(entry(offsets: "[-8,0]"), data: 8), "\"w\"", "data_offsets"),
    Malformed("data_offsets in exponent form", file(entry(offsets: "[0,8e0]"), data: 8), "\"w\"", "data_offsets"),
    Malformed("data_offsets not an array", file(entry(offsets: "8"), data: 8), "\"w\"", "data_offsets"),
    Malformed("begin after end", file(entry(shape: "[0]", offsets: "[8,0]"), data: 8), "\"w\"", "offsets", "begin 8"),
    Malformed("end beyond the buffer", file(entry(shape: "[4]", offsets: "[0,16]"), data: 8), "\"w\"", "beyond"),
    Malformed("byte length mismatch", file(entry(shape: "[3]"), data: 8), "\"w\"", "8 bytes", "12"),
    Malformed("element count overflow", file(entry(shape: "[4294967296,4294967296]"), data: 8), "\"w\"", "overflow"),
    Malformed(
        "overlapping tensors",
        file(#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#,
             data: 12),
        "\"b\"", "overlaps", "\"a\""),
    Malformed(
        "gap between tensors",
        file(#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[12,20]}}"#,
             data: 20),
        "\"b\"", "gap", "\"a\""),
    Malformed("gap at the buffer start", file(entry(offsets: "[4,12]"), data: 12), "\"w\"", "gap"),
    Malformed("bytes no tensor covers", file(entry(), data: 12), "data_offsets", "cover 8", "12"),
    Malformed("data but no tensors", file("{}", data: 4), "cover 0", "4"),
    Malformed("metadata not an object", file(#"{"__metadata__":["x"]}"#), "__metadata__", "object"),
    Malformed("metadata value not a string", file(#"{"__metadata__":{"k":1}}"#), "__metadata__", "\"k\"", "string"),
]

@Suite struct SafeTensorsTests {
    @Test(arguments: malformedFiles)
    func rejectsMalformedFile(_ c: Malformed) throws {
        try withTempDir { dir in
            let path = dir + "/bad.safetensors"
            try writeBytes(c.bytes, to: path)
            let error = #expect(throws: FileError.self) { _ = try SafeTensorsFile(path) }
            guard let error else { return }
            #expect(error.path == path)
            for s in c.expected { #expect(error.description.contains(s), "\(error)") }
        }
    }

    @Test func roundTripsEveryDType() throws {
        let floats: [Float] = [0.5, -1.25, 256, 1.0 / 64, 0, -3]  // exact in float16 and bfloat16 alike
        let tensors: [String: Tensor] = [
            "f32": try Tensor([1.5, -2, 3.25, 0, 1e-3, .infinity] as [Float], shape: [2, 3]),
            "f64": try Tensor([1.0 / 3, -1e300, 2] as [Double], shape: [3, 1]),
            "f16": try Tensor(floats, shape: [3, 2]).to(.float16),
            "bf16": try Tensor(floats, shape: [6]).to(.bfloat16),
            "i64": try Tensor([.min, -1, 0, .max] as [Int64], shape: [2, 2]),
            "i32": try Tensor([.min, 7, .max] as [Int32], shape: [3]),
            "i16": try Tensor([.min, 0, .max] as [Int16], shape: [1, 3]),
            "i8": try Tensor([-128, 5, 127] as [Int8], shape: [3]),
            "u8": try Tensor([0, 200, 255] as [UInt8], shape: [3]),
            "bool": try Tensor([true, false, true] as [Bool], shape: [3, 1]),
            "scalar": try Tensor([42] as [Float], shape: []),
            "empty": try Tensor([] as [Float], shape: [0]),
            "empty3d": try Tensor([] as [Int64], shape: [2, 0, 3]),
            "transposed": try Tensor((0..<6).map(Float.init), shape: [2, 3]).transposed(0, 1),
        ]
        let metadata = ["format": "pt", "note": "quote \" backslash \\ newline \n tab \t ünïcödé \u{1}"]
        try withTempDir { dir in
            let path = dir + "/all.safetensors"
            try SafeTensors.save(tensors, metadata: metadata, to: path)

            let file = try SafeTensorsFile(path)
            #expect(file.names == tensors.keys.sorted())
            #expect(file.metadata == metadata)
            #expect(file.info("scalar") == SafeTensorInfo(dtype: .float32, shape: [], dataOffsets: 128..<132))
            #expect(file.info("missing") == nil)
            #expect(throws: FileError.self) { _ = try file.tensor("missing") }

            let loaded = try SafeTensors.load(path)
            #expect(Set(loaded.keys) == Set(tensors.keys))
            for (name, original) in tensors {
                let copy = try #require(loaded[name])
                #expect(copy.dtype == original.dtype, "\(name)")
                #expect(copy.shape == original.shape, "\(name)")
                #expect(copy.device == .cpu)
                #expect(try copy.bytes() == original.bytes(), "\(name)")
                #expect(file.info(name)?.dataOffsets.count == original.count * original.dtype.elementSize)
            }
            func values<T: TensorElement & Equatable>(_ name: String, _: T.Type) throws -> [T] {
                try #require(loaded[name]).toArray(T.self)
            }
            #expect(try values("f32", Float.self) == [1.5, -2, 3.25, 0, 1e-3, .infinity])
            #expect(try values("f64", Double.self) == [1.0 / 3, -1e300, 2])
            #expect(try #require(loaded["f16"]).to(.float32).floats() == floats)
            #expect(try #require(loaded["bf16"]).to(.float32).floats() == floats)
            #expect(try values("i64", Int64.self) == [.min, -1, 0, .max])
            #expect(try values("i32", Int32.self) == [.min, 7, .max])
            #expect(try values("i16", Int16.self) == [.min, 0, .max])
            #expect(try values("i8", Int8.self) == [-128, 5, 127])
            #expect(try values("u8", UInt8.self) == [0, 200, 255])
            #expect(try values("bool", Bool.self) == [true, false, true])
            #expect(try values("scalar", Float.self) == [42])
            #expect(try values("empty", Float.self) == [])
            #expect(try values("transposed", Float.self) == [0, 3, 1, 4, 2, 5])
        }
    }

    @Test func layoutIsAlignedAndSortedByName() throws {
        try withTempDir { dir in
            let path = dir + "/layout.safetensors"
            try SafeTensors.save(["b": Tensor([1, 2] as [Int16]), "a": Tensor([7] as [UInt8])], to: path)
            let bytes = try readBytes(path)
            let n = Int(bytes[0..<8].reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) })
            #expect(n % 8 == 0)
            #expect(bytes.count == 8 + n + 1 + 4)
            let header = String(decoding: bytes[8..<8 + n], as: UTF8.self)
            let json = #"{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"#
                + #""b":{"dtype":"I16","shape":[2],"data_offsets":[1,5]}}"#
            #expect(header == json + String(repeating: " ", count: n - json.utf8.count))
            #expect(Array(bytes[(8 + n)...]) == [7, 1, 0, 2, 0])
        }
    }

    @Test func emptyDictionaryRoundTrips() throws {
        try withTempDir { dir in
            let path = dir + "/none.safetensors"
            try SafeTensors.save([:], to: path)
            #expect(try readBytes(path) == le64(8) + Array("{}      ".utf8))
            #expect(try SafeTensors.load(path).isEmpty)
        }
    }

    @Test func saveReplacesAtomically() throws {
        try withTempDir { dir in
            let path = dir + "/model.safetensors"
            try SafeTensors.save(["old": Tensor([1, 2] as [Float])], to: path)
            try SafeTensors.save(["new": Tensor([3, 4, 5] as [Int32])], metadata: ["v": "2"], to: path)
            let file = try SafeTensorsFile(path)
            #expect(file.names == ["new"])
            #expect(file.metadata == ["v": "2"])
            #expect(try file.tensor("new").toArray(Int32.self) == [3, 4, 5])
            let before = try readBytes(path)

            let t = try Tensor([9] as [Float])
            let reserved = #expect(throws: FileError.self) { try SafeTensors.save(["__metadata__": t], to: path) }
            #expect(reserved?.description.contains("__metadata__") == true)
            #expect(throws: FileError.self) { try SafeTensors.save(["": t], to: path) }
            #expect(throws: FileError.self) { try SafeTensors.save(["x": t], to: dir + "/missing/m.safetensors") }
            #expect(throws: FileError.self) { try SafeTensors.save(["x": t], to: dir + "/") }
            // A directory in the way fails only at the rename, after the temporary file was fully written.
            let blocked = dir + "/blocked.safetensors"
            try FileManager.default.createDirectory(atPath: blocked, withIntermediateDirectories: false)
            let renameError = #expect(throws: FileError.self) { try SafeTensors.save(["x": t], to: blocked) }
            #expect(renameError?.description.contains("rename") == true)

            #expect(try readBytes(path) == before)
            let leftovers = try FileManager.default.contentsOfDirectory(atPath: dir)
            #expect(leftovers.sorted() == ["blocked.safetensors", "model.safetensors"])
        }
    }

    @Test func rejectsInvalidBoolBytes() throws {
        try withTempDir { dir in
            let path = dir + "/bool.safetensors"
            var bytes = file(#"{"m":{"dtype":"BOOL","shape":[2],"data_offsets":[0,2]}}"#, data: 2)
            bytes[bytes.count - 1] = 2
            try writeBytes(bytes, to: path)
            let file = try SafeTensorsFile(path)
            let error = #expect(throws: FileError.self) { _ = try file.tensor("m") }
            #expect(error?.description.contains("\"m\"") == true)
        }
    }

    @Test(.enabled(if: Runtime.cudaAvailable)) func loadsOntoCUDA() throws {
        try withTempDir { dir in
            let path = dir + "/cuda.safetensors"
            try SafeTensors.save(["w": Tensor([1, 2, 3, 4] as [Float], shape: [2, 2]).to(.bfloat16)], to: path)
            let w = try SafeTensorsFile(path).tensor("w", device: .cuda)
            #expect(w.device == .cuda(0))
            #expect(w.dtype == .bfloat16)
            #expect(try w.to(.float32).floats() == [1, 2, 3, 4])
            // And back: save reads CUDA tensors through a CPU copy.
            try SafeTensors.save(["w": w], to: path)
            #expect(try SafeTensors.load(path)["w"]?.to(.float32).floats() == [1, 2, 3, 4])
        }
    }

    /// Written by Python's safetensors (Tests/Fixtures/make_fixtures.py).
    @Test func readsPythonFixture() throws {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/python_dtypes.safetensors").path
        let file = try SafeTensorsFile(path)
        #expect(file.names == ["bf16", "bool", "f16", "f32", "f64", "i16", "i32", "i64", "i8", "u8"])
        #expect(file.metadata == ["format": "pt", "source": "make_fixtures.py"])
        let t = try file.loadAll()
        func check<T: TensorElement & Equatable>(_ name: String, _ dtype: DType, _ shape: [Int], _ expected: [T]) throws {
            let x = try #require(t[name])
            #expect(x.dtype == dtype, "\(name)")
            #expect(x.shape == shape, "\(name)")
            #expect(try x.toArray(T.self) == expected, "\(name)")
        }
        let eighths = (0..<12).map { Float($0) / 8 }
        try check("f32", .float32, [3, 4], eighths)
        try check("f64", .float64, [3, 4], eighths.map(Double.init))
        for (name, dtype) in [("f16", DType.float16), ("bf16", .bfloat16)] {
            let x = try #require(t[name])
            #expect(x.dtype == dtype && x.shape == [3, 4], "\(name)")
            #expect(try x.to(.float32).floats() == eighths, "\(name)")
        }
        let signed = Array(-3..<3)
        try check("i64", .int64, [6], signed.map(Int64.init))
        try check("i32", .int32, [2, 3], signed.map(Int32.init))
        try check("i16", .int16, [6], signed.map(Int16.init))
        try check("i8", .int8, [6], signed.map(Int8.init))
        try check("u8", .uint8, [6], (0..<6).map(UInt8.init))
        try check("bool", .bool, [6], [true, false, true, true, false, false])
    }
}
