import Foundation

/// Writes TensorBoard event files (TFRecord-framed `Event` protocol buffers) that the `tensorboard` package reads:
/// scalars and PNG images. Each record is flushed as written, so a crash loses at most the record in flight.
public final class TensorBoardWriter {
    public let url: URL
    private let handle: FileHandle

    /// Creates `directory` and a new `events.out.tfevents.<time>.<host>.<pid>` file in it.
    public init(directory: URL) throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let host = ProcessInfo.processInfo.hostName.replacingOccurrences(of: "/", with: "_")
        url = directory.appendingPathComponent(
            "events.out.tfevents.\(Int(Date().timeIntervalSince1970)).\(host).\(getpid())")
        guard FileManager.default.createFile(atPath: url.path, contents: nil),
              let h = FileHandle(forWritingAtPath: url.path) else {
            throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: url.path])
        }
        handle = h
        var event = ProtoWriter()
        event.double(1, Date().timeIntervalSince1970)
        event.string(3, "brain.Event:2")
        try write(event.bytes)
    }

    deinit { try? handle.close() }

    public func scalar(_ tag: String, _ value: Double, step: Int) throws {
        var v = ProtoWriter()
        v.string(1, tag)
        v.float(2, Float(value))
        try summary(v.bytes, step: step)
    }

    /// An image summary from PNG bytes.
    public func image(_ tag: String, png: [UInt8], width: Int, height: Int, step: Int) throws {
        var img = ProtoWriter()
        img.varint(1, UInt64(height))
        img.varint(2, UInt64(width))
        img.varint(3, 3)  // RGB
        img.bytes(4, png)
        var v = ProtoWriter()
        v.string(1, tag)
        v.message(4, img.bytes)
        try summary(v.bytes, step: step)
    }

    private func summary(_ value: [UInt8], step: Int) throws {
        var s = ProtoWriter()
        s.message(1, value)
        var event = ProtoWriter()
        event.double(1, Date().timeIntervalSince1970)
        event.varint(2, UInt64(bitPattern: Int64(step)))
        event.message(5, s.bytes)
        try write(event.bytes)
    }

    /// TFRecord framing: length, masked CRC-32C of the length, data, masked CRC-32C of the data.
    private func write(_ data: [UInt8]) throws {
        var record = [UInt8]()
        record.reserveCapacity(data.count + 16)
        let length = withUnsafeBytes(of: UInt64(data.count).littleEndian) { Array($0) }
        record += length
        record += withUnsafeBytes(of: CRC32C.masked(length).littleEndian) { Array($0) }
        record += data
        record += withUnsafeBytes(of: CRC32C.masked(data).littleEndian) { Array($0) }
        try handle.write(contentsOf: record)
        try handle.synchronize()
    }
}

/// Protocol-buffer wire encoding, just what event files need.
struct ProtoWriter {
    var bytes: [UInt8] = []

    mutating func rawVarint(_ v: UInt64) {
        var v = v
        while v >= 0x80 {
            bytes.append(UInt8(v & 0x7F) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(v))
    }
    mutating func key(_ field: Int, _ wireType: UInt64) { rawVarint(UInt64(field) << 3 | wireType) }
    mutating func varint(_ field: Int, _ v: UInt64) { key(field, 0); rawVarint(v) }
    mutating func double(_ field: Int, _ v: Double) {
        key(field, 1)
        bytes += withUnsafeBytes(of: v.bitPattern.littleEndian) { Array($0) }
    }
    mutating func float(_ field: Int, _ v: Float) {
        key(field, 5)
        bytes += withUnsafeBytes(of: v.bitPattern.littleEndian) { Array($0) }
    }
    mutating func bytes(_ field: Int, _ data: [UInt8]) {
        key(field, 2)
        rawVarint(UInt64(data.count))
        bytes += data
    }
    mutating func string(_ field: Int, _ s: String) { bytes(field, Array(s.utf8)) }
    mutating func message(_ field: Int, _ m: [UInt8]) { bytes(field, m) }
}

/// CRC-32C (Castagnoli), as TFRecord uses, with TensorFlow's masking.
enum CRC32C {
    static let table: [UInt32] = (0..<256).map { i -> UInt32 in
        var c = UInt32(i)
        for _ in 0..<8 { c = c & 1 != 0 ? (c >> 1) ^ 0x82F6_3B78 : c >> 1 }
        return c
    }

    static func checksum(_ data: [UInt8]) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for b in data { crc = table[Int((crc ^ UInt32(b)) & 0xFF)] ^ (crc >> 8) }
        return crc ^ 0xFFFF_FFFF
    }

    static func masked(_ data: [UInt8]) -> UInt32 {
        let c = checksum(data)
        return ((c >> 15) | (c << 17)) &+ 0xA282_EAD8
    }
}
