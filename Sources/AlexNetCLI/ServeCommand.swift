import AlexNet
import AlexNetServer
import ArgumentParser
import Dispatch
import FoundationEssentials
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// `alexnet serve`: an HTTP inference service for a trained network.
struct ServeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve a trained network over HTTP: a web page, TorchServe's API, the Open Inference Protocol (KServe v2) and Prometheus metrics.",
        discussion: """
            Routes (NAME is --name):
              GET  /                      a page: drop an image, see its top 5 classes
              POST /predictions/NAME      TorchServe: an image (raw JPEG or PNG bytes, or
                                          the multipart field 'data') -> {"label": p, ...},
                                          the top 5 (?top=k)
              GET  /ping                  TorchServe's health check
              GET  /v2/health/live, /v2/health/ready
              GET  /v2/models/NAME, /v2/models/NAME/ready
              POST /v2/models/NAME/infer  Open Inference Protocol: FP32 [N, C, H, W]
                                          preprocessed, or UINT8 [N, H, W, C] pixels of
                                          any size -> logits, probabilities; with
                                          "parameters": {"classification": k}, the top k
                                          as "score:index:label"
              GET  /metrics               Prometheus: requests, latency, queue time,
                                          inference time, batch sizes

            Concurrent requests are batched: a worker runs up to --max-batch images at once, waiting \
            for more only while requests are still being decoded, and never longer than --max-delay-ms. \
            When --queue images are already waiting, new requests get 503 with Retry-After at once. \
            SIGTERM or Ctrl-C stops accepting, answers what is in flight and exits 0.

            Examples:
              alexnet serve --checkpoint runs/quick/best.safetensors
              curl http://127.0.0.1:8080/predictions/fashion-mnist -T boot.png
            """)

    @OptionGroup var model: TrainedModelOptions
    @OptionGroup var compute: ComputeOptions
    @Option(help: ArgumentHelp("The address to listen on (0.0.0.0 for every interface).", valueName: "address")) var host = "127.0.0.1"
    @Option(help: "The port to listen on (0 picks a free one).") var port = 8080
    @Option(help: ArgumentHelp("The model's name in URLs (default: the checkpoint's dataset, or the weights' --model or file name).", valueName: "name"))
    var name: String?
    @Option(name: .customLong("max-batch"), help: "The most images in one forward pass.") var maxBatch = 16
    @Option(name: .customLong("max-delay-ms"), help: "The longest an image waits for others to fill its batch, in milliseconds.") var maxDelayMs = 5.0
    @Option(help: "The most images waiting or being decoded; more get 503 with Retry-After.") var queue = 256
    @Option(name: .customLong("max-upload-mb"), help: "The largest request body, in MiB (413 beyond it).") var maxUploadMb = 8

    func validate() throws {
        guard (0...65535).contains(port) else { throw ValidationError("--port must be from 0 to 65535, got \(port)") }
        guard (1...1024).contains(maxBatch) else { throw ValidationError("--max-batch must be from 1 to 1024, got \(maxBatch)") }
        guard maxDelayMs >= 0, maxDelayMs <= 10_000 else { throw ValidationError("--max-delay-ms must be from 0 to 10000, got \(maxDelayMs)") }
        guard queue >= 1 else { throw ValidationError("--queue must be at least 1, got \(queue)") }
        guard (1...1024).contains(maxUploadMb) else { throw ValidationError("--max-upload-mb must be from 1 to 1024, got \(maxUploadMb)") }
        if let name, name.isEmpty || !name.allSatisfy(Self.allowedInName) {
            throw ValidationError("--name may hold letters, digits, '.', '_' and '-' only, got '\(name)'")
        }
    }

    func run() throws {
        let trained = try model.loadForInference(compute)
        let classifier = try Classifier(model: trained, backend: compute.backend, options: compute.inferenceOptions(), largestPlanBatch: maxBatch)
        let name = self.name ?? Self.defaultName(trained, model: model)
        try classifier.preparePlans()
        let configuration = ServerConfiguration(
            host: host, port: port, name: name,
            batching: .init(maxBatch: maxBatch, maxDelay: .microseconds(Int64(maxDelayMs * 1000)), capacity: queue),
            maxUploadMegabytes: maxUploadMb)
        let server = ModelServer(classifier: classifier, configuration: configuration)
        let shape = classifier.network.inputShape.dimensions.map(String.init).joined(separator: "x")
        let host = self.host
        try runBlocking {
            try await server.run { port in
                print("Serving '\(name)' (\(classifier.classNames.count) classes, input \(shape), \(compute.backend) backend) at http://\(host):\(port)/")
                print("  curl http://\(host):\(port)/predictions/\(name) -T image.jpg    Ctrl-C stops")
                fflush(nil)
            }
        }
        print("Stopped.")
    }

    static func allowedInName(_ character: Character) -> Bool {
        character.isASCII && (character.isLetter || character.isNumber || "._-".contains(character))
    }

    /// The checkpoint's dataset, or the weights' model or file name, made fit for a URL.
    static func defaultName(_ trained: TrainedModel, model: TrainedModelOptions) -> String {
        let stem = String(model.path.split(separator: "/").last?.split(separator: ".").first ?? "alexnet")
        let raw = model.checkpoint != nil ? (trained.data ?? stem) : (model.model ?? stem)
        let base = String(raw.split(separator: "/").last ?? "alexnet")
        let cleaned = String(base.map { allowedInName($0) ? $0 : "-" })
        return cleaned.isEmpty ? "alexnet" : cleaned
    }
}

/// Runs async work to its end from synchronous code (the command's `run`).
func runBlocking(_ body: @escaping @Sendable () async throws -> Void) throws {
    let done = DispatchSemaphore(value: 0)
    let outcome = Mutex<(any Error)?>(nil)
    Task.detached {
        do { try await body() } catch { outcome.withLock { $0 = error } }
        done.signal()
    }
    done.wait()
    if let error = outcome.withLock({ $0 }) { throw error }
}
