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
        #expect(throws: DataError.self) { try CIFAR10.check(badLabel, source: "x", classes: 10) }
        let badMeta = try directory(train: Self.records(1), test: [], meta: "cat\ndog\n")
        #expect(throws: DataError.self) { try CIFAR10.training(directory: badMeta) }
    }
}
