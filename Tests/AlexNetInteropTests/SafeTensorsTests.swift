import AlexNetCore
import AlexNetInterop
import Foundation
import Testing

@Suite struct SafeTensorsTests {
    static func temporaryPath(_ name: String) -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("alexnet-st-\(UUID().uuidString)-\(name)").path
    }

    /// A file built by hand: header JSON then raw bytes.
    static func file(_ header: String, data: [UInt8]) -> [UInt8] {
        let json = Array(header.utf8)
        return (0..<8).map { UInt8(truncatingIfNeeded: json.count >> (8 * $0)) } + json + data
    }

    @Test func roundTripWithMetadata() throws {
        let path = Self.temporaryPath("round.safetensors")
        let a: [Float] = [1, -2.5, 3, 4, 5, 6], b: [Float] = [0.125]
        try a.withUnsafeBufferPointer { pa in
            try b.withUnsafeBufferPointer { pb in
                try SafeTensors.write([.init(name: "conv1.weight", shape: [2, 3], data: pa), .init(name: "fc.bias", shape: [1], data: pb)],
                                      metadata: ["note": "quote \" and newline \n"], to: path)
            }
        }
        let file = try SafeTensors(path: path)
        #expect(file.entries.map(\.name) == ["conv1.weight", "fc.bias"])
        #expect(file["conv1.weight"]?.shape == [2, 3])
        #expect(try file.floats("conv1.weight") == a)
        #expect(try file.floats("fc.bias") == b)
        #expect(file.metadata["note"] == "quote \" and newline \n")
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
        #expect((8 + Int(bytes[0]) + Int(bytes[1]) << 8) % 8 == 0, "data starts 8-byte aligned")
    }

    @Test func halfAndBrainFloatConvertToFloat() throws {
        // F16 1.0 = 0x3C00, -2.0 = 0xC000, 65504 = 0x7BFF, smallest subnormal 0x0001; BF16 1.5 = 0x3FC0.
        let header = #"{"h":{"dtype":"F16","shape":[4],"data_offsets":[0,8]},"b":{"dtype":"BF16","shape":[1],"data_offsets":[8,10]}}"#
        let data: [UInt8] = [0x00, 0x3C, 0x00, 0xC0, 0xFF, 0x7B, 0x01, 0x00, 0xC0, 0x3F]
        let file = try SafeTensors(data: Self.file(header, data: data), source: "t")
        #expect(try file.floats("h") == [1, -2, 65504, 0x1p-24])
        #expect(try file.floats("b") == [1.5])
    }

    @Test(arguments: [
        (#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#, 4, "truncated"),
        (#"{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#, 8, "needs 12 bytes"),
        (#"{"a":{"dtype":"X9","shape":[2],"data_offsets":[0,8]}}"#, 8, "unknown dtype"),
        (#"{"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}"#, 8, "valid shape"),
        (#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,0]}}"#, 8, "out of order"),
        (#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#, 4, "overlaps"),
        (#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#, 8, "gap"),
        (#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#, 8, "after its last tensor"),
        (#"{"a":{"dtype":"F32","shape":[2251799813685248,1048576],"data_offsets":[0,4]}}"#, 4, "too large"),
        (#"{"a":[1,2]}"#, 0, "not an object"),
        (#"{"a":"#, 0, "not valid JSON"),
        (#"[1]"#, 0, "not a JSON object"),
        (#"{"__metadata__":{"k":3}}"#, 0, "not a string"),
    ])
    func hostileFilesAreRejectedWithAReason(header: String, dataBytes: Int, reason: String) {
        do {
            _ = try SafeTensors(data: Self.file(header, data: Array(repeating: 0, count: dataBytes)), source: "bad.safetensors")
            Issue.record("accepted: \(header)")
        } catch {
            #expect(error.source == "bad.safetensors")
            #expect(error.message.contains(reason), "\(error.message)")
        }
    }

    @Test func headerLengthIsCheckedBeforeAnythingIsAllocated() {
        var huge = [UInt8](repeating: 0xFF, count: 8)
        huge[7] = 0x7F
        #expect(throws: SafeTensorsError.self) { try SafeTensors(data: huge + [0x7B], source: "x") }
        #expect(throws: SafeTensorsError.self) { try SafeTensors(data: [1, 2, 3], source: "x") }
        #expect(throws: SafeTensorsError.self) { try SafeTensors(data: [100, 0, 0, 0, 0, 0, 0, 0, 0x7B, 0x7D], source: "x") }
    }

    @Test func aFailedAtomicWriteLeavesTheOldFile() throws {
        let path = Self.temporaryPath("atomic.txt")
        try AtomicFile.write("old contents", to: path)
        #expect(throws: SafeTensorsError.self) {
            try AtomicFile.write(to: path) { file throws(SafeTensorsError) in
                try file.write(Array("half of the new".utf8))
                throw SafeTensorsError(path, "simulated crash during the write")
            }
        }
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "old contents")
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: (path as NSString).deletingLastPathComponent)
            .filter { $0.hasPrefix((path as NSString).lastPathComponent + ".partial") }
        #expect(leftovers.isEmpty)
    }
}
