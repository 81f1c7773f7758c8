#if canImport(Glibc)
import Glibc
#endif

/// CIFAR-10's binary version (SPEC.md section 6): files of records of 3073 bytes, one label
/// byte then 1024 red, 1024 green and 1024 blue bytes of a row-major 32x32 image;
/// `data_batch_1.bin` ... `data_batch_5.bin` for training, `test_batch.bin` for testing, and
/// `batches.meta.txt` with the class names, one per line.
public struct CIFAR10: ImageSource {
    public static let recordSize = 3073
    /// Where `--data cifar10` looks: the folder the official archive unpacks to, or else the
    /// archive itself, where `alexnet data download cifar10` puts it.
    public static let defaultDirectory = "data/cifar-10-batches-bin"
    public static let defaultArchive = "data/cifar-10-binary.tar.gz"

    public let name: String
    public let classNames: [String]
    /// Records back to back, as in the files.
    private let records: [UInt8]

    public var count: Int { records.count / Self.recordSize }

    /// Reads the named batch files of `directory`.
    public init(directory: String, files: [String]) throws(DataError) {
        let metaPath = "\(directory)/batches.meta.txt"
        let meta = access(metaPath, F_OK) == 0 ? try readFile(metaPath)[...] : nil
        var batches: [(source: String, bytes: ArraySlice<UInt8>)] = []
        for file in files {
            let path = "\(directory)/\(file)"
            batches.append((path, try readFile(path)[...]))
        }
        try self.init(name: directory, meta: meta.map { (metaPath, $0) }, batches: batches)
    }

    /// Batches already in memory; `meta` is `batches.meta.txt` when there is one.
    init(name: String, meta: (source: String, bytes: ArraySlice<UInt8>)?, batches: [(source: String, bytes: ArraySlice<UInt8>)]) throws(DataError) {
        var classNames = (0..<10).map { "class \($0)" }
        if let meta {
            let names = String(decoding: meta.bytes, as: UTF8.self).split(whereSeparator: \.isNewline)
                .map { $0.trimmingCharacters(in: " \t\r") }.filter { !$0.isEmpty }
            guard names.count == 10 else { throw DataError(meta.source, "lists \(names.count) class names, CIFAR-10 has 10") }
            classNames = names
        }
        var records: [UInt8] = []
        records.reserveCapacity(batches.reduce(0) { $0 + $1.bytes.count })
        for batch in batches {
            try Self.check(batch.bytes, source: batch.source, classes: classNames.count)
            records += batch.bytes
        }
        self.name = name
        self.classNames = classNames
        self.records = records
    }

    /// The official `cifar-10-binary.tar.gz` (or its unpacked `.tar`), read without unpacking:
    /// the training split from `data_batch_1..5.bin`, the test split from `test_batch.bin`.
    public static func archive(_ path: String) throws(DataError) -> (training: CIFAR10, test: CIFAR10) {
        // The official archive is 170 MB (185 MB unpacked); anything far larger is another
        // archive (an ImageNet tar, say), not worth reading into memory to find that out.
        var status = stat()
        if stat(path, &status) == 0, status.st_size > 1 << 30 {
            throw DataError(path, "is \(Int(status.st_size) >> 20) MiB: not CIFAR-10's binary archive (170 MB), the only archive read as a dataset; unpack other archives into folders")
        }
        let bytes = try IDX.contents(of: path)
        let entries = try Tar.entries(bytes, source: path)
        func member(_ name: String) -> (source: String, bytes: ArraySlice<UInt8>)? {
            entries.first { $0.name == name || $0.name.hasSuffix("/\(name)") }.map { ("\(path):\($0.name)", bytes[$0.range]) }
        }
        func batches(_ names: [String]) throws(DataError) -> [(source: String, bytes: ArraySlice<UInt8>)] {
            var found: [(source: String, bytes: ArraySlice<UInt8>)] = []
            for name in names {
                guard let batch = member(name) else {
                    throw DataError(path, "has no \(name): not CIFAR-10's binary archive (its files: \(entries.prefix(8).map(\.name).joined(separator: ", ")))")
                }
                found.append(batch)
            }
            return found
        }
        let meta = member("batches.meta.txt")
        return (try CIFAR10(name: path, meta: meta, batches: try batches((1...5).map { "data_batch_\($0).bin" })),
                try CIFAR10(name: path, meta: meta, batches: try batches(["test_batch.bin"])))
    }

    /// Checks a batch file: whole records, labels naming classes.
    public static func check(_ bytes: ArraySlice<UInt8>, source: String, classes: Int) throws(DataError) {
        guard !bytes.isEmpty else { throw DataError(source, "is empty") }
        guard bytes.count % recordSize == 0 else {
            throw DataError(source, "is \(bytes.count) bytes, not a whole number of \(recordSize)-byte records (truncated?): "
                + "record \(bytes.count / recordSize) stops after \(bytes.count % recordSize) bytes")
        }
        let start = bytes.startIndex
        for record in 0..<(bytes.count / recordSize) where Int(bytes[start + record * recordSize]) >= classes {
            throw DataError(source, "record \(record) (offset \(record * recordSize)) has label \(bytes[start + record * recordSize]), outside 0..<\(classes)")
        }
    }

    public static func training(directory: String = defaultDirectory) throws(DataError) -> CIFAR10 {
        try CIFAR10(directory: directory, files: (1...5).map { "data_batch_\($0).bin" })
    }

    public static func test(directory: String = defaultDirectory) throws(DataError) -> CIFAR10 {
        try CIFAR10(directory: directory, files: ["test_batch.bin"])
    }

    public func label(at index: Int) -> Int { Int(records[index * Self.recordSize]) }

    public func image(at index: Int) throws(DataError) -> Image {
        let base = index * Self.recordSize + 1
        var pixels = [UInt8](repeating: 0, count: 3072)
        for p in 0..<1024 {
            for c in 0..<3 { pixels[3 * p + c] = records[base + c * 1024 + p] }
        }
        return Image(width: 32, height: 32, channels: 3, pixels: pixels)
    }
}

extension StringProtocol {
    func trimmingCharacters(in characters: String) -> String {
        let set = Set(characters)
        return String(drop(while: { set.contains($0) }).reversed().drop(while: { set.contains($0) }).reversed())
    }
}
