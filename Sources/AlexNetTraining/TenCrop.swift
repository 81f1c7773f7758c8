import AlexNetBackends
import AlexNetCore
import AlexNetData
import AlexNetNetwork

/// The paper's test procedure (SPEC.md section 3): each image's four corner crops and centre
/// crop, and their mirrors, go through the network; the prediction is the mean of the ten
/// softmax outputs.
public enum TenCrop {
    /// Evaluates `source` with a plan whose batch size is 10 (one image's crops per pass).
    /// With `skipping`, an image that cannot be read is handed to it and left out instead of
    /// ending the evaluation.
    public static func evaluate(plan: any Plan, source: any ImageSource, preprocessing: Preprocessing, shape: Shape,
                                classes: Int, skipping: ((Int, DataError) -> Void)? = nil) throws -> Metrics {
        guard plan.batchSize == 10 else { throw PlanError.batchMismatch(plan.batchSize, expected: 10) }
        var metrics = Metrics(classes: classes)
        var scalars = [Float](repeating: 0, count: 10 * shape.elementCount)
        for index in 0..<source.count {
            guard let image = try source.image(at: index, skipping: skipping) else { continue }
            try scalars.withUnsafeMutableBufferPointer { buffer throws(DataError) in
                try preprocessing.prepareTenCrops(image, as: shape, into: buffer.baseAddress!, source: "\(source.name) example \(index)")
            }
            var scores = try plan.infer(Tensor(shape: [10] + shape.dimensions, scalars: scalars)).scalars
            scores.withUnsafeMutableBufferPointer { SoftmaxCrossEntropy.softmax($0, rows: 10, classes: classes) }
            var mean = [Float](repeating: 0, count: classes)
            for k in 0..<10 { for c in 0..<classes { mean[c] += scores[k * classes + c] / 10 } }
            mean.withUnsafeBufferPointer { metrics.add(probabilities: $0, labels: [source.label(at: index)][...], rows: 1) }
        }
        return metrics
    }
}
