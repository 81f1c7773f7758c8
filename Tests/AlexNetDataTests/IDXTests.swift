import AlexNetCore
import AlexNetData
import Foundation
import Testing

/// IDX files written by the tests themselves.
enum IDXFixture {
    static func images(count: Int, rows: Int, columns: Int, magic: UInt32 = IDX.imagesMagic) -> [UInt8] {
        var bytes = word(magic) + word(UInt32(count)) + word(UInt32(rows)) + word(UInt32(columns))
        bytes += (0..<(count * rows * columns)).map { UInt8($0 % 251) }
        return bytes
    }

    static func labels(_ values: [UInt8], magic: UInt32 = IDX.labelsMagic) -> [UInt8] {
        word(magic) + word(UInt32(values.count)) + values
    }

    static func word(_ value: UInt32) -> [UInt8] { (0..<4).map { UInt8(truncatingIfNeeded: value >> (24 - 8 * $0)) } }

    /// A fresh temporary directory.
    static func directory() throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("alexnet-idx-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    static func write(_ bytes: [UInt8], to path: String, gzip: Bool = false) throws {
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        if gzip {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/bin/gzip")
            process.arguments = ["-f", path]
            try process.run()
            process.waitUntilExit()
        }
    }
}

@Suite struct IDXTests {
    @Test(arguments: [false, true])
    func readsImagesAndLabels(gzip: Bool) throws {
        let directory = try IDXFixture.directory()
        try IDXFixture.write(IDXFixture.images(count: 3, rows: 4, columns: 5), to: "\(directory)/train-images-idx3-ubyte", gzip: gzip)
        try IDXFixture.write(IDXFixture.labels([2, 0, 1]), to: "\(directory)/train-labels-idx1-ubyte", gzip: gzip)
        let dataset = try IDXDataset(directory: directory, prefix: "train", classNames: ["a", "b", "c"])
        #expect(dataset.count == 3 && dataset.imageShape == Shape(channels: 1, height: 4, width: 5))
        #expect(dataset.labels == [2, 0, 1])
        #expect(Array(dataset.pixels(at: 1)) == (20..<40).map { UInt8($0) })
    }

    @Test func badFilesNameTheFileAndTheProblem() throws {
        let good = IDXFixture.images(count: 2, rows: 3, columns: 3)
        func message(_ body: () throws -> Void) -> String {
            do { try body(); return "no error" } catch { return "\(error)" }
        }
        #expect(message { _ = try IDX.parseImages(Array(good.dropLast(5)), source: "x.idx") }
            == "x.idx: is truncated: 2 images of 3x3 need 18 bytes after the 16-byte header, found 13")
        #expect(message { _ = try IDX.parseImages(good + [1], source: "x.idx") } == "x.idx: has 1 bytes after its 2 images")
        #expect(message { _ = try IDX.parseImages(Array(good.prefix(10)), source: "x.idx") }
            == "x.idx: is truncated: 10 bytes, shorter than the 16-byte IDX header")
        #expect(message { _ = try IDX.parseImages(IDXFixture.labels([1]), source: "y.idx") }
            .hasPrefix("y.idx: has magic number 0x801 at offset 0, not the IDX image magic 0x803"))
        #expect(message { _ = try IDX.parseLabels(IDXFixture.labels([1, 2, 3]).dropLast(1).map { $0 }, source: "l.idx") }
            == "l.idx: is truncated: 3 labels need 3 bytes after the 8-byte header, found 2")
        let images = try IDX.parseImages(good, source: "x")
        #expect(message { _ = try IDXDataset(images: images, labels: [0], classNames: ["a"], source: "pair") }
            == "pair: has 2 images but 1 labels")
        #expect(message { _ = try IDXDataset(images: images, labels: [0, 7], classNames: ["a", "b"], source: "pair") }
            == "pair: label 7 of example 1 is outside 0..<2")
        #expect(message { _ = try IDX.readImages(path: "/nonexistent/file") }.hasPrefix("/nonexistent/file: cannot be opened"))
        // Found by the fuzzer (Tests/Fixtures/fuzz/idx/): sizes whose product overflows, and
        // zero-pixel images that would make billions of examples out of a 16-byte file.
        let huge: [UInt8] = [0, 0, 8, 3, 0, 0, 7, 0x9E, 0xFE, 0xFF, 0xFF, 0, 3, 0, 0, 0, 3, 0, 1]
        #expect(message { _ = try IDX.parseImages(huge, source: "h.idx") }.hasPrefix("h.idx: has an impossible IDX header"))
        let empty: [UInt8] = [0, 0, 8, 3, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0, 0, 0, 0, 9]
        #expect(message { _ = try IDX.parseImages(empty, source: "e.idx") } == "e.idx: has images of 0x9 pixels in its IDX header: no image can be that small")
    }

    @Test func badGzipIsReported() throws {
        let directory = try IDXFixture.directory()
        let path = "\(directory)/images"
        try IDXFixture.write(IDXFixture.images(count: 50, rows: 28, columns: 28), to: path, gzip: true)
        let compressed = try readFile(path + ".gz")
        let roundTrip = try Gzip.decompress(compressed, source: "ok.gz")
        #expect(roundTrip == IDXFixture.images(count: 50, rows: 28, columns: 28))
        #expect(throws: DataError.self) { try Gzip.decompress(Array(compressed.prefix(compressed.count / 2)), source: "half.gz") }
        do {
            _ = try Gzip.decompress(Array(compressed.prefix(compressed.count / 2)), source: "half.gz")
        } catch {
            #expect(error.message.hasPrefix("is truncated"), "\(error)")
        }
        var corrupt = compressed
        for i in 20..<40 { corrupt[i] ^= 0xA5 }
        #expect(throws: DataError.self) { try Gzip.decompress(corrupt, source: "corrupt.gz") }
        #expect(throws: DataError.self) { try Gzip.decompress([1, 2, 3], source: "plain") }
        // A 40-byte stream whose trailer claims 4 GB: refused by zlib, without reserving 4 GB first.
        var liar = Array(compressed.prefix(36))
        liar += [0xFF, 0xFF, 0xFF, 0xFF]
        #expect(throws: DataError.self) { try Gzip.decompress(liar, source: "liar.gz") }
    }

    /// The real dataset from Debian's dataset-fashion-mnist (installed by scripts/setup.sh).
    @Test func realFashionMNIST() throws {
        let train = try FashionMNIST.training()
        let test = try FashionMNIST.test()
        #expect(train.count == 60_000 && test.count == 10_000)
        #expect(train.imageShape == Shape(channels: 1, height: 28, width: 28))
        // Fashion-MNIST is balanced: 6,000 and 1,000 of each class.
        var trainCounts = [Int](repeating: 0, count: 10), testCounts = [Int](repeating: 0, count: 10)
        for label in train.labels { trainCounts[Int(label)] += 1 }
        for label in test.labels { testCounts[Int(label)] += 1 }
        #expect(trainCounts == Array(repeating: 6000, count: 10) && testCounts == Array(repeating: 1000, count: 10))
        #expect(train.images.pixels.contains { $0 > 200 } && train.images.pixels.contains { $0 == 0 })
    }
}
