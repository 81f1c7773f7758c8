import Dispatch
import Synchronization

/// Gathers the images of many concurrent callers into batches for one `Classifier`, the way
/// Triton's and TorchServe's dynamic batchers do: a bigger batch reads the fully connected
/// layers' weights (96% of AlexNet's bytes) once for all its images.
///
///     let batcher = DynamicBatcher(classifier: classifier)
///     let logits = try await batcher.logits(reserving: 1) { try classifier.input(for: image) }
///
/// Callers first reserve room for their images: when the queue is full that fails at once
/// (`Refusal.full`), before any work is spent on decoding. One worker thread forms batches of
/// up to `maxBatch` images and runs them. It waits for more images only while reserved ones
/// are still being prepared, and never more than `maxDelay` after the oldest waiting image
/// arrived; so a lone caller is served at once, and a crowd is served in full batches.
public final class DynamicBatcher: Sendable {
    public struct Configuration: Sendable {
        /// The most images in one batch.
        public var maxBatch: Int
        /// The longest the oldest waiting image waits for others to join its batch.
        public var maxDelay: Duration
        /// The most images waiting or being prepared; beyond it `reserve` refuses.
        public var capacity: Int

        public init(maxBatch: Int = 16, maxDelay: Duration = .milliseconds(5), capacity: Int = 256) {
            self.maxBatch = max(maxBatch, 1)
            self.maxDelay = maxDelay
            self.capacity = max(capacity, 1)
        }
    }

    /// What one batch did, for metrics.
    public struct BatchReport: Sendable {
        /// Images in the batch.
        public var size: Int
        /// How long each image waited between joining the queue and the batch starting.
        public var queueTimes: [Duration]
        /// The forward pass.
        public var inferenceTime: Duration
    }

    /// Why images were not taken.
    public enum Refusal: Error, Equatable, CustomStringConvertible {
        /// The queue holds `capacity` images already: try again shortly.
        case full(capacity: Int)
        /// One request holds more images than the queue ever can.
        case tooMany(Int, capacity: Int)
        /// The batcher is shutting down.
        case closed

        public var description: String {
            switch self {
            case let .full(capacity): "the queue is full (\(capacity) images waiting): try again shortly"
            case let .tooMany(count, capacity): "\(count) images in one request, more than the queue's \(capacity)"
            case .closed: "the server is shutting down"
            }
        }
    }

    public let classifier: Classifier
    public let configuration: Configuration
    private let onBatch: @Sendable (BatchReport) -> Void
    private let state = Mutex(State())
    private let wake = DispatchSemaphore(value: 0)
    private let stopped = DispatchSemaphore(value: 0)

    /// A batcher for `classifier`; `onBatch` is told about every batch it ran (on its thread).
    public init(classifier: Classifier, configuration: Configuration = Configuration(),
                onBatch: @escaping @Sendable (BatchReport) -> Void = { _ in }) {
        self.classifier = classifier
        self.configuration = configuration
        self.onBatch = onBatch
        let thread = DispatchQueue(label: "alexnet.dynamic-batcher", qos: .userInitiated)
        thread.async { [self] in work() }
    }

    /// True once `close()` was called: no more images are taken.
    public var isClosed: Bool { state.withLock { $0.closed } }

    /// Images waiting for a batch or being prepared by their callers.
    public var depth: Int { state.withLock { $0.waiting.count + $0.onTheirWay } }

    /// Reserves room for `count` images, calls `prepare` for their inputs (laid end to end, each
    /// `classifier.network.inputShape.elementCount` floats, as `Classifier.input(for:)` makes
    /// them), queues them and returns their logits `[count, classes]` once their batches ran.
    /// Throws `Refusal` at once when there is no room, or what `prepare` or the plan threw.
    public func logits(reserving count: Int, prepare: () async throws -> [Float]) async throws -> [Float] {
        try reserve(count)
        let inputs: [Float]
        do {
            inputs = try await prepare()
        } catch {
            release(count)
            throw error
        }
        let size = classifier.network.inputShape.elementCount
        guard inputs.count == count * size else {
            release(count)
            throw PlanError.inputShape([inputs.count], expected: [count * size])
        }
        guard count > 0 else { return [] }
        let request = Request(count: count, classes: classifier.network.outputShape.elementCount)
        return try await withCheckedThrowingContinuation { continuation in
            request.continuation = continuation
            let now = ContinuousClock.now
            state.withLock { state in
                state.onTheirWay -= count
                for k in 0..<count {
                    state.waiting.append(Item(input: Array(inputs[(k * size)..<((k + 1) * size)]), request: request, index: k, arrived: now))
                }
            }
            wake.signal()
        }
    }

    /// Stops taking images, runs those already taken, and returns when the worker has stopped.
    public func close() async {
        state.withLock { $0.closed = true }
        wake.signal()
        // Each caller waits for the worker's one signal and passes it on to the next.
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            DispatchQueue.global().async { [stopped] in
                stopped.wait()
                stopped.signal()
                done.resume()
            }
        }
    }

    private func reserve(_ count: Int) throws(Refusal) {
        guard count <= configuration.capacity else { throw Refusal.tooMany(count, capacity: configuration.capacity) }
        try state.withLock { state throws(Refusal) in
            guard !state.closed else { throw Refusal.closed }
            guard state.waiting.count + state.onTheirWay + count <= configuration.capacity else {
                throw Refusal.full(capacity: configuration.capacity)
            }
            state.onTheirWay += count
        }
    }

    private func release(_ count: Int) {
        state.withLock { $0.onTheirWay -= count }
        wake.signal()
    }

    /// The worker: forms a batch, runs it, hands each caller its rows; until closed and empty.
    private func work() {
        while let batch = nextBatch() {
            let started = ContinuousClock.now
            let size = classifier.network.inputShape.elementCount
            var inputs: [Float] = []
            inputs.reserveCapacity(batch.count * size)
            for item in batch { inputs += item.input }
            let result = Result { try classifier.logits(forInputs: inputs, count: batch.count) }
            let inferenceTime = ContinuousClock.now - started
            for (k, item) in batch.enumerated() {
                switch result {
                case let .success(logits): item.request.deliver(row: item.index, logits[(k * item.request.classes)..<((k + 1) * item.request.classes)])
                case let .failure(error): item.request.fail(error)
                }
            }
            onBatch(BatchReport(size: batch.count, queueTimes: batch.map { started - $0.arrived }, inferenceTime: inferenceTime))
        }
        stopped.signal()
    }

    /// Waits for the next batch: nil once closed with nothing left.
    private func nextBatch() -> [Item]? {
        while true {
            let decision = state.withLock { state -> Decision in
                guard let oldest = state.waiting.first else {
                    return state.closed && state.onTheirWay == 0 ? .stop : .wait(nil)
                }
                let deadline = oldest.arrived + configuration.maxDelay
                if state.waiting.count >= configuration.maxBatch || state.onTheirWay == 0 || state.closed
                    || ContinuousClock.now >= deadline {
                    let count = min(state.waiting.count, configuration.maxBatch)
                    defer { state.waiting.removeFirst(count) }
                    return .run(Array(state.waiting.prefix(count)))
                }
                return .wait(deadline)
            }
            switch decision {
            case .stop: return nil
            case let .run(batch): return batch
            case .wait(nil): wake.wait()
            case let .wait(deadline?):
                let left = ContinuousClock.now.duration(to: deadline).components
                let nanoseconds = max(0, left.seconds * 1_000_000_000 + left.attoseconds / 1_000_000_000)
                _ = wake.wait(timeout: .now() + .nanoseconds(Int(nanoseconds)))
            }
        }
    }

    private enum Decision {
        case stop, wait(ContinuousClock.Instant?), run([Item])
    }

    private struct State {
        var waiting: [Item] = []
        /// Images reserved whose callers are still preparing them.
        var onTheirWay = 0
        var closed = false
    }

    private struct Item: @unchecked Sendable {
        var input: [Float]
        var request: Request
        var index: Int
        var arrived: ContinuousClock.Instant
    }

    /// One caller's images: their rows fill in as batches finish; the caller resumes with all
    /// of them, or with the first error. Touched only by the worker after it is queued.
    private final class Request: @unchecked Sendable {
        let classes: Int
        var continuation: CheckedContinuation<[Float], any Error>?
        var logits: [Float]
        var left: Int

        init(count: Int, classes: Int) {
            self.classes = classes
            logits = [Float](repeating: 0, count: count * classes)
            left = count
        }

        func deliver(row: Int, _ values: ArraySlice<Float>) {
            logits.replaceSubrange((row * classes)..<((row + 1) * classes), with: values)
            left -= 1
            if left == 0 { continuation?.resume(returning: logits); continuation = nil }
        }

        func fail(_ error: any Error) {
            continuation?.resume(throwing: error)
            continuation = nil
        }
    }
}
