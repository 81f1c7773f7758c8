/// The regular files of a tar archive (POSIX ustar, and the GNU and v7 variants that share its
/// 512-byte headers), read from bytes already in memory: enough to take CIFAR-10's official
/// `cifar-10-binary.tar.gz` without unpacking it. Every header's checksum is verified and every
/// size checked against the archive's length, so a truncated or corrupt archive is an error
/// naming the offset, never a crash.
public enum Tar {
    public struct Entry: Equatable, Sendable {
        /// The path inside the archive (`cifar-10-batches-bin/data_batch_1.bin`).
        public var name: String
        /// Where the file's bytes are in the archive.
        public var range: Range<Int>
    }

    public static let blockSize = 512

    /// The archive's regular files in order. Directories, links and other kinds are skipped;
    /// GNU long names (`././@LongLink`) and pax path records are honoured.
    public static func entries(_ bytes: [UInt8], source: String) throws(DataError) -> [Entry] {
        var entries: [Entry] = []
        var offset = 0
        var longName: String?
        while offset + blockSize <= bytes.count {
            let header = bytes[offset..<(offset + blockSize)]
            if header.allSatisfy({ $0 == 0 }) { return entries }  // end-of-archive marker
            try verifyChecksum(header, offset: offset, source: source)
            guard let size = octal(header, at: 124, length: 12) else {
                throw DataError(source, "has an unreadable size in the tar header at offset \(offset)")
            }
            let start = offset + blockSize
            guard size <= bytes.count - start else {
                throw DataError(source, "is truncated: the tar entry at offset \(offset) holds \(size) bytes, only \(bytes.count - start) follow")
            }
            let type = header[header.startIndex + 156]
            let content = start..<(start + size)
            switch type {
            case UInt8(ascii: "0"), 0, UInt8(ascii: "7"):
                var name = longName ?? text(header, at: 0, length: 100)
                // POSIX ustar ("ustar\0") keeps a path prefix here; GNU tar ("ustar  ") keeps
                // access and change times.
                let prefix = text(header, at: 345, length: 155)
                if longName == nil, !prefix.isEmpty, Array(header[(header.startIndex + 257)..<(header.startIndex + 263)]) == Array("ustar\0".utf8) {
                    name = prefix + "/" + name
                }
                entries.append(Entry(name: name, range: content))
                longName = nil
            case UInt8(ascii: "L"):
                longName = text(bytes[content], at: 0, length: size)
            case UInt8(ascii: "x"):
                longName = paxPath(bytes[content]) ?? longName
            default:
                longName = nil
            }
            offset = start + (size + blockSize - 1) / blockSize * blockSize
        }
        guard !bytes.isEmpty else { throw DataError(source, "is empty, not a tar archive") }
        if offset < bytes.count {
            throw DataError(source, "is truncated: \(bytes.count - offset) stray bytes at offset \(offset), less than a tar header")
        }
        // Archives normally end with two zero blocks; one cut right after its last entry still
        // has every file whole, so it is accepted.
        return entries
    }

    /// The unsigned sum of the header's bytes with the checksum field read as spaces.
    private static func verifyChecksum(_ header: ArraySlice<UInt8>, offset: Int, source: String) throws(DataError) {
        guard let stored = octal(header, at: 148, length: 8) else {
            throw DataError(source, "has no valid tar header at offset \(offset) (not a tar archive, or corrupt)")
        }
        var sum = 0
        for (i, byte) in header.enumerated() { sum += (148..<156).contains(i) ? 32 : Int(byte) }
        guard sum == stored else {
            throw DataError(source, "has a corrupt tar header at offset \(offset): checksum \(stored), computed \(sum)")
        }
    }

    /// An octal number field (NUL- or space-terminated); nil if malformed or absurdly large.
    private static func octal(_ block: ArraySlice<UInt8>, at position: Int, length: Int) -> Int? {
        var value = 0
        var digits = 0
        for byte in block[(block.startIndex + position)..<(block.startIndex + position + length)] {
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "7"):
                guard value < 1 << 50 else { return nil }
                value = value * 8 + Int(byte - UInt8(ascii: "0"))
                digits += 1
            case UInt8(ascii: " ") where digits == 0: continue
            case 0, UInt8(ascii: " "): return digits > 0 ? value : nil
            default: return nil
            }
        }
        return digits > 0 ? value : nil
    }

    private static func text(_ block: ArraySlice<UInt8>, at position: Int, length: Int) -> String {
        let field = block[(block.startIndex + position)..<(block.startIndex + position + length)]
        return String(decoding: field.prefix { $0 != 0 }, as: UTF8.self)
    }

    /// The `path` record of a pax extended header (`"LEN path=VALUE\n"` records).
    private static func paxPath(_ records: ArraySlice<UInt8>) -> String? {
        for line in records.split(separator: UInt8(ascii: "\n")) {
            guard let space = line.firstIndex(of: UInt8(ascii: " ")) else { continue }
            let record = String(decoding: line[(space + 1)...], as: UTF8.self)
            if record.hasPrefix("path=") { return String(record.dropFirst(5)) }
        }
        return nil
    }
}
