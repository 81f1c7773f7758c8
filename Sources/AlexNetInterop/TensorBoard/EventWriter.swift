import AlexNetCore
import Foundation
import SwiftProtobuf

#if canImport(Glibc)
import Glibc
#endif

/// Writes TensorBoard's event files: `events.out.tfevents.<seconds>.<host>` in a folder, a
/// TFRecord stream of `Event` messages (the first names the file version, the others carry
/// summaries of scalars and images at a step). `tensorboard --logdir` on the folder, or on one
/// above it, draws them.
///
/// TFRecord framing, per record: the length as a little-endian UInt64, the masked CRC-32C of
/// those 8 bytes, the message, the masked CRC-32C of the message (each CRC a little-endian
/// UInt32). Events are flushed after every `flush()`, so a killed run keeps what it logged.
public final class EventWriter {
    public let path: String
    private let file: UnsafeMutablePointer<FILE>

    /// A new events file in `directory` (created if missing, its parent must exist); `wallTime`
    /// stamps the first event (tests pass one to get reproducible bytes).
    public init(directory: String, wallTime: Double? = nil) throws {
        if mkdir(directory, 0o755) != 0 && errno != EEXIST {
            throw FileError(directory, "cannot be created: \(String(cString: strerror(errno)))")
        }
        let now = wallTime ?? Date().timeIntervalSince1970
        var host = [CChar](repeating: 0, count: 256)
        gethostname(&host, host.count - 1)
        let hostName = String(decoding: host.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        var name = "\(directory)/events.out.tfevents.\(Int(now)).\(hostName.isEmpty ? "localhost" : hostName)"
        // Two writers started in the same second (a resumed run) must not share a file.
        var suffix = 1
        while access(name, F_OK) == 0 {
            name = "\(directory)/events.out.tfevents.\(Int(now)).\(hostName).\(suffix)"
            suffix += 1
        }
        guard let file = fopen(name, "wb") else {
            throw FileError(name, "cannot be created: \(String(cString: strerror(errno)))")
        }
        self.file = file
        path = name
        var event = Tensorflow_Event()
        event.wallTime = now
        event.fileVersion = "brain.Event:2"
        try write(event)
        try flush()
    }

    deinit { fclose(file) }

    /// Scalars at `step`, one value per tag (`train/loss`, `validation/top1`...).
    public func scalars(_ values: [(tag: String, value: Double)], step: Int, wallTime: Double? = nil) throws {
        var summary = Tensorflow_Summary()
        summary.value = values.map { tag, value in
            var entry = Tensorflow_Summary.Value()
            entry.tag = tag
            entry.simpleValue = Float(value)
            return entry
        }
        try write(summary, step: step, wallTime: wallTime)
    }

    /// A PNG image under `tag` at `step`.
    public func image(_ tag: String, png: [UInt8], step: Int, wallTime: Double? = nil) throws {
        var image = Tensorflow_Summary.Image()
        // Width and height are the IHDR chunk's first two big-endian words.
        if png.count >= 24 {
            func word(_ at: Int) -> Int32 { png[at..<at + 4].reduce(Int32(0)) { $0 << 8 | Int32($1) } }
            image.width = word(16)
            image.height = word(20)
            image.colorspace = [0: 1, 2: 3, 4: 2, 6: 4][png.count > 25 ? png[25] : 2] ?? 3
        }
        image.encodedImageString = Data(png)
        var entry = Tensorflow_Summary.Value()
        entry.tag = tag
        entry.image = image
        var summary = Tensorflow_Summary()
        summary.value = [entry]
        try write(summary, step: step, wallTime: wallTime)
    }

    /// Pushes what was written to the file (and the disk).
    public func flush() throws {
        guard fflush(file) == 0 else { throw FileError(path, "cannot be written: \(String(cString: strerror(errno)))") }
    }

    private func write(_ summary: Tensorflow_Summary, step: Int, wallTime: Double?) throws {
        var event = Tensorflow_Event()
        event.wallTime = wallTime ?? Date().timeIntervalSince1970
        event.step = Int64(step)
        event.summary = summary
        try write(event)
    }

    private func write(_ event: Tensorflow_Event) throws {
        let record = TFRecord.frame(Array(try event.serializedBytes() as [UInt8]))
        guard fwrite(record, 1, record.count, file) == record.count else {
            throw FileError(path, "cannot be written: \(String(cString: strerror(errno)))")
        }
    }
}

/// TFRecord framing and the CRC it uses.
public enum TFRecord {
    /// `data` framed as one record.
    public static func frame(_ data: [UInt8]) -> [UInt8] {
        let length = littleEndian(UInt64(data.count))
        return length + littleEndian(maskedCRC32C(length)) + data + littleEndian(maskedCRC32C(data))
    }

    /// The records of a TFRecord stream, each checked against its two CRCs; throws naming the
    /// byte offset of the first bad one.
    public static func records(_ bytes: [UInt8], source: String) throws -> [[UInt8]] {
        var records: [[UInt8]] = []
        var offset = 0
        func word(_ at: Int, _ count: Int) -> UInt64 {
            (0..<count).reduce(UInt64(0)) { $0 | UInt64(bytes[at + $1]) << (8 * UInt64($1)) }
        }
        while offset < bytes.count {
            guard bytes.count - offset >= 12 else { throw FileError(source, "ends inside a record header at byte \(offset)") }
            guard UInt32(word(offset + 8, 4)) == maskedCRC32C(Array(bytes[offset..<offset + 8])) else {
                throw FileError(source, "has a corrupt record length at byte \(offset)")
            }
            let length = Int(word(offset, 8))
            guard length <= bytes.count - offset - 16 else { throw FileError(source, "ends inside the record at byte \(offset)") }
            let data = Array(bytes[offset + 12..<offset + 12 + length])
            guard UInt32(word(offset + 12 + length, 4)) == maskedCRC32C(data) else {
                throw FileError(source, "has a corrupt record at byte \(offset)")
            }
            records.append(data)
            offset += 16 + length
        }
        return records
    }

    /// CRC-32C (Castagnoli), as TFRecord and iSCSI use it.
    public static func crc32c(_ data: [UInt8]) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in data { crc = table[Int((crc ^ UInt32(byte)) & 0xFF)] ^ (crc >> 8) }
        return crc ^ 0xFFFF_FFFF
    }

    /// TFRecord's masking of a CRC (rotated right by 15 bits, plus a constant), so that CRCs of
    /// data holding CRCs stay well distributed.
    public static func maskedCRC32C(_ data: [UInt8]) -> UInt32 {
        let crc = crc32c(data)
        return ((crc >> 15) | (crc << 17)) &+ 0xA282_EAD8
    }

    private static let table: [UInt32] = (0..<256).map { (index: Int) -> UInt32 in
        var value = UInt32(index)
        for _ in 0..<8 { value = value & 1 == 1 ? (value >> 1) ^ 0x82F6_3B78 : value >> 1 }
        return value
    }

    private static func littleEndian<T: FixedWidthInteger>(_ value: T) -> [UInt8] {
        (0..<T.bitWidth / 8).map { UInt8(truncatingIfNeeded: value >> (8 * $0)) }
    }
}

/// An events file read back (ours or TensorFlow's): its version and every summary event.
public struct EventFile {
    public struct Entry: Equatable {
        public var step: Int
        public var wallTime: Double
        public var scalars: [String: Double] = [:]
        /// Encoded images (PNG bytes) by tag.
        public var images: [String: [UInt8]] = [:]
    }

    public var fileVersion: String?
    public var entries: [Entry] = []

    /// Reads `path`, checking every record's CRCs; names the offset of a corrupt one.
    public init(path: String) throws {
        guard let data = FileManager.default.contents(atPath: path) else { throw FileError(path, "cannot be read") }
        for record in try TFRecord.records([UInt8](data), source: path) {
            let event: Tensorflow_Event
            do {
                event = try Tensorflow_Event(serializedBytes: record)
            } catch {
                throw FileError(path, "holds a record that is not an event: \(error)")
            }
            switch event.what {
            case let .fileVersion(version)?: fileVersion = version
            case let .summary(summary)?:
                var entry = Entry(step: Int(event.step), wallTime: event.wallTime)
                for value in summary.value {
                    switch value.value {
                    case let .simpleValue(number)?: entry.scalars[value.tag] = Double(number)
                    case let .image(image)?: entry.images[value.tag] = [UInt8](image.encodedImageString)
                    case nil: break
                    }
                }
                entries.append(entry)
            case nil: break
            }
        }
    }

    /// The values of scalar `tag`, as (step, value) in file order.
    public func scalar(_ tag: String) -> [(step: Int, value: Double)] {
        entries.compactMap { entry in entry.scalars[tag].map { (entry.step, $0) } }
    }
}
