import AlexNetCore

#if canImport(Glibc)
import Glibc
#endif

/// The IDX format of MNIST and Fashion-MNIST (SPEC.md section 6): big-endian; magic 0x00000803
/// for images (count, rows, columns, then one byte per pixel) and 0x00000801 for labels (count,
/// then one byte per label). Files may be gzip-compressed; both forms are read.
public enum IDX {
    /// `count` grayscale images of `rows` x `columns`, row-major, one byte per pixel.
    public struct Images: Sendable {
        public var count: Int
        public var rows: Int
        public var columns: Int
        public var pixels: [UInt8]
    }

    public static let imagesMagic: UInt32 = 0x0000_0803
    public static let labelsMagic: UInt32 = 0x0000_0801

    /// Reads an image file (`.gz` or raw).
    public static func readImages(path: String) throws(DataError) -> Images {
        try parseImages(try contents(of: path), source: path)
    }

    /// Reads a label file (`.gz` or raw).
    public static func readLabels(path: String) throws(DataError) -> [UInt8] {
        try parseLabels(try contents(of: path), source: path)
    }

    public static func parseImages(_ bytes: [UInt8], source: String) throws(DataError) -> Images {
        let header = try header(bytes, source: source, magic: imagesMagic, dimensions: 3)
        let (count, rows, columns) = (header[0], header[1], header[2])
        guard rows > 0, columns > 0 else {
            throw DataError(source, "has images of \(rows)x\(columns) pixels in its IDX header: no image can be that small")
        }
        // Each size is a 32-bit field: their product can overflow even 64 bits.
        let (plane, overflow1) = rows.multipliedReportingOverflow(by: columns)
        let (needed, overflow2) = count.multipliedReportingOverflow(by: plane)
        guard !overflow1, !overflow2 else {
            throw DataError(source, "has an impossible IDX header: \(count) images of \(rows)x\(columns) would be more bytes than exist")
        }
        guard bytes.count - 16 == needed else {
            throw DataError(source, bytes.count - 16 < needed
                ? "is truncated: \(count) images of \(rows)x\(columns) need \(needed) bytes after the 16-byte header, found \(bytes.count - 16)"
                : "has \(bytes.count - 16 - needed) bytes after its \(count) images")
        }
        return Images(count: count, rows: rows, columns: columns, pixels: Array(bytes[16...]))
    }

    public static func parseLabels(_ bytes: [UInt8], source: String) throws(DataError) -> [UInt8] {
        let count = try header(bytes, source: source, magic: labelsMagic, dimensions: 1)[0]
        guard bytes.count - 8 == count else {
            throw DataError(source, bytes.count - 8 < count
                ? "is truncated: \(count) labels need \(count) bytes after the 8-byte header, found \(bytes.count - 8)"
                : "has \(bytes.count - 8 - count) bytes after its \(count) labels")
        }
        return Array(bytes[8...])
    }

    /// The dimension sizes after checking the magic number.
    private static func header(_ bytes: [UInt8], source: String, magic: UInt32, dimensions: Int) throws(DataError) -> [Int] {
        let length = 4 + 4 * dimensions
        func word(_ offset: Int) -> UInt32 {
            bytes[offset..<(offset + 4)].reduce(0) { $0 << 8 | UInt32($1) }
        }
        if bytes.count >= 4, word(0) != magic {
            let kind = magic == imagesMagic ? "image" : "label"
            throw DataError(source, "has magic number 0x\(String(word(0), radix: 16)) at offset 0, not the IDX \(kind) magic 0x\(String(magic, radix: 16))")
        }
        guard bytes.count >= length else {
            throw DataError(source, "is truncated: \(bytes.count) bytes, shorter than the \(length)-byte IDX header")
        }
        return (0..<dimensions).map { Int(word(4 + 4 * $0)) }
    }

    /// A file's bytes, decompressed when gzip-compressed.
    public static func contents(of path: String) throws(DataError) -> [UInt8] {
        let bytes = try readFile(path)
        return Gzip.isCompressed(bytes) ? try Gzip.decompress(bytes, source: path) : bytes
    }
}

/// Reads a whole file, with errors that name it.
public func readFile(_ path: String) throws(DataError) -> [UInt8] {
    var bytes: [UInt8] = []
    try readChunks(of: path) { bytes += $0 }
    return bytes
}

/// Reads a UTF-8 text file (a network file, class names, a statistics file), with errors that
/// name it.
public func readTextFile(_ path: String) throws(DataError) -> String {
    let bytes = try readFile(path)
    guard let text = String(validating: bytes, as: UTF8.self) else { throw DataError(path, "is not UTF-8 text") }
    return text
}

/// Hands a file's bytes to `body` in pieces of 1 MiB, with errors that name it.
public func readChunks(of path: String, _ body: (UnsafeRawBufferPointer) -> Void) throws(DataError) {
    guard let file = fopen(path, "rb") else {
        throw DataError(path, "cannot be opened: \(String(cString: strerror(errno)))")
    }
    defer { fclose(file) }
    var chunk = [UInt8](repeating: 0, count: 1 << 20)
    while true {
        let read = fread(&chunk, 1, chunk.count, file)
        chunk.withUnsafeBytes { body(UnsafeRawBufferPointer(rebasing: $0[0..<read])) }
        if read < chunk.count {
            if ferror(file) != 0 { throw DataError(path, "could not be read: \(String(cString: strerror(errno)))") }
            return
        }
    }
}
