import AlexNet
import Hummingbird
import Prometheus

/// The server's Prometheus metrics (`GET /metrics`): requests by route and status, latency,
/// time in the queue, inference time and batch sizes, the queue's depth, images classified.
final class ServerMetrics: Sendable {
    let registry = PrometheusCollectorRegistry()
    let queueDepth: Gauge
    let imagesClassified: Counter
    private let queueTime: DurationHistogram
    private let inferenceTime: DurationHistogram
    private let batchSize: ValueHistogram
    private static let latencyBuckets: [Duration] = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000].map { .milliseconds($0) }

    init() {
        queueDepth = registry.makeGauge(descriptor: .init(
            namespace: "alexnet", metricName: "queue_depth", unitName: "images", helpText: "Images waiting for a batch or being decoded"))
        imagesClassified = registry.makeCounter(descriptor: .init(
            namespace: "alexnet", metricName: "images_classified", unitName: "total", helpText: "Images classified"))
        queueTime = registry.makeDurationHistogram(descriptor: .init(
            namespace: "alexnet", metricName: "queue_time", unitName: "seconds", helpText: "Time from an image joining the queue to its batch starting"),
            buckets: [0, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000].map { .milliseconds($0) })
        inferenceTime = registry.makeDurationHistogram(descriptor: .init(
            namespace: "alexnet", metricName: "inference_duration", unitName: "seconds", helpText: "Forward pass of one batch"),
            buckets: Self.latencyBuckets)
        batchSize = registry.makeValueHistogram(descriptor: .init(
            namespace: "alexnet", metricName: "batch_size", unitName: "images", helpText: "Images per batch"),
            buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256])
    }

    /// A batch the batcher ran.
    func record(_ batch: DynamicBatcher.BatchReport) {
        batchSize.record(Double(batch.size))
        inferenceTime.record(batch.inferenceTime)
        for time in batch.queueTimes { queueTime.record(time) }
    }

    /// A request answered.
    func record(route: String, method: String, status: Int, duration: Duration) {
        registry.makeCounter(descriptor: .init(namespace: "alexnet", metricName: "requests", unitName: "total", helpText: "HTTP requests answered"),
                             labels: [("route", route), ("method", method), ("status", String(status))]).increment()
        registry.makeDurationHistogram(descriptor: .init(
            namespace: "alexnet", metricName: "request_duration", unitName: "seconds", helpText: "Time from a request's arrival to its answer"),
            labels: [("route", route)], buckets: Self.latencyBuckets).record(duration)
    }
}

/// Counts every request by its route (the pattern, `/predictions/{name}`, so names in URLs do
/// not explode the label set) and status, and times it.
struct MetricsMiddleware<Context: RequestContext>: RouterMiddleware {
    let metrics: ServerMetrics

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let started = ContinuousClock.now
        let response = try await next(request, context)
        metrics.record(route: context.endpointPath ?? "unmatched", method: request.method.rawValue, status: response.status.code,
                       duration: ContinuousClock.now - started)
        return response
    }
}
