import AlexNetData
import Foundation
import Testing

@Suite struct CIFAR10Tests {
    /// `count` records: record i has label i % 10 and every red byte i, green 100 + i, blue 200.
    static func records(_ count: Int) -> [UInt8] {
        (0..<count).flatMap { i -> [UInt8] in
            [UInt8(i % 10)] + Array(repeating: UInt8(i), count: 1024) + Array(repeating: UInt8(100 + i), count: 1024)
                + Array(repeating: 200, count: 1024)
        }
    }

    func directory(train: [UInt8], test: [UInt8], meta: String? = nil) throws -> String {
        let root = try IDXFixture.directory()
        for k in 1...5 {
            try Data(k == 1 ? train : Self.records(1)).write(to: URL(fileURLWithPath: "\(root)/data_batch_\(k).bin"))
        }
        try Data(test).write(to: URL(fileURLWithPath: "\(root)/test_batch.bin"))
        if let meta { try meta.write(toFile: "\(root)/batches.meta.txt", atomically: true, encoding: .utf8) }
        return root
    }

    @Test func readsRecordsAsInterleavedRGB() throws {
        let root = try directory(train: Self.records(3), test: Self.records(2),
                                 meta: "airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n\n")
        let source = try CIFAR10(directory: root, files: ["data_batch_1.bin", "test_batch.bin"])
        #expect(source.count == 5 && source.classNames[9] == "truck")
        #expect(source.label(at: 2) == 2)
        let image = try source.image(at: 2)
        #expect(image.width == 32 && image.channels == 3 && Array(image.pixels.prefix(3)) == [2, 102, 200])
        let splits = try Datasets.open(root)
        #expect(splits.test?.count == 2)
    }

    @Test func badFilesNameTheFileAndTheProblem() throws {
        let truncated = try directory(train: Array(Self.records(2).dropLast(5)), test: [])
        do {
            _ = try CIFAR10.training(directory: truncated)
            Issue.record("a truncated file was accepted")
        } catch {
            #expect(error.source.hasSuffix("data_batch_1.bin") && error.message.contains("3073"), "\(error)")
        }
        var badLabel = Self.records(2)
        badLabel[3073] = 12
        #expect(throws: DataError.self) { try CIFAR10.check(badLabel[...], source: "x", classes: 10) }
        let badMeta = try directory(train: Self.records(1), test: [], meta: "cat\ndog\n")
        #expect(throws: DataError.self) { try CIFAR10.training(directory: badMeta) }
    }

    /// Runs `tar` (always on Debian) in `directory`; returns the archive's path.
    func tar(_ arguments: [String], in directory: String) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/tar")
        process.currentDirectoryURL = URL(fileURLWithPath: directory)
        process.arguments = arguments
        try process.run()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        return "\(directory)/\(arguments[1])"
    }

    /// The official archive's layout, read straight from the .tar.gz, in ustar, GNU (long names)
    /// and pax formats, gives what the unpacked folder gives.
    @Test func readsTheOfficialArchiveWithoutUnpacking() throws {
        let work = try IDXFixture.directory()
        let folder = "\(work)/cifar-10-batches-bin"
        try FileManager.default.moveItem(atPath: try directory(train: Self.records(3), test: Self.records(2), meta: "a\nb\nc\nd\ne\nf\ng\nh\ni\nj\n"),
                                         toPath: folder)
        let unpacked = try Datasets.open(folder)
        let deep = "\(work)/" + String(repeating: "long-directory-name/", count: 7)
        try FileManager.default.createDirectory(atPath: deep, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: folder, toPath: "\(deep)cifar-10-batches-bin")
        for (format, member) in [("ustar", "cifar-10-batches-bin"), ("gnu", String(deep.dropFirst(work.count + 1)) + "cifar-10-batches-bin"),
                                 ("pax", String(deep.dropFirst(work.count + 1)) + "cifar-10-batches-bin")] {
            let archive = try tar(["czf", "cifar-\(format).tar.gz", "--format=\(format)", member], in: work)
            let splits = try Datasets.open(archive)
            #expect(splits.training.count == unpacked.training.count && splits.test?.count == 2, "\(format)")
            #expect(splits.training.classNames == unpacked.training.classNames)
            for i in 0..<splits.training.count {
                #expect(try splits.training.image(at: i).pixels == unpacked.training.image(at: i).pixels)
                #expect(splits.training.label(at: i) == unpacked.training.label(at: i))
            }
        }
    }

    @Test func brokenArchivesNameTheProblem() throws {
        let work = try IDXFixture.directory()
        let folder = "\(work)/cifar-10-batches-bin"
        try FileManager.default.moveItem(atPath: try directory(train: Self.records(3), test: Self.records(2)), toPath: folder)
        let tarPath = try tar(["cf", "cifar.tar", "cifar-10-batches-bin"], in: work)
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: tarPath)))
        func error(_ bytes: [UInt8], _ name: String) -> String {
            let path = "\(work)/\(name)"
            try? Data(bytes).write(to: URL(fileURLWithPath: path))
            do {
                _ = try CIFAR10.archive(path)
                return "accepted"
            } catch {
                return "\(error)"
            }
        }
        // Cut inside the first batch: its header promises more than follows.
        #expect(error(Array(bytes.prefix(2000)), "cut.tar").contains("truncated"))
        // A flipped byte in a header's name: the checksum catches it and the offset is named.
        var corrupt = bytes
        corrupt[1] ^= 0x40
        #expect(error(corrupt, "corrupt.tar").contains("corrupt tar header at offset 0"))
        // Not a tar at all, or missing a batch.
        #expect(error(Array("hello, this is text".utf8) + [UInt8](repeating: 65, count: 600), "text.tar").contains("no valid tar header at offset 0"))
        try FileManager.default.removeItem(atPath: "\(folder)/data_batch_4.bin")
        let partial = try tar(["czf", "partial.tar.gz", "cifar-10-batches-bin"], in: work)
        #expect(error(try [UInt8](Data(contentsOf: URL(fileURLWithPath: partial))), "partial.tar.gz").contains("has no data_batch_4.bin"))
        // A truncated .tar.gz fails in gzip, naming the file.
        let gz = try [UInt8](Data(contentsOf: URL(fileURLWithPath: partial)))
        #expect(error(Array(gz.prefix(gz.count / 2)), "half.tar.gz").contains("half.tar.gz: is truncated"))
    }
}
