import AlexNetBackends
import AlexNetData
import AlexNetNetwork

/// Evaluation passes shared by the trainer and `alexnet evaluate`.
public enum Evaluation {
    /// Runs `plan` in evaluation mode over every batch of `loader`.
    public static func run(plan: any Plan, loader: DataLoader, classes: Int,
                           progress: (Int, Int) -> Void = { _, _ in }) throws -> Metrics {
        var metrics = Metrics(classes: classes)
        let stream = loader.batches(epoch: 0)
        let batches = loader.batchesPerEpoch
        while var batch = try stream.nextBatch() {
            progress(batch.index, batches)
            var scores = try plan.infer(batch.input).scalars
            loader.recycle(&batch)
            scores.withUnsafeMutableBufferPointer { SoftmaxCrossEntropy.softmax($0, rows: batch.count, classes: classes) }
            scores.withUnsafeBufferPointer { metrics.add(probabilities: $0, labels: batch.labels[...], rows: batch.count) }
        }
        return metrics
    }
}
