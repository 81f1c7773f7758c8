import AlexNetCore
import CZlib

/// gzip decompression of a whole file's bytes, with errors that say what is wrong.
public enum Gzip {
    /// True when `bytes` start with gzip's magic number (1f 8b).
    public static func isCompressed(_ bytes: [UInt8]) -> Bool {
        bytes.count >= 2 && bytes[0] == 0x1f && bytes[1] == 0x8b
    }

    /// The decompressed bytes. `expectedSize` (from the gzip trailer when nil) only sizes the
    /// first buffer; output grows as needed. `source` names the file in errors.
    public static func decompress(_ bytes: [UInt8], source: String) throws(DataError) -> [UInt8] {
        guard isCompressed(bytes) else { throw DataError(source, "is not gzip-compressed (no 1f 8b header)") }
        var stream = z_stream()
        guard czlib_inflate_init_gzip(&stream) == Z_OK else { throw DataError(source, "zlib could not start") }
        defer { inflateEnd(&stream) }
        // The trailer's last 4 bytes hold the size modulo 2^32: a good first guess, but only a
        // claim; deflate expands at most 1032-fold, so no more is reserved than that allows.
        let trailer = bytes.suffix(4).enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        var output = [UInt8](repeating: 0, count: max(1 << 16, min(trailer, bytes.count * 1032)))
        var produced = 0
        var status: Int32 = Z_OK
        var input = bytes
        input.withUnsafeMutableBufferPointer { inputBuffer in
            // zlib counts input in 32 bits: feed it in pieces of at most 1 GiB.
            var fed = 0
            func feed() {
                let piece = min(inputBuffer.count - fed, 1 << 30)
                stream.next_in = inputBuffer.baseAddress! + fed
                stream.avail_in = UInt32(piece)
                fed += piece
            }
            feed()
            while status == Z_OK {
                if stream.avail_in == 0 && fed < inputBuffer.count { feed() }
                if produced == output.count { output += [UInt8](repeating: 0, count: output.count) }
                output.withUnsafeMutableBufferPointer { outputBuffer in
                    stream.next_out = outputBuffer.baseAddress! + produced
                    stream.avail_out = UInt32(min(outputBuffer.count - produced, Int(UInt32.max)))
                    let before = stream.avail_out
                    status = inflate(&stream, Z_NO_FLUSH)
                    produced += Int(before - stream.avail_out)
                }
                if status == Z_BUF_ERROR && stream.avail_in > 0 && produced == output.count { status = Z_OK }
            }
        }
        switch status {
        case Z_STREAM_END:
            output.removeSubrange(produced...)
            return output
        case Z_BUF_ERROR:
            throw DataError(source, "is truncated: the gzip stream ends after \(bytes.count) bytes, before its end marker")
        case Z_DATA_ERROR:
            let message = stream.msg.map { String(cString: $0) } ?? "invalid data"
            throw DataError(source, "is corrupt at compressed byte \(Int(stream.total_in)): \(message)")
        default:
            throw DataError(source, "could not be decompressed (zlib status \(status))")
        }
    }
}

/// A dataset file that cannot be used, naming the file and what is wrong with it.
public typealias DataError = FileError
