import AlexNet
import HTTPTypes
import Hummingbird
import NIOCore
import Logging

/// What `alexnet serve` is told: where to listen, how to batch, what to refuse.
public struct ServerConfiguration: Sendable {
    /// The address to listen on; 127.0.0.1 keeps the server on this machine, 0.0.0.0 opens it.
    public var host: String
    /// The port; 0 takes any free one (`ModelServer.run` says which).
    public var port: Int
    /// The model's name in URLs (`/predictions/{name}`, `/v2/models/{name}`).
    public var name: String
    /// How requests are gathered into batches.
    public var batching: DynamicBatcher.Configuration
    /// The largest request body, in MiB (413 beyond it).
    public var maxUploadMegabytes: Int
    /// The most pixels an uploaded image may claim in its header (400 beyond it, before decoding).
    public var maxPixels: Int

    public init(host: String = "127.0.0.1", port: Int = 8080, name: String = "alexnet",
                batching: DynamicBatcher.Configuration = .init(), maxUploadMegabytes: Int = 8, maxPixels: Int = 50_000_000) {
        self.host = host
        self.port = port
        self.name = name
        self.batching = batching
        self.maxUploadMegabytes = maxUploadMegabytes
        self.maxPixels = maxPixels
    }

    var maxUploadBytes: Int { maxUploadMegabytes << 20 }
}

/// An HTTP inference service for one `Classifier`: the page at `/`, TorchServe's inference API,
/// the Open Inference Protocol (KServe v2, Triton) and Prometheus metrics, with requests batched
/// by a `DynamicBatcher`. It only translates: HTTP in, library calls, status codes out.
///
///     let server = ModelServer(classifier: try Classifier(checkpoint: "best.safetensors"),
///                              configuration: ServerConfiguration(name: "fashion"))
///     try await server.run()   // until SIGTERM or Ctrl-C
public final class ModelServer: Sendable {
    public let classifier: Classifier
    public let configuration: ServerConfiguration
    public let batcher: DynamicBatcher
    let metrics: ServerMetrics

    public init(classifier: Classifier, configuration: ServerConfiguration) {
        self.classifier = classifier
        self.configuration = configuration
        let metrics = ServerMetrics()
        self.metrics = metrics
        batcher = DynamicBatcher(classifier: classifier, configuration: configuration.batching, onBatch: { metrics.record($0) })
    }

    /// Serves until SIGTERM or SIGINT, then stops accepting, answers what is in flight, runs
    /// what is queued and returns. `onListening` gets the port once the server listens.
    public func run(onListening: @escaping @Sendable (Int) async -> Void = { _ in }) async throws {
        let app = application(onServerRunning: { channel in await onListening(channel.localAddress?.port ?? 0) })
        do {
            try await app.runService()
        } catch {
            await batcher.close()
            throw error
        }
        await batcher.close()
    }

    /// The Hummingbird application: the routes behind the metrics and error middleware.
    func application(onServerRunning: @escaping @Sendable (any Channel) async -> Void = { _ in }) -> some ApplicationProtocol {
        let router = Router()
        router.add(middleware: MetricsMiddleware(metrics: metrics))
        router.add(middleware: ErrorMiddleware(limits: configuration))
        let model = ModelRoutes(server: self)
        PageRoutes(model: model).add(to: router)
        TorchServeRoutes(model: model).add(to: router)
        InferenceProtocolRoutes(model: model).add(to: router)
        router.get("/metrics") { _, _ -> Response in
            self.metrics.queueDepth.set(Double(self.batcher.depth))
            return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                            body: .init(byteBuffer: ByteBuffer(bytes: self.metrics.registry.emitToBuffer())))
        }
        var logger = Logger(label: "alexnet-serve")
        logger.logLevel = .warning
        return Application(router: router,
                           configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "alexnet"),
                           onServerRunning: onServerRunning, logger: logger)
    }
}
