import AlexNetInterop
import Foundation
import Testing

@Suite struct TensorBoardTests {
    static let fixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/tensorboard/events.out.tfevents.fixture").path
    /// The 1x1 gray PNG of the fixture.
    static let png: [UInt8] = [
        0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52, 0x00, 0x00, 0x00, 0x01,
        0x00, 0x00, 0x00, 0x01, 0x08, 0x00, 0x00, 0x00, 0x00, 0x3a, 0x7e, 0x9b, 0x55, 0x00, 0x00, 0x00, 0x0a, 0x49, 0x44, 0x41,
        0x54, 0x78, 0x9c, 0x63, 0x60, 0x00, 0x00, 0x00, 0x02, 0x00, 0x01, 0x5f, 0xcf, 0xb8, 0xe7, 0x00, 0x00, 0x00, 0x00, 0x49,
        0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
    ]

    /// The CRC-32C check value of the standard ("123456789" -> 0xE3069283), and TFRecord's mask.
    @Test func crc32cMatchesTheStandard() {
        #expect(TFRecord.crc32c(Array("123456789".utf8)) == 0xE306_9283)
        #expect(TFRecord.crc32c([]) == 0)
        let crc = TFRecord.crc32c([1, 2, 3])
        #expect(TFRecord.maskedCRC32C([1, 2, 3]) == ((crc >> 15) | (crc << 17)) &+ 0xA282_EAD8)
    }

    /// The same events written by us and by the `tensorboard` package's own writer
    /// (scripts/make_tensorboard_fixture.py) are the same bytes, and read back alike.
    @Test func writesWhatTensorBoardsOwnWriterWrites() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tb-\(UUID().uuidString)").path
        let writer = try EventWriter(directory: directory, wallTime: 1_764_547_200.5)
        for (step, loss, rate) in [(1, 2.3125, 0.01), (2, 1.75, 0.005)] {
            try writer.scalars([("step/loss", loss), ("step/learning_rate", rate)], step: step, wallTime: 1_764_547_201.25 + Double(step))
        }
        try writer.image("curves", png: Self.png, step: 2, wallTime: 1_764_547_210)
        try writer.flush()
        #expect(writer.path.hasPrefix("\(directory)/events.out.tfevents.1764547200."))
        let ours = try #require(FileManager.default.contents(atPath: writer.path))
        let theirs = try #require(FileManager.default.contents(atPath: Self.fixture))
        #expect(ours == theirs, "\(ours.count) bytes vs \(theirs.count)")

        let file = try EventFile(path: Self.fixture)
        #expect(file.fileVersion == "brain.Event:2")
        #expect(file.scalar("step/loss").map(\.step) == [1, 2])
        #expect(file.scalar("step/learning_rate").map { Float($0.value) } == [0.01, 0.005])
        #expect(file.entries.last?.images["curves"] == Self.png)
    }

    /// A damaged byte is found by its CRC, named with the record's offset.
    @Test func corruptRecordsAreNamed() throws {
        var bytes = [UInt8](try #require(FileManager.default.contents(atPath: Self.fixture)))
        let first = try TFRecord.records(Array(bytes.prefix(16 + Int(bytes[0]))), source: "x")
        #expect(first.count == 1)
        bytes[bytes.count - 10] ^= 0x40
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("tb-bad-\(UUID().uuidString)").path
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        #expect(throws: (any Error).self) { try EventFile(path: path) }
        do { _ = try EventFile(path: path) } catch { #expect("\(error)".contains("corrupt record at byte"), "\(error)") }
        try Data(bytes.prefix(bytes.count - 3)).write(to: URL(fileURLWithPath: path))
        do { _ = try EventFile(path: path) } catch { #expect("\(error)".contains("ends inside"), "\(error)") }
    }
}
