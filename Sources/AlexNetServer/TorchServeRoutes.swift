import AlexNet
import HTTPTypes
import Hummingbird
import NIOCore

/// TorchServe's inference API: `POST /predictions/{name}` with an image answers its top classes
/// as `{"label": probability, ...}`, most probable first; `GET /ping` says it is healthy.
struct TorchServeRoutes {
    let model: ModelRoutes

    func add(to router: Router<some RequestContext>) {
        router.get("/ping") { _, _ in
            let healthy = !model.server.batcher.isClosed
            return Response(status: healthy ? .ok : .serviceUnavailable, headers: [.contentType: "application/json"],
                            body: .init(byteBuffer: ByteBuffer(string: "{\"status\": \"\(healthy ? "Healthy" : "Unhealthy")\"}\n")))
        }
        router.post("/predictions/{name}", use: predict)
        router.put("/predictions/{name}", use: predict)
    }

    @Sendable func predict(_ request: Request, context: some RequestContext) async throws -> Response {
        try model.requireModel(context)
        let top = try model.top(of: request)
        let bytes = try await ImageUpload.bytes(of: request, limit: model.server.configuration.maxUploadBytes)
        let (guesses, timing) = try await model.classify(encoded: bytes, top: top)
        let fields = guesses.map { "  \(JSONText.string($0.name)): \(JSONText.number($0.probability))" }
        return Response(status: .ok, headers: [.contentType: "application/json", .serverTiming: timing.header],
                        body: .init(byteBuffer: ByteBuffer(string: "{\n" + fields.joined(separator: ",\n") + "\n}\n")))
    }
}
