import AlexNet
import FoundationEssentials
import HTTPTypes
import Hummingbird
import NIOCore

/// The Open Inference Protocol (KServe v2, Triton's HTTP API): health, metadata and `infer`
/// taking preprocessed `FP32 [N, C, H, W]` or raw `UINT8 [N, H, W, C]` pixels of any size,
/// answering `logits` and `probabilities` (`FP32 [N, classes]`), or with the classification
/// extension (`"parameters": {"classification": k}`) the top k as `"score:index:label"` strings.
struct InferenceProtocolRoutes {
    let model: ModelRoutes

    func add(to router: Router<some RequestContext>) {
        router.get("/v2") { _, _ in
            try json(["name": "alexnet", "version": "0.1.0", "extensions": ["classification"]] as [String: JSONValue])
        }
        router.get("/v2/health/live") { _, _ in try json(["live": true] as [String: JSONValue]) }
        router.get("/v2/health/ready") { _, _ in
            let ready = !model.server.batcher.isClosed
            return try json(["ready": .bool(ready)] as [String: JSONValue], status: ready ? .ok : .serviceUnavailable)
        }
        router.get("/v2/models/{name}") { _, context in
            try model.requireModel(context)
            return try json(metadata)
        }
        router.get("/v2/models/{name}/ready") { _, context in
            try model.requireModel(context)
            let ready = !model.server.batcher.isClosed
            return try json(["name": .string(model.name), "ready": .bool(ready)] as [String: JSONValue], status: ready ? .ok : .serviceUnavailable)
        }
        router.post("/v2/models/{name}/infer", use: infer)
    }

    var metadata: ModelMetadata {
        let (c, h, w) = (model.inputDimensions[0], model.inputDimensions.count > 1 ? model.inputDimensions[1] : 1,
                         model.inputDimensions.count > 2 ? model.inputDimensions[2] : 1)
        return ModelMetadata(
            name: model.name, versions: ["1"], platform: "alexnet-swift",
            inputs: [.init(name: "input", datatype: "FP32", shape: [-1, c, h, w]),
                     .init(name: "image", datatype: "UINT8", shape: [-1, -1, -1, c])],
            outputs: [.init(name: "logits", datatype: "FP32", shape: [-1, model.classes]),
                      .init(name: "probabilities", datatype: "FP32", shape: [-1, model.classes])])
    }

    @Sendable func infer(_ request: Request, context: some RequestContext) async throws -> Response {
        try model.requireModel(context)
        let limit = model.server.configuration.maxUploadBytes
        if let length = request.headers[.contentLength].flatMap(Int.init), length > limit { throw NIOTooManyBytesError(maxBytes: limit) }
        let mediaType = (request.headers[.contentType] ?? "application/json").split(separator: ";")[0].lowercased()
        guard mediaType == "application/json" else {
            throw ServeError(.unsupportedMediaType, "infer takes a JSON body: send it with Content-Type: application/json (curl -H 'Content-Type: application/json'), not '\(mediaType)'")
        }
        let body = try await request.body.collect(upTo: limit)
        let inference = try JSONDecoder().decode(InferRequest.self, from: Data(buffer: body))
        guard inference.inputs.count == 1, let input = inference.inputs.first else {
            throw ServeError(.badRequest, "infer takes exactly one input (FP32 [N, \(model.inputDimensions.map(String.init).joined(separator: ", "))] preprocessed, or UINT8 [N, H, W, C] pixels), got \(inference.inputs.count)")
        }
        let (count, prepare) = try prepared(input)
        let wanted = try outputs(of: inference)
        let logits = try await model.server.batcher.logits(reserving: count) { try prepare() }
        model.server.metrics.imagesClassified.increment(by: Int64(count))
        let probabilities = Classifier.softmax(logits, classes: model.classes)
        let tensors = wanted.map { output -> OutputTensor in
            let values = output.name == "logits" ? logits : probabilities
            guard let k = output.classification else {
                return OutputTensor(name: output.name, datatype: "FP32", shape: [count, model.classes], data: .floats(values))
            }
            let labels = (0..<count).flatMap { row in
                let scores = Array(values[(row * model.classes)..<((row + 1) * model.classes)])
                return Classifier.ranked(scores, top: k, names: model.classifier.classNames).map { "\(scores[$0.label]):\($0.label):\($0.name)" }
            }
            return OutputTensor(name: output.name, datatype: "BYTES", shape: [count, k], data: .strings(labels))
        }
        return try json(InferResponse(model_name: model.name, model_version: "1", id: inference.id, outputs: tensors))
    }

    /// The number of images in `input` and how to make the network's inputs from it; every
    /// check on its datatype, shape and values happens here, before it takes a place in the queue.
    func prepared(_ input: InputTensor) throws -> (Int, () throws -> [Float]) {
        let network = model.inputDimensions
        let name = "input '\(input.name)'"
        let described = "[" + input.shape.map(String.init).joined(separator: ", ") + "]"
        guard input.shape.allSatisfy({ $0 > 0 }), input.shape.count == 4 else {
            throw ServeError(.badRequest, "\(name) has shape \(described): it must be FP32 [N, \(network.map(String.init).joined(separator: ", "))] or UINT8 [N, H, W, C] with every size positive")
        }
        let elements = input.shape.reduce(1) { $0.multipliedReportingOverflow(by: $1).overflow ? Int.max : $0.multipliedReportingOverflow(by: $1).partialValue }
        let count = input.shape[0]
        switch input.datatype {
        case "FP32":
            guard Array(input.shape.dropFirst()) == network else {
                throw ServeError(.badRequest, "\(name) is FP32 of shape \(described), but this model takes preprocessed FP32 [N, \(network.map(String.init).joined(separator: ", "))] (send UINT8 [N, H, W, C] pixels to have the server preprocess them)")
            }
            guard input.data.count == elements else {
                throw ServeError(.badRequest, "\(name) has \(input.data.count) values, but shape \(described) needs \(elements)")
            }
            guard input.data.allSatisfy(\.isFinite) else { throw ServeError(.badRequest, "\(name) holds a NaN or infinite value") }
            return (count, { input.data })
        case "UINT8":
            let (h, w, c) = (input.shape[1], input.shape[2], input.shape[3])
            guard c == 1 || c == 3 else {
                throw ServeError(.badRequest, "\(name) is UINT8 of shape \(described): the last dimension is channels and must be 1 (gray) or 3 (RGB)")
            }
            guard h * w <= model.server.configuration.maxPixels, h <= 1 << 16, w <= 1 << 16 else {
                throw ServeError(.badRequest, "\(name) claims \(w)x\(h) pixels, more than the server's \(model.server.configuration.maxPixels)-pixel limit")
            }
            guard input.data.count == elements else {
                throw ServeError(.badRequest, "\(name) has \(input.data.count) values, but shape \(described) needs \(elements)")
            }
            if let bad = input.data.firstIndex(where: { !($0 >= 0 && $0 <= 255 && $0.rounded() == $0) }) {
                throw ServeError(.badRequest, "\(name) is UINT8 but value \(bad) is \(input.data[bad]), not a whole number from 0 to 255")
            }
            let classifier = model.classifier
            return (count, {
                var inputs: [Float] = []
                let size = h * w * c
                for k in 0..<count {
                    let pixels = input.data[(k * size)..<((k + 1) * size)].map { UInt8($0) }
                    inputs += try classifier.input(for: Image(width: w, height: h, channels: c, pixels: pixels), source: "\(name), image \(k)")
                }
                return inputs
            })
        default:
            throw ServeError(.badRequest, "\(name) has datatype '\(input.datatype)': send FP32 (preprocessed [N, C, H, W]) or UINT8 (pixels [N, H, W, C])")
        }
    }

    /// The outputs asked for, each with its classification count: those named; else with a
    /// request-wide classification, the top classes by probability; else logits and probabilities.
    func outputs(of request: InferRequest) throws -> [(name: String, classification: Int?)] {
        let wanted: [(name: String, classification: Int?)]
        if let outputs = request.outputs {
            wanted = outputs.map { ($0.name, $0.parameters?.classification ?? request.parameters?.classification) }
        } else if let k = request.parameters?.classification {
            wanted = [("probabilities", k)]
        } else {
            wanted = [("logits", nil), ("probabilities", nil)]
        }
        for (name, k) in wanted {
            guard name == "logits" || name == "probabilities" else {
                throw ServeError(.badRequest, "unknown output '\(name)': this model answers 'logits' and 'probabilities'")
            }
            if let k, !(1...model.classes).contains(k) {
                throw ServeError(.badRequest, "classification must be from 1 to \(model.classes), got \(k)")
            }
        }
        return wanted
    }

    func json(_ value: some Encodable, status: HTTPResponse.Status = .ok) throws -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: try encoder.encode(value))))
    }
}

// MARK: The protocol's messages

struct InferRequest: Decodable {
    var id: String?
    var parameters: InferParameters?
    var inputs: [InputTensor]
    var outputs: [RequestedOutput]?
}

struct InferParameters: Decodable {
    var classification: Int?
}

struct RequestedOutput: Decodable {
    var name: String
    var parameters: InferParameters?
}

/// An input tensor; `data` flat or nested in row-major order, as the protocol allows.
struct InputTensor: Decodable {
    var name: String
    var shape: [Int]
    var datatype: String
    var data: [Float]

    enum CodingKeys: String, CodingKey { case name, shape, datatype, data }

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        name = try container.decode(String.self, forKey: .name)
        shape = try container.decode([Int].self, forKey: .shape)
        datatype = try container.decode(String.self, forKey: .datatype)
        if let flat = try? container.decode([Float].self, forKey: .data) {
            data = flat
        } else {
            data = try container.decode(Nested.self, forKey: .data).flattened
        }
    }

    /// Numbers nested in arrays to any depth.
    indirect enum Nested: Decodable {
        case number(Float), array([Nested])

        init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let number = try? container.decode(Float.self) {
                self = .number(number)
            } else {
                self = .array(try container.decode([Nested].self))
            }
        }

        var flattened: [Float] {
            switch self {
            case let .number(value): [value]
            case let .array(items): items.flatMap(\.flattened)
            }
        }
    }
}

struct InferResponse: Encodable {
    var model_name: String
    var model_version: String
    var id: String?
    var outputs: [OutputTensor]
}

struct OutputTensor: Encodable {
    var name: String
    var datatype: String
    var shape: [Int]
    var data: Values

    enum Values: Encodable {
        case floats([Float]), strings([String])

        func encode(to encoder: any Encoder) throws {
            var container = encoder.singleValueContainer()
            switch self {
            case let .floats(values): try container.encode(values)
            case let .strings(values): try container.encode(values)
            }
        }
    }
}

struct ModelMetadata: Encodable {
    struct Tensor: Encodable {
        var name: String
        var datatype: String
        var shape: [Int]
    }

    var name: String
    var versions: [String]
    var platform: String
    var inputs: [Tensor]
    var outputs: [Tensor]
}

/// A few JSON values for small fixed answers.
enum JSONValue: Encodable, ExpressibleByBooleanLiteral, ExpressibleByStringLiteral, ExpressibleByArrayLiteral {
    case bool(Bool), string(String), array([JSONValue])

    init(booleanLiteral value: Bool) { self = .bool(value) }
    init(stringLiteral value: String) { self = .string(value) }
    init(arrayLiteral elements: JSONValue...) { self = .array(elements) }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case let .bool(value): try container.encode(value)
        case let .string(value): try container.encode(value)
        case let .array(values): try container.encode(values)
        }
    }
}
