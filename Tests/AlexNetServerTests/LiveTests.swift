import AlexNet
import Foundation
import Hummingbird
import HummingbirdTesting
import Testing
@testable import AlexNetServer

/// The server on a real socket with many connections at once: requests are batched (the
/// metrics say so) and each answer is what `Classifier` says about that image alone.
@Suite struct LiveTests {
    @Test func concurrentClientsAreBatchedAndEachGetsItsOwnAnswer() async throws {
        let classifier = try ServerFixture.classifier()
        let images = (0..<16).map { ImageCodec.encodePNG(ServerFixture.photo(width: 48 + $0, height: 40, seed: $0)) }
        let expected = try images.map { try classifier.classify(imageData: $0, top: 4) }
        let configuration = ServerConfiguration(name: "pets", batching: .init(maxBatch: 8, maxDelay: .milliseconds(50)))
        let (clients, rounds) = (16, 4)
        try await ServerFixture.withServer(configuration, .live) { client, _ in
            let port = try #require(client.port)
            try await withThrowingTaskGroup(of: Void.self) { group in
                for c in 0..<clients {
                    group.addTask {
                        // A generous read timeout: CI runs other suites beside this one on 2 cores.
                        let connection = TestClient(host: "127.0.0.1", port: port, configuration: .init(timeout: .seconds(300)))
                        connection.connect()
                        for round in 0..<rounds {
                            let k = (c + round * 5) % images.count
                            let response = try await connection.execute(.init("/predictions/pets?top=4", method: .post, headers: [.contentType: "image/png"],
                                                                              body: ByteBuffer(bytes: images[k])))
                            #expect(response.status == .ok)
                            let answer = try ServerFixture.orderedAnswer(try #require(response.body))
                            #expect(answer.map(\.0) == expected[k].map(\.name), "image \(k)")
                            for (got, want) in zip(answer, expected[k]) { #expect(abs(got.1 - want.probability) <= 1e-6, "image \(k)") }
                        }
                        try await connection.shutdown()
                    }
                }
                try await group.waitForAll()
            }
            try await client.execute(uri: "/metrics", method: .get) { response throws in
                let text = String(buffer: response.body)
                func value(_ name: String) -> Double? {
                    text.split(separator: "\n").first { $0.hasPrefix(name + " ") }.flatMap { Double($0.split(separator: " ")[1]) }
                }
                let batches = try #require(value("alexnet_batch_size_images_count"))
                #expect(value("alexnet_batch_size_images_sum") == Double(clients * rounds))
                #expect(value("alexnet_images_classified_total") == Double(clients * rounds))
                #expect(batches < Double(clients * rounds), "every request ran alone: no batching happened")
            }
        }
    }
}
