import AlexNetCore
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// The safetensors format (SPEC.md section 6): an 8-byte little-endian header length N, N
/// bytes of JSON mapping each tensor name to {"dtype", "shape", "data_offsets": [begin, end]}
/// (relative to the first byte after the header) plus an optional "__metadata__" map of
/// strings, then the raw little-endian data.
///
/// Reading treats the file as hostile: the header length is bounded and checked against the
/// file size before anything is allocated from it, every entry is validated, and the tensors
/// must tile the data area exactly (in order, no gaps, no overlaps), as the reference
/// implementation requires. Files are memory-mapped; tensors are converted to float32 only when
/// asked for.
public struct SafeTensors: @unchecked Sendable {
    public enum DType: String, Sendable, CaseIterable {
        case f32 = "F32", f16 = "F16", bf16 = "BF16", f64 = "F64"
        case i64 = "I64", i32 = "I32", i16 = "I16", i8 = "I8", u8 = "U8", bool = "BOOL"

        public var size: Int {
            switch self {
            case .f64, .i64: return 8
            case .f32, .i32: return 4
            case .f16, .bf16, .i16: return 2
            case .i8, .u8, .bool: return 1
            }
        }
    }

    public struct Entry: Sendable, Equatable {
        public var name: String
        public var dtype: DType
        public var shape: [Int]
        /// Byte range within the data area.
        public var begin: Int
        public var end: Int
        public var elementCount: Int { shape.reduce(1, *) }
    }

    /// The largest header accepted (the reference implementation's limit is 100 MB).
    public static let maximumHeaderLength = 100_000_000

    /// Where the bytes came from (for messages).
    public let source: String
    /// Tensors in file order.
    public let entries: [Entry]
    public let metadata: [String: String]
    private let bytes: Bytes
    private let dataStart: Int

    /// Maps and parses the file at `path`.
    public init(path: String) throws(SafeTensorsError) {
        try self.init(bytes: try Bytes(mapping: path), source: path)
    }

    /// Parses bytes in memory.
    public init(data: [UInt8], source: String) throws(SafeTensorsError) {
        try self.init(bytes: Bytes(array: data), source: source)
    }

    private init(bytes: Bytes, source: String) throws(SafeTensorsError) {
        func fail(_ message: String) -> SafeTensorsError { SafeTensorsError(source, message) }
        let size = bytes.count
        guard size >= 8 else { throw fail("is \(size) bytes long, too short for the 8-byte header length") }
        var length: UInt64 = 0
        for i in 0..<8 { length |= UInt64(bytes[i]) << (8 * UInt64(i)) }
        guard length <= UInt64(Self.maximumHeaderLength) else {
            throw fail("declares a \(length)-byte header, more than the \(Self.maximumHeaderLength) allowed")
        }
        guard length <= UInt64(size - 8) else {
            throw fail("declares a \(length)-byte header but only \(size - 8) bytes follow the length (truncated?)")
        }
        let headerLength = Int(length)
        let header = Data(bytes.slice(8, headerLength))
        let object: Any
        do {
            object = try JSONSerialization.jsonObject(with: header)
        } catch {
            throw fail("header is not valid JSON (bytes 8..<\(8 + headerLength))")
        }
        guard let dictionary = object as? [String: Any] else { throw fail("header is not a JSON object") }
        var metadata: [String: String] = [:]
        var entries: [Entry] = []
        for (name, value) in dictionary {
            if name == "__metadata__" {
                guard let map = value as? [String: Any] else { throw fail("__metadata__ is not an object") }
                for (key, item) in map {
                    guard let string = item as? String else { throw fail("__metadata__[\"\(key)\"] is not a string") }
                    metadata[key] = string
                }
                continue
            }
            guard let fields = value as? [String: Any] else { throw fail("tensor '\(name)' is not an object") }
            guard let dtypeName = fields["dtype"] as? String else { throw fail("tensor '\(name)' has no dtype") }
            guard let dtype = DType(rawValue: dtypeName) else { throw fail("tensor '\(name)' has unknown dtype \(dtypeName)") }
            guard let shapeValues = fields["shape"] as? [Any], let shape = Self.integers(shapeValues),
                  shape.allSatisfy({ $0 >= 0 }) else {
                throw fail("tensor '\(name)' has no valid shape (a list of non-negative integers)")
            }
            guard let offsetValues = fields["data_offsets"] as? [Any], let offsets = Self.integers(offsetValues),
                  offsets.count == 2 else {
                throw fail("tensor '\(name)' has no valid data_offsets (two integers)")
            }
            var bytesNeeded = dtype.size
            for dimension in shape {
                let (product, overflow) = bytesNeeded.multipliedReportingOverflow(by: dimension)
                guard !overflow else { throw fail("tensor '\(name)' has a shape \(shape) too large to address") }
                bytesNeeded = product
            }
            let (begin, end) = (offsets[0], offsets[1])
            guard begin >= 0, begin <= end else { throw fail("tensor '\(name)' has data_offsets [\(begin), \(end)] out of order") }
            guard end - begin == bytesNeeded else {
                throw fail("tensor '\(name)' of shape \(shape) and dtype \(dtypeName) needs \(bytesNeeded) bytes, its data_offsets span \(end - begin)")
            }
            entries.append(Entry(name: name, dtype: dtype, shape: shape, begin: begin, end: end))
        }
        entries.sort { ($0.begin, $0.end, $0.name) < ($1.begin, $1.end, $1.name) }
        let dataSize = size - 8 - headerLength
        var cursor = 0
        for entry in entries {
            guard entry.begin == cursor else {
                throw fail(entry.begin < cursor
                    ? "tensor '\(entry.name)' at bytes \(entry.begin)..<\(entry.end) overlaps the tensor before it"
                    : "the data area has a gap at bytes \(cursor)..<\(entry.begin) before tensor '\(entry.name)'")
            }
            cursor = entry.end
        }
        guard cursor == dataSize else {
            throw fail(cursor > dataSize
                ? "tensors need \(cursor) bytes of data but the file holds \(dataSize) (truncated?)"
                : "the file has \(dataSize - cursor) bytes after its last tensor")
        }
        self.source = source
        self.entries = entries
        self.metadata = metadata
        self.bytes = bytes
        dataStart = 8 + headerLength
    }

    private static func integers(_ values: [Any]) -> [Int]? {
        var result: [Int] = []
        for value in values {
            guard let number = value as? NSNumber, let integer = Int(exactly: number.doubleValue),
                  integer < 1 << 52 else { return nil }
            result.append(integer)
        }
        return result
    }

    public subscript(name: String) -> Entry? { entries.first { $0.name == name } }

    /// The tensor `name` as float32 (F32, F16, BF16 and F64 convert; integers are refused).
    public func floats(_ name: String) throws(SafeTensorsError) -> [Float] {
        guard let entry = self[name] else { throw SafeTensorsError(source, "has no tensor '\(name)'") }
        var result = [Float](repeating: 0, count: entry.elementCount)
        let base = dataStart + entry.begin
        switch entry.dtype {
        case .f32:
            // This machine is little-endian, as the format: the bytes are the floats.
            result.withUnsafeMutableBytes { $0.copyMemory(from: bytes.slice(base, entry.end - entry.begin)) }
        case .f16:
            for i in 0..<result.count { result[i] = Self.halfToFloat(bytes.uint16(at: base + 2 * i)) }
        case .bf16:
            for i in 0..<result.count { result[i] = Float(bitPattern: UInt32(bytes.uint16(at: base + 2 * i)) << 16) }
        case .f64:
            for i in 0..<result.count {
                let bits = UInt64(bytes.uint32(at: base + 8 * i)) | UInt64(bytes.uint32(at: base + 8 * i + 4)) << 32
                result[i] = Float(Double(bitPattern: bits))
            }
        default:
            throw SafeTensorsError(source, "tensor '\(name)' is \(entry.dtype.rawValue), not a floating-point type")
        }
        return result
    }

    /// The tensor `name` as integers (I64, I32, I16, I8 and U8; floating-point types are refused).
    public func integers(_ name: String) throws(SafeTensorsError) -> [Int] {
        guard let entry = self[name] else { throw SafeTensorsError(source, "has no tensor '\(name)'") }
        let base = dataStart + entry.begin
        let count = entry.elementCount
        switch entry.dtype {
        case .i64: return (0..<count).map { Int(Int64(bitPattern: UInt64(bytes.uint32(at: base + 8 * $0)) | UInt64(bytes.uint32(at: base + 8 * $0 + 4)) << 32)) }
        case .i32: return (0..<count).map { Int(Int32(bitPattern: bytes.uint32(at: base + 4 * $0))) }
        case .i16: return (0..<count).map { Int(Int16(bitPattern: bytes.uint16(at: base + 2 * $0))) }
        case .i8: return (0..<count).map { Int(Int8(bitPattern: bytes[base + $0])) }
        case .u8: return (0..<count).map { Int(bytes[base + $0]) }
        default: throw SafeTensorsError(source, "tensor '\(name)' is \(entry.dtype.rawValue), not an integer type")
        }
    }

    /// The raw little-endian bytes of tensor `name`, whatever its dtype.
    public func rawBytes(_ name: String) throws(SafeTensorsError) -> [UInt8] {
        guard let entry = self[name] else { throw SafeTensorsError(source, "has no tensor '\(name)'") }
        return Array(bytes.slice(dataStart + entry.begin, entry.end - entry.begin))
    }

    /// IEEE 754 binary16 to binary32, subnormals, infinities and NaNs included.
    static func halfToFloat(_ h: UInt16) -> Float {
        let sign = UInt32(h & 0x8000) << 16
        let exponent = Int((h >> 10) & 0x1F), mantissa = UInt32(h & 0x3FF)
        if exponent == 0x1F { return Float(bitPattern: sign | 0x7F80_0000 | mantissa << 13) }
        if exponent == 0 {
            let magnitude = Float(mantissa) * 0x1p-24
            return sign == 0 ? magnitude : -magnitude
        }
        return Float(bitPattern: sign | UInt32(exponent - 15 + 127) << 23 | mantissa << 13)
    }

    // MARK: Writing

    /// One tensor to write: little-endian data the caller keeps alive during `write`.
    public struct Output {
        public var name: String
        public var shape: [Int]
        public var dtype: DType
        public var bytes: UnsafeRawBufferPointer

        /// A float32 tensor.
        public init(name: String, shape: [Int], data: UnsafeBufferPointer<Float>) {
            self.init(name: name, shape: shape, dtype: .f32, bytes: UnsafeRawBufferPointer(data))
        }

        /// A tensor of any dtype, from its little-endian bytes.
        public init(name: String, shape: [Int], dtype: DType, bytes: UnsafeRawBufferPointer) {
            precondition(shape.reduce(1, *) * dtype.size == bytes.count,
                         "SafeTensors: '\(name)' has \(bytes.count) bytes for shape \(shape) of \(dtype.rawValue)")
            self.name = name
            self.shape = shape
            self.dtype = dtype
            self.bytes = bytes
        }
    }

    /// The header JSON for `tensors` in order, padded with spaces to a multiple of 8 bytes.
    static func header(for tensors: [Output], metadata: [String: String]) -> [UInt8] {
        var parts: [String] = []
        if !metadata.isEmpty {
            let items = metadata.keys.sorted().map { "\(jsonString($0)):\(jsonString(metadata[$0]!))" }
            parts.append("\"__metadata__\":{\(items.joined(separator: ","))}")
        }
        var offset = 0
        for tensor in tensors {
            let end = offset + tensor.bytes.count
            let shape = tensor.shape.map(String.init).joined(separator: ",")
            parts.append("\(jsonString(tensor.name)):{\"dtype\":\"\(tensor.dtype.rawValue)\",\"shape\":[\(shape)],\"data_offsets\":[\(offset),\(end)]}")
            offset = end
        }
        var header = Array("{\(parts.joined(separator: ","))}".utf8)
        while header.count % 8 != 0 { header.append(0x20) }
        return header
    }

    /// Writes `tensors` (in the given order) and `metadata` to `path` atomically:
    /// into a temporary file beside it, flushed to disk, then renamed over `path`. A crash at any
    /// moment leaves either the old file or the new one, never a mix.
    public static func write(_ tensors: [Output], metadata: [String: String] = [:], to path: String) throws(SafeTensorsError) {
        let names = Set(tensors.map(\.name))
        guard names.count == tensors.count else { throw SafeTensorsError(path, "two tensors share a name") }
        let header = header(for: tensors, metadata: metadata)
        var prefix = [UInt8](repeating: 0, count: 8)
        for i in 0..<8 { prefix[i] = UInt8(truncatingIfNeeded: UInt64(header.count) >> (8 * UInt64(i))) }
        try AtomicFile.write(to: path) { file throws(SafeTensorsError) in
            try file.write(prefix)
            try file.write(header)
            for tensor in tensors {
                try file.write(tensor.bytes)
            }
        }
    }

    /// `string` as a JSON string literal (also what the server writes its messages with).
    public static func jsonString(_ string: String) -> String {
        var out = "\""
        for scalar in string.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20: out += String(format: "\\u%04x", scalar.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}

/// A safetensors file (or a file being written atomically) that cannot be used.
public typealias SafeTensorsError = FileError

/// Read-only bytes: a memory-mapped file or an array.
final class Bytes: @unchecked Sendable {
    let base: UnsafeRawPointer
    let count: Int
    private let array: [UInt8]?
    private let mapped: Bool

    init(array: [UInt8]) {
        let copy = UnsafeMutableRawPointer.allocate(byteCount: max(array.count, 1), alignment: 8)
        copy.copyMemory(from: array, byteCount: array.count)
        base = UnsafeRawPointer(copy)
        count = array.count
        self.array = array
        mapped = false
    }

    init(mapping path: String) throws(SafeTensorsError) {
        let descriptor = open(path, O_RDONLY)
        guard descriptor >= 0 else { throw SafeTensorsError(path, "cannot be opened: \(String(cString: strerror(errno)))") }
        defer { close(descriptor) }
        var status = stat()
        guard fstat(descriptor, &status) == 0 else { throw SafeTensorsError(path, "cannot be read: \(String(cString: strerror(errno)))") }
        guard status.st_mode & S_IFMT == S_IFREG else { throw SafeTensorsError(path, "is not a regular file") }
        count = Int(status.st_size)
        array = nil
        if count == 0 {
            base = UnsafeRawPointer(UnsafeMutableRawPointer.allocate(byteCount: 1, alignment: 8))
            mapped = false
            return
        }
        guard let address = mmap(nil, count, PROT_READ, MAP_PRIVATE, descriptor, 0), address != MAP_FAILED else {
            throw SafeTensorsError(path, "cannot be mapped: \(String(cString: strerror(errno)))")
        }
        base = UnsafeRawPointer(address)
        mapped = true
    }

    deinit {
        if mapped { munmap(UnsafeMutableRawPointer(mutating: base), count) } else { base.deallocate() }
    }

    subscript(index: Int) -> UInt8 { base.load(fromByteOffset: index, as: UInt8.self) }

    func slice(_ start: Int, _ length: Int) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: base + start, count: length)
    }

    func uint16(at offset: Int) -> UInt16 { UInt16(littleEndian: base.loadUnaligned(fromByteOffset: offset, as: UInt16.self)) }
    func uint32(at offset: Int) -> UInt32 { UInt32(littleEndian: base.loadUnaligned(fromByteOffset: offset, as: UInt32.self)) }
}
