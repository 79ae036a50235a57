import CZlib
import Foundation

/// gzip decompression through zlib (Foundation on Linux has no gzip API): open_clip ships CLIP's merges as
/// `bpe_simple_vocab_16e6.txt.gz`.
enum Gzip {
    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    static func isGzip(_ data: Data) -> Bool { data.starts(with: [0x1F, 0x8B]) }

    /// The concatenated contents of every gzip member in `data`; zlib checks each member's CRC-32 and length.
    static func decompress(_ data: Data) throws -> Data {
        var input = [UInt8](data)
        var output = [UInt8]()
        var stream = z_stream()
        // 16 + MAX_WBITS: expect a gzip wrapper (not raw DEFLATE or zlib's own header).
        guard inflateInit2_(&stream, 16 + MAX_WBITS, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw Failure(description: "gzip: zlib could not start")
        }
        defer { inflateEnd(&stream) }
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        try input.withUnsafeMutableBufferPointer { inBuffer in
            stream.next_in = inBuffer.baseAddress
            stream.avail_in = uInt(inBuffer.count)
            while true {
                let status = chunk.withUnsafeMutableBufferPointer { out -> Int32 in
                    stream.next_out = out.baseAddress
                    stream.avail_out = uInt(out.count)
                    return inflate(&stream, Z_NO_FLUSH)
                }
                output += chunk[0..<(chunk.count - Int(stream.avail_out))]
                switch status {
                case Z_STREAM_END:
                    // Another member may follow (gzip files can be concatenated).
                    guard stream.avail_in > 0 else { return }
                    guard inflateReset(&stream) == Z_OK else { throw Failure(description: "gzip: zlib reset failed") }
                case Z_OK:
                    if stream.avail_in == 0 && stream.avail_out > 0 {
                        throw Failure(description: "gzip: the data ends inside a member (truncated file)")
                    }
                default:
                    let reason = stream.msg.map { String(cString: $0) } ?? "error \(status)"
                    throw Failure(description: "gzip: \(reason)")
                }
            }
        }
        return Data(output)
    }
}
