import AlexNetBackends
import AlexNetCore
import AlexNetData

/// The paper's test procedure (SPEC.md section 3): each image's four corner crops and centre
/// crop, and their mirrors, go through the network; the prediction is the mean of the ten
/// softmax outputs.
public enum TenCrop {
    /// Evaluates `source` with a plan whose batch size is 10 (one image's crops per pass).
    /// With `skipping`, an image that cannot be read is handed to it and left out instead of
    /// ending the evaluation.
    public static func evaluate(plan: any Plan, source: any ImageSource, preprocessing: Preprocessing, shape: Shape,
                                classes: Int, skipping: ((Int, DataError) -> Void)? = nil) throws -> Metrics {
        precondition(plan.batchSize == 10, "TenCrop: the plan must take batches of 10")
        var metrics = Metrics(classes: classes)
        let size = shape.elementCount
        let random = Philox(seed: 0)
        for index in 0..<source.count {
            guard let image = try source.image(at: index, skipping: skipping) else { continue }
            let crops = preprocessing.tenCrops(image)
            var scalars = [Float](repeating: 0, count: 10 * size)
            for (k, crop) in crops.enumerated() {
                let produced = Shape(channels: crop.channels, height: crop.height, width: crop.width)
                guard produced == shape else {
                    throw DataError(source.name, "example \(index)'s crops are \(produced), but the network takes \(shape)")
                }
                scalars.withUnsafeMutableBufferPointer {
                    preprocessing.normalize(crop, training: false, random: random, index: index, into: $0.baseAddress! + k * size)
                }
            }
            var scores = plan.infer(Tensor(shape: [10] + shape.dimensions, scalars: scalars)).scalars
            Metrics.softmax(&scores, rows: 10, classes: classes)
            var mean = [Float](repeating: 0, count: classes)
            for k in 0..<10 { for c in 0..<classes { mean[c] += scores[k * classes + c] / 10 } }
            mean.withUnsafeBufferPointer { metrics.add(probabilities: $0, labels: [source.label(at: index)][...], rows: 1) }
        }
        return metrics
    }
}
