import Core
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

// The safetensors format: an 8-byte little-endian header length N, N bytes of UTF-8 JSON describing every tensor
// ({"name": {"dtype", "shape", "data_offsets": [begin, end]}} plus an optional "__metadata__" of strings), then
// the data buffer, which the entries tile exactly. Tensor bytes are little-endian, as are the hosts we run on, so
// they are copied without conversion.

/// One tensor's entry in a safetensors header.
public struct SafeTensorInfo: Equatable, Sendable {
    public let dtype: DType
    public let shape: [Int]
    /// The tensor's bytes within the data buffer (which begins right after the header).
    public let dataOffsets: Range<Int>
}

/// An open safetensors file whose header has been read and checked; tensors are read on demand, each straight
/// into its own tensor's memory, so a large checkpoint never needs a second copy in RAM.
public final class SafeTensorsFile: Sendable {
    public let path: String
    public let metadata: [String: String]
    /// Tensor names, sorted.
    public let names: [String]
    private let infos: [String: SafeTensorInfo]
    private let dataStart: Int
    // Held for the object's lifetime; pread carries its own offset, so concurrent reads need no lock.
    private let fd: Int32

    public init(_ path: String) throws {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw FileError(path: path, "cannot open: \(errnoText())") }
        let parsed: (header: SafeTensorsHeader, dataStart: Int)
        do {
            parsed = try Self.readHeader(fd: fd, path: path)
        } catch {
            close(fd)
            throw error
        }
        self.path = path
        self.fd = fd
        self.infos = parsed.header.tensors
        self.metadata = parsed.header.metadata
        self.names = parsed.header.tensors.keys.sorted()
        self.dataStart = parsed.dataStart
    }

    deinit { close(fd) }

    private static func readHeader(fd: Int32, path: String) throws(FileError)
        -> (header: SafeTensorsHeader, dataStart: Int)
    {
        func fail(_ message: String) -> FileError { FileError(path: path, message) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw fail("cannot stat: \(errnoText())") }
        guard st.st_mode & S_IFMT == S_IFREG else { throw fail("not a regular file") }
        let fileSize = Int(st.st_size)
        guard fileSize >= 8 else { throw fail("file is \(fileSize) bytes, too short for the 8-byte header length") }

        var prefix: UInt64 = 0
        if let e = withUnsafeMutableBytes(of: &prefix, { preadFully(fd, $0.baseAddress!, 8, at: 0) }) {
            throw fail("cannot read the header length: \(e)")
        }
        let length = UInt64(littleEndian: prefix)
        guard length > 0 else { throw fail("header length is 0") }
        guard length <= UInt64(safeTensorsMaxHeaderLength) else {
            throw fail("header length \(length) exceeds the limit of \(safeTensorsMaxHeaderLength) bytes")
        }
        guard length <= UInt64(fileSize - 8) else {
            throw fail("header length \(length) is larger than the \(fileSize - 8) bytes after the length prefix")
        }
        let n = Int(length)
        var error: String?
        let bytes = [UInt8](unsafeUninitializedCapacity: n) { buffer, initialized in
            error = preadFully(fd, buffer.baseAddress!, n, at: 8)
            initialized = error == nil ? n : 0
        }
        if let error { throw fail("cannot read the header: \(error)") }
        let header = try SafeTensorsHeader(bytes: bytes, bufferLength: fileSize - 8 - n, fail: fail)
        return (header, 8 + n)
    }

    public func info(_ name: String) -> SafeTensorInfo? { infos[name] }

    /// Reads one tensor into a fresh CPU tensor, then moves it to `device` if that is not the CPU.
    public func tensor(_ name: String, device: Device = .cpu) throws -> Tensor {
        guard let info = infos[name] else { throw FileError(path: path, "no tensor named \"\(name)\"") }
        let tensor = try Tensor.empty(info.shape, dtype: info.dtype)
        let count = info.dataOffsets.count
        if count > 0 {
            guard let data = tensor.unsafeDataPointer else {
                throw FileError(path: path, "tensor \"\(name)\": allocated tensor has no CPU data pointer")
            }
            if let e = preadFully(fd, data, count, at: dataStart + info.dataOffsets.lowerBound) {
                throw FileError(path: path, "tensor \"\(name)\": cannot read its data: \(e)")
            }
            // A bool byte other than 0 or 1 is not a valid Bool once it reaches Swift (toArray), so refuse it here.
            if info.dtype == .bool, UnsafeRawBufferPointer(start: data, count: count).contains(where: { $0 > 1 }) {
                throw FileError(path: path, "tensor \"\(name)\": BOOL data holds bytes other than 0 and 1")
            }
        }
        return device == .cpu ? tensor : try tensor.to(device)
    }

    public func loadAll(device: Device = .cpu) throws -> [String: Tensor] {
        var out: [String: Tensor] = [:]
        out.reserveCapacity(names.count)
        for name in names { out[name] = try tensor(name, device: device) }
        return out
    }
}

public enum SafeTensors {
    public static func load(_ path: String, device: Device = .cpu) throws -> [String: Tensor] {
        try SafeTensorsFile(path).loadAll(device: device)
    }

    /// Writes `tensors` (sorted by name, data contiguous) atomically: into a temporary file in the destination's
    /// directory, fsync'd and renamed over `path`, so a crash or an error never leaves a half-written checkpoint
    /// and a failed save leaves an existing file untouched.
    public static func save(_ tensors: [String: Tensor], metadata: [String: String] = [:], to path: String) throws {
        func fail(_ message: String) -> FileError { FileError(path: path, message) }
        for name in tensors.keys {
            if name.isEmpty { throw fail("tensor names must not be empty") }
            if name == "__metadata__" { throw fail("\"__metadata__\" is reserved for metadata, not a tensor name") }
        }
        let ordered = tensors.sorted { $0.key < $1.key }
        var entries: [(name: String, info: SafeTensorInfo)] = []
        var offset = 0
        for (name, t) in ordered {
            let count = t.count * t.dtype.elementSize
            entries.append((name, SafeTensorInfo(dtype: t.dtype, shape: t.shape, dataOffsets: offset..<offset + count)))
            offset += count
        }
        let header = encodeSafeTensorsHeader(entries, metadata: metadata)

        guard !path.hasSuffix("/") else { throw fail("does not name a file") }
        try AtomicFile.write(to: URL(fileURLWithPath: path)) { file in
            var length = UInt64(header.count).littleEndian
            try withUnsafeBytes(of: &length) { try file.write($0.baseAddress!, count: 8) }
            try header.withUnsafeBytes { try file.write($0.baseAddress!, count: header.count) }
            for (name, t) in ordered {
                let count = t.count * t.dtype.elementSize
                guard count > 0 else { continue }
                // Released at the end of each iteration, so at most one tensor's CPU copy exists at a time.
                let cpu = try t.to(.cpu).contiguous()
                guard let data = cpu.unsafeDataPointer else { throw fail("tensor \"\(name)\": no CPU data pointer") }
                try withExtendedLifetime(cpu) { try file.write(data, count: count) }
            }
        }
    }
}

// MARK: POSIX helpers

private func errnoText() -> String { String(cString: strerror(errno)) }

/// Reads exactly `count` bytes at `offset`; returns a description of the failure, or nil.
private func preadFully(_ fd: Int32, _ buffer: UnsafeMutableRawPointer, _ count: Int, at offset: Int) -> String? {
    var done = 0
    while done < count {
        let r = pread(fd, buffer + done, count - done, off_t(offset + done))
        if r > 0 {
            done += r
        } else if r == 0 {
            return "unexpected end of file after \(offset + done) bytes (was it truncated while open?)"
        } else if errno != EINTR {
            return errnoText()
        }
    }
    return nil
}
