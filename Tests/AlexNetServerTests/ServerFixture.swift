import AlexNet
import Foundation
import Hummingbird
import HummingbirdTesting
import Testing
@testable import AlexNetServer

/// A small colour network with random weights, saved as `alexnet train` saves checkpoints, and
/// the server around it. A class name holds a quote so that JSON escaping is exercised.
enum ServerFixture {
    static let networkText = """
        name: tiny-rgb
        input: 3x32x32

        conv1    conv     out=8 kernel=3 pad=1
        relu1    relu
        pool1    maxpool  kernel=2 stride=2
        flatten  flatten
        fc1      linear   out=4
        """

    static let classNames = ["cat", "dog \"big\"", "bird", "fish"]

    /// The checkpoint's path, written once per test process.
    static let checkpoint: String = {
        let network = try! NetworkFile.parse(networkText).resolved()
        let plan = try! ReferenceBackend().makePlan(for: network, batchSize: 1, seed: 11)
        let configuration = TrainingConfiguration(
            preset: "test", model: "tiny-rgb", data: "pets", epochs: 1, batchSize: 1, optimizer: .paper,
            schedule: Schedule(kind: .constant, baseLearningRate: 0.01),
            preprocessing: Preprocessing(channels: 3, resize: 36, crop: 32, mean: [0.5, 0.4, 0.3], std: [0.25, 0.25, 0.3]))
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("server-\(UUID().uuidString).safetensors").path
        try! Checkpoint.write(plan: plan, run: RunState(configuration: configuration, classNames: classNames), to: path)
        return path
    }()

    static func classifier() throws -> Classifier { try Classifier(model: TrainedModel(checkpoint: checkpoint), largestPlanBatch: 8) }

    /// A colourful picture of any size (not square, not the network's size).
    static func photo(width: Int = 50, height: Int = 40, seed: Int = 0) -> Image {
        var image = Image(width: width, height: height, channels: 3)
        for y in 0..<height {
            for x in 0..<width {
                for c in 0..<3 { image[x, y, c] = UInt8((x * (7 + seed) + y * (3 + 2 * seed) + c * 50 + seed * 31) % 256) }
            }
        }
        return image
    }

    /// A server for the fixture, its application under test, closed afterwards.
    static func withServer(_ configuration: ServerConfiguration = ServerConfiguration(name: "pets"), _ setup: TestingSetup = .router,
                           _ body: @Sendable (any TestClientProtocol, ModelServer) async throws -> Void) async throws {
        let server = ModelServer(classifier: try classifier(), configuration: configuration)
        try await server.application().test(setup) { client in try await body(client, server) }
        await server.batcher.close()
    }

    /// A JPEG whose EXIF orientation (6) says "turn 90 degrees clockwise to view".
    static func rotatedJPEG(_ image: Image) -> [UInt8] {
        var jpeg = ImageCodec.encodeJPEG(image, quality: 95)
        let tiff: [UInt8] = [0x49, 0x49, 0x2A, 0x00, 0x08, 0, 0, 0, 0x01, 0x00,
                             0x12, 0x01, 0x03, 0x00, 0x01, 0, 0, 0, 0x06, 0x00, 0, 0, 0, 0, 0, 0, 0, 0]
        let payload: [UInt8] = Array("Exif".utf8) + [0, 0] + tiff
        jpeg.insert(contentsOf: [0xFF, 0xE1, UInt8((payload.count + 2) >> 8), UInt8((payload.count + 2) & 0xFF)] + payload, at: 2)
        return jpeg
    }

    /// A multipart/form-data body with the given fields, and its Content-Type.
    static func multipart(_ fields: [(name: String, filename: String?, bytes: [UInt8])]) -> (ByteBuffer, String) {
        let boundary = "----alexnet-test-boundary"
        var body: [UInt8] = []
        for field in fields {
            let disposition = "Content-Disposition: form-data; name=\"\(field.name)\"" + (field.filename.map { "; filename=\"\($0)\"" } ?? "")
            body += Array("--\(boundary)\r\n\(disposition)\r\nContent-Type: application/octet-stream\r\n\r\n".utf8) + field.bytes + Array("\r\n".utf8)
        }
        body += Array("--\(boundary)--\r\n".utf8)
        return (ByteBuffer(bytes: body), "multipart/form-data; boundary=\(boundary)")
    }

    /// The (label, probability) pairs of a TorchServe answer, in the order written.
    static func orderedAnswer(_ body: ByteBuffer) throws -> [(String, Double)] {
        let text = String(buffer: body)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Double])
        let keys = object.keys.sorted { text.range(of: JSONText.string($0))!.lowerBound < text.range(of: JSONText.string($1))!.lowerBound }
        return keys.map { ($0, object[$0]!) }
    }

    static func json(_ body: ByteBuffer) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(String(buffer: body).utf8)) as? [String: Any])
    }

    static func error(_ body: ByteBuffer) throws -> String {
        try #require(try json(body)["error"] as? String)
    }
}
