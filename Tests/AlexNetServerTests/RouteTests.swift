import AlexNet
import Foundation
import Hummingbird
import HummingbirdTesting
import Testing
@testable import AlexNetServer

/// Every route and every refusal, through Hummingbird's in-process router tester. Answers are
/// compared with `Classifier` on the same image: the server adds no math of its own.
@Suite struct RouteTests {
    @Test func predictionsAnswerTheClassifiersTopClassesInOrder() async throws {
        let photo = ServerFixture.photo()
        let png = ImageCodec.encodePNG(photo), jpeg = ImageCodec.encodeJPEG(photo)
        let classifier = try ServerFixture.classifier()
        try await ServerFixture.withServer { client, _ in
            for (bytes, type) in [(png, "image/png"), (jpeg, "image/jpeg"), (png, "application/octet-stream")] {
                try await client.execute(uri: "/predictions/pets", method: .post, headers: [.contentType: type], body: ByteBuffer(bytes: bytes)) { response throws in
                    #expect(response.status == .ok)
                    #expect(response.headers[.contentType] == "application/json")
                    #expect(response.headers[.serverTiming]?.contains("decode;dur=") == true)
                    let answer = try ServerFixture.orderedAnswer(response.body)
                    let expected = try classifier.classify(imageData: bytes, top: 4)
                    #expect(answer.map(\.0) == expected.map(\.name))
                    for (got, want) in zip(answer, expected) { #expect(abs(got.1 - want.probability) <= 1e-6) }
                }
            }
            // PUT (curl -T), the multipart field `data`, and ?top=k.
            try await client.execute(uri: "/predictions/pets?top=2", method: .put, body: ByteBuffer(bytes: png)) { response throws in
                #expect(try ServerFixture.orderedAnswer(response.body).map(\.0) == classifier.classify(imageData: png, top: 2).map(\.name))
            }
            let (form, type) = ServerFixture.multipart([("note", nil, Array("hello".utf8)), ("data", "photo.png", png)])
            try await client.execute(uri: "/predictions/pets?top=1", method: .post, headers: [.contentType: type], body: form) { response throws in
                #expect(response.status == .ok)
                #expect(try ServerFixture.orderedAnswer(response.body).map(\.0) == classifier.classify(imageData: png, top: 1).map(\.name))
            }
        }
    }

    @Test func exifOrientationIsHonoured() async throws {
        // Stored sideways with orientation 6: the server must see the upright picture.
        let upright = ServerFixture.photo(width: 30, height: 60)
        let stored = ImageCodec.oriented(ImageCodec.oriented(ImageCodec.oriented(upright, orientation: 6), orientation: 6), orientation: 6)
        let rotated = ServerFixture.rotatedJPEG(stored)
        let classifier = try ServerFixture.classifier()
        let expected = try classifier.classify(images: [try ImageCodec.decode(rotated, source: "rotated")], top: 4)[0]
        #expect(try ImageCodec.decode(rotated, source: "rotated").width == 30)
        try await ServerFixture.withServer { client, _ in
            try await client.execute(uri: "/predictions/pets", method: .post, headers: [.contentType: "image/jpeg"], body: ByteBuffer(bytes: rotated)) { response throws in
                let answer = try ServerFixture.orderedAnswer(response.body)
                #expect(answer.map(\.0) == expected.map(\.name))
                for (got, want) in zip(answer, expected) { #expect(abs(got.1 - want.probability) <= 1e-6) }
            }
        }
    }

    @Test func badUploadsAreRefusedWithTheReason() async throws {
        let png = ImageCodec.encodePNG(ServerFixture.photo())
        var bomb = ImageCodec.encodeJPEG(ServerFixture.photo())
        if let sof = (0..<(bomb.count - 9)).first(where: { bomb[$0] == 0xFF && bomb[$0 + 1] == 0xC0 }) {
            bomb.replaceSubrange((sof + 5)..<(sof + 9), with: [0x75, 0x30, 0x75, 0x30])  // claims 30000x30000
        }
        let (noData, noDataType) = ServerFixture.multipart([("file", nil, png)])
        let (truncatedForm, formType) = ServerFixture.multipart([("data", "a.png", png)])
        let cases: [(body: [UInt8], type: String?, status: HTTPResponse.Status, message: String)] = [
            (Array(png.prefix(60)), "image/png", .badRequest, "truncated"),
            (Array("hello".utf8), "image/jpeg", .badRequest, "neither a JPEG nor a PNG"),
            ([], "image/png", .badRequest, "no body"),
            (bomb, "image/jpeg", .badRequest, "30000x30000 pixels, more than the 50-megapixel limit"),
            (png, "text/plain", .unsupportedMediaType, "not an image"),
            (png, "image/gif", .unsupportedMediaType, "not an image"),
            (Array(noData.readableBytesView), noDataType, .badRequest, "no field 'data'"),
            (Array(truncatedForm.readableBytesView.prefix(60)), formType, .badRequest, "multipart form"),
            (png, "multipart/form-data", .badRequest, "no boundary"),
        ]
        try await ServerFixture.withServer { client, _ in
            for item in cases {
                var headers: HTTPFields = [:]
                if let type = item.type { headers[.contentType] = type }
                try await client.execute(uri: "/predictions/pets", method: .post, headers: headers, body: ByteBuffer(bytes: item.body)) { response throws in
                    #expect(response.status == item.status, "\(item.message)")
                    #expect(response.headers[.contentType] == "application/json")
                    let message = try ServerFixture.error(response.body)
                    #expect(message.contains(item.message), "\(message)")
                }
            }
            try await client.execute(uri: "/predictions/cats", method: .post, body: ByteBuffer(bytes: png)) { response throws in
                #expect(response.status == .notFound)
                #expect(try ServerFixture.error(response.body).contains("no model named 'cats'"))
            }
            try await client.execute(uri: "/predictions/pets?top=0", method: .post, body: ByteBuffer(bytes: png)) { response throws in
                #expect(response.status == .badRequest)
                #expect(try ServerFixture.error(response.body).contains("top must be a whole number from 1 to 4"))
            }
            try await client.execute(uri: "/nowhere", method: .get) { response throws in
                #expect(response.status == .notFound)
                #expect(try ServerFixture.error(response.body).contains("/nowhere"))
            }
        }
    }

    @Test func uploadsOverTheLimitGet413() async throws {
        let big = ByteBuffer(bytes: [UInt8](repeating: 7, count: (1 << 20) + 100))
        try await ServerFixture.withServer(ServerConfiguration(name: "pets", maxUploadMegabytes: 1)) { client, _ in
            for uri in ["/predictions/pets", "/v2/models/pets/infer"] {
                let type = uri.hasSuffix("infer") ? "application/json" : "image/png"
                try await client.execute(uri: uri, method: .post, headers: [.contentType: type], body: big) { response throws in
                    #expect(response.status == .contentTooLarge)
                    #expect(try ServerFixture.error(response.body).contains("1 MiB limit"))
                }
            }
        }
    }

    @Test func healthAndMetadata() async throws {
        try await ServerFixture.withServer { client, _ in
            try await client.execute(uri: "/ping", method: .get) { response throws in
                #expect(try ServerFixture.json(response.body)["status"] as? String == "Healthy")
            }
            try await client.execute(uri: "/v2/health/live", method: .get) { #expect($0.status == .ok) }
            try await client.execute(uri: "/v2/health/ready", method: .get) { #expect($0.status == .ok) }
            try await client.execute(uri: "/v2/models/pets/ready", method: .get) { response throws in
                #expect(try ServerFixture.json(response.body)["ready"] as? Bool == true)
            }
            try await client.execute(uri: "/v2/models/pets", method: .get) { response throws in
                let metadata = try ServerFixture.json(response.body)
                #expect(metadata["name"] as? String == "pets")
                let inputs = try #require(metadata["inputs"] as? [[String: Any]])
                #expect(inputs.map { $0["datatype"] as? String } == ["FP32", "UINT8"])
                #expect(inputs[0]["shape"] as? [Int] == [-1, 3, 32, 32])
                #expect(inputs[1]["shape"] as? [Int] == [-1, -1, -1, 3])
                let outputs = try #require(metadata["outputs"] as? [[String: Any]])
                #expect(outputs.map { $0["name"] as? String } == ["logits", "probabilities"])
                #expect(outputs[0]["shape"] as? [Int] == [-1, 4])
            }
            try await client.execute(uri: "/v2/models/dogs", method: .get) { #expect($0.status == .notFound) }
            try await client.execute(uri: "/", method: .get) { response throws in
                let page = String(buffer: response.body)
                #expect(response.headers[.contentType] == "text/html; charset=utf-8")
                #expect(page.contains("const MODEL = {\"name\": \"pets\", \"input\": [3, 32, 32], \"classes\": [\"cat\", \"dog \\\"big\\\"\""))
                #expect(!page.contains("__MODEL__") && !page.contains("http://") && !page.contains("https://"))
            }
        }
    }

    @Test func inferTakesPixelsOrPreprocessedTensors() async throws {
        let classifier = try ServerFixture.classifier()
        let photos = [ServerFixture.photo(width: 40, height: 30, seed: 1), ServerFixture.photo(width: 40, height: 30, seed: 2)]
        let expected = try classifier.probabilities(of: photos)
        let inputs = try photos.flatMap { try classifier.input(for: $0) }
        let expectedLogits = try classifier.logits(forInputs: inputs, count: 2)
        let pixels = photos.flatMap(\.pixels).map(Int.init)
        let raw = #"{"id": "req-7", "inputs": [{"name": "image", "datatype": "UINT8", "shape": [2, 30, 40, 3], "data": \#(pixels)}]}"#
        let preprocessed = #"{"inputs": [{"name": "input", "datatype": "FP32", "shape": [2, 3, 32, 32], "data": \#(inputs)}], "outputs": [{"name": "logits"}]}"#
        try await ServerFixture.withServer { client, _ in
            try await client.execute(uri: "/v2/models/pets/infer", method: .post, headers: [.contentType: "application/json"],
                                     body: ByteBuffer(string: raw)) { response throws in
                #expect(response.status == .ok)
                let answer = try ServerFixture.json(response.body)
                #expect(answer["id"] as? String == "req-7")
                #expect(answer["model_name"] as? String == "pets")
                let outputs = try #require(answer["outputs"] as? [[String: Any]])
                #expect(outputs.map { $0["name"] as? String } == ["logits", "probabilities"])
                #expect(outputs[1]["shape"] as? [Int] == [2, 4])
                let probabilities = try #require(outputs[1]["data"] as? [Double])
                for (got, want) in zip(probabilities, expected.flatMap { $0 }) { #expect(abs(got - Double(want)) <= 1e-6) }
            }
            try await client.execute(uri: "/v2/models/pets/infer", method: .post, headers: [.contentType: "application/json"],
                                     body: ByteBuffer(string: preprocessed)) { response throws in
                let outputs = try #require(try ServerFixture.json(response.body)["outputs"] as? [[String: Any]])
                #expect(outputs.count == 1)
                let logits = try #require(outputs[0]["data"] as? [Double])
                for (got, want) in zip(logits, expectedLogits) { #expect(abs(got - Double(want)) <= 1e-5) }
            }
        }
    }

    @Test func classificationExtensionAnswersScoreIndexLabel() async throws {
        let classifier = try ServerFixture.classifier()
        let photo = ServerFixture.photo(width: 20, height: 20, seed: 3)
        let top = try classifier.classify(images: [photo], top: 2)[0]
        // Nested data, as the protocol allows.
        let rows = (0..<20).map { y in (0..<20).map { x in (0..<3).map { Int(photo[x, y, $0]) } } }
        let body = #"{"inputs": [{"name": "image", "datatype": "UINT8", "shape": [1, 20, 20, 3], "data": [\#(rows)]}], "parameters": {"classification": 2}}"#
        try await ServerFixture.withServer { client, _ in
            try await client.execute(uri: "/v2/models/pets/infer", method: .post, headers: [.contentType: "application/json"],
                                     body: ByteBuffer(string: body)) { response throws in
                #expect(response.status == .ok)
                let outputs = try #require(try ServerFixture.json(response.body)["outputs"] as? [[String: Any]])
                #expect(outputs.count == 1 && outputs[0]["datatype"] as? String == "BYTES")
                #expect(outputs[0]["shape"] as? [Int] == [1, 2])
                let labels = try #require(outputs[0]["data"] as? [String])
                #expect(labels.map { $0.split(separator: ":", maxSplits: 2).dropFirst().joined(separator: ":") } == top.map { "\($0.label):\($0.name)" })
                #expect(abs(Double(labels[0].split(separator: ":")[0])! - top[0].probability) <= 1e-6)
            }
        }
    }

    @Test func badInferRequestsSayWhatIsWrong() async throws {
        let cases: [(body: String, type: String, status: HTTPResponse.Status, message: String)] = [
            (#"{"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 3, 16, 16], "data": [0]}]}"#, "application/json", .badRequest,
             "FP32 of shape [1, 3, 16, 16], but this model takes preprocessed FP32 [N, 3, 32, 32]"),
            (#"{"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 3, 32, 32], "data": [0, 1]}]}"#, "application/json", .badRequest,
             "has 2 values, but shape [1, 3, 32, 32] needs 3072"),
            (#"{"inputs": [{"name": "x", "datatype": "INT64", "shape": [1, 2, 2, 3], "data": [0]}]}"#, "application/json", .badRequest, "datatype 'INT64'"),
            (#"{"inputs": [{"name": "x", "datatype": "UINT8", "shape": [1, 2, 2, 4], "data": [0]}]}"#, "application/json", .badRequest, "must be 1 (gray) or 3 (RGB)"),
            (#"{"inputs": [{"name": "x", "datatype": "UINT8", "shape": [1, 1, 1, 3], "data": [0, 1, 256]}]}"#, "application/json", .badRequest, "not a whole number from 0 to 255"),
            (#"{"inputs": [{"name": "x", "datatype": "UINT8", "shape": [1, 100000, 100000, 3], "data": [0]}]}"#, "application/json", .badRequest, "pixels"),
            (#"{"inputs": [{"name": "x", "datatype": "UINT8", "shape": [2, 2, 3], "data": [0]}]}"#, "application/json", .badRequest, "has shape [2, 2, 3]"),
            (#"{"inputs": []}"#, "application/json", .badRequest, "exactly one input"),
            (#"{"inputs": [{"name": "x", "datatype": "UINT8", "shape": [1, 1, 1, 3], "data": [0, 1, 2]}], "outputs": [{"name": "scores"}]}"#,
             "application/json", .badRequest, "unknown output 'scores'"),
            (#"{"inputs": [{"name": "x", "datatype": "UINT8", "shape": [1, 1, 1, 3], "data": [0, 1, 2]}], "parameters": {"classification": 9}}"#,
             "application/json", .badRequest, "classification must be from 1 to 4"),
            (#"{"inputs": [{"name": "x", "shape": [1], "data": [0]}]}"#, "application/json", .badRequest, "inputs[0].datatype: missing"),
            (#"{"inputs": [{"#, "application/json", .badRequest, "JSON"),
            (#"{"inputs": []}"#, "text/plain", .unsupportedMediaType, "JSON body"),
        ]
        try await ServerFixture.withServer { client, _ in
            for item in cases {
                try await client.execute(uri: "/v2/models/pets/infer", method: .post, headers: [.contentType: item.type],
                                         body: ByteBuffer(string: item.body)) { response throws in
                    #expect(response.status == item.status, "\(item.message)")
                    let message = try ServerFixture.error(response.body)
                    #expect(message.contains(item.message), "\(message)")
                }
            }
            try await client.execute(uri: "/v2/models/dogs/infer", method: .post, headers: [.contentType: "application/json"],
                                     body: ByteBuffer(string: "{}")) { #expect($0.status == .notFound) }
        }
    }

    @Test func refusalsMapToStatusCodes() {
        let limits = ServerConfiguration()
        let full = ServeError.from(DynamicBatcher.Refusal.full(capacity: 4), limits: limits)
        #expect(full.status == .serviceUnavailable && full.headers[.retryAfter] == "1")
        #expect(ServeError.from(DynamicBatcher.Refusal.closed, limits: limits).status == .serviceUnavailable)
        #expect(ServeError.from(DynamicBatcher.Refusal.tooMany(300, capacity: 256), limits: limits).status == .contentTooLarge)
        #expect(ServeError.from(FileError("x", "bad"), limits: limits).status == .badRequest)
        #expect(ServeError.from(CancellationError(), limits: limits).status == .internalServerError)
    }

    @Test func metricsCountRequestsBatchesAndImages() async throws {
        let png = ImageCodec.encodePNG(ServerFixture.photo())
        try await ServerFixture.withServer { client, _ in
            for _ in 0..<3 {
                try await client.execute(uri: "/predictions/pets", method: .post, headers: [.contentType: "image/png"], body: ByteBuffer(bytes: png)) { _ in }
            }
            try await client.execute(uri: "/predictions/pets", method: .post, headers: [.contentType: "text/plain"], body: ByteBuffer(bytes: png)) { _ in }
            try await client.execute(uri: "/metrics", method: .get) { response throws in
                let text = String(buffer: response.body)
                #expect(response.headers[.contentType]?.hasPrefix("text/plain; version=0.0.4") == true)
                #expect(text.contains(#"alexnet_requests_total{route="/predictions/{name}",method="POST",status="200"} 3"#))
                #expect(text.contains(#"alexnet_requests_total{route="/predictions/{name}",method="POST",status="415"} 1"#))
                #expect(text.contains("alexnet_images_classified_total 3"))
                #expect(text.contains("alexnet_batch_size_images_count 3"))
                #expect(text.contains("alexnet_queue_time_seconds_count 3"))
                #expect(text.contains("alexnet_inference_duration_seconds_count 3"))
                #expect(text.contains(#"alexnet_request_duration_seconds_count{route="/predictions/{name}"} 4"#))
                #expect(text.contains("alexnet_queue_depth_images 0"))
            }
        }
    }
}
