import AlexNet
import Hummingbird

/// What every protocol's routes share: the model's name and shapes, and the one way an image
/// becomes a classification (decoded and preprocessed by the library, batched by the batcher).
struct ModelRoutes: Sendable {
    let server: ModelServer
    var name: String { server.configuration.name }
    var classifier: Classifier { server.classifier }
    var classes: Int { classifier.network.outputShape.elementCount }
    /// `[C, H, W]` of the network's input.
    var inputDimensions: [Int] { classifier.network.inputShape.dimensions }

    /// 404 unless the URL names this server's model.
    func requireModel(_ context: some RequestContext) throws {
        let asked = context.parameters.get("name") ?? ""
        guard asked == name else {
            throw ServeError(.notFound, "no model named '\(asked)': this server serves '\(name)'")
        }
    }

    /// The `top` classes of an encoded image, and how long it took.
    func classify(encoded bytes: [UInt8], top: Int) async throws -> (guesses: [Classifier.Guess], timing: Timing) {
        let started = ContinuousClock.now
        var decoded = started
        let logits = try await server.batcher.logits(reserving: 1) {
            let image = try classifier.decode(bytes, source: "the uploaded image", maximumPixels: server.configuration.maxPixels)
            let input = try classifier.input(for: image, source: "the uploaded image")
            decoded = ContinuousClock.now
            return input
        }
        let probabilities = Classifier.softmax(logits, classes: classes)
        server.metrics.imagesClassified.increment()
        return (Classifier.ranked(probabilities, top: top, names: classifier.classNames),
                Timing(decode: decoded - started, batch: ContinuousClock.now - decoded))
    }

    /// `?top=k`, between 1 and the number of classes (5 when absent).
    func top(of request: Request, default value: Int = 5) throws -> Int {
        guard let text = request.uri.queryParameters.get("top") else { return min(value, classes) }
        guard let top = Int(text), (1...classes).contains(top) else {
            throw ServeError(.badRequest, "top must be a whole number from 1 to \(classes), got '\(text)'")
        }
        return top
    }
}

/// Where a request's time went, for the `Server-Timing` header (browsers' developer tools show it).
struct Timing {
    var decode: Duration
    var batch: Duration

    var header: String {
        func ms(_ duration: Duration) -> String {
            let (seconds, attoseconds) = duration.components
            return String(Double(seconds) * 1000 + Double(attoseconds) / 1e15)
        }
        return "decode;dur=\(ms(decode)), batch;dur=\(ms(batch));desc=\"queue and inference\""
    }
}
