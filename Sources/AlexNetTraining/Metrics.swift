/// Top-k accuracy, loss and a confusion matrix, accumulated batch by batch.
public struct Metrics: Sendable, Equatable {
    public let classes: Int
    public private(set) var count = 0
    public private(set) var lossSum: Double = 0
    public private(set) var top1Correct = 0
    public private(set) var top5Correct = 0
    /// `confusion[truth * classes + predicted]`.
    public private(set) var confusion: [Int]

    public init(classes: Int) {
        self.classes = classes
        confusion = Array(repeating: 0, count: classes * classes)
    }

    public var loss: Double { count == 0 ? .nan : lossSum / Double(count) }
    public var top1: Double { count == 0 ? .nan : Double(top1Correct) / Double(count) }
    public var top5: Double { count == 0 ? .nan : Double(top5Correct) / Double(count) }

    /// Accuracy of each class (recall): correct / examples of that class; nan for absent classes.
    public var perClassAccuracy: [Double] {
        (0..<classes).map { truth in
            let row = confusion[(truth * classes)..<((truth + 1) * classes)]
            let total = row.reduce(0, +)
            return total == 0 ? .nan : Double(row[row.startIndex + truth]) / Double(total)
        }
    }

    /// Adds `rows` examples: `probabilities` holds `rows x classes` softmax outputs (or any
    /// scores whose order is the prediction), `labels` their truths. The loss is the mean of
    /// -log p[label] unless `lossSum` is given (the training pass knows its own loss).
    public mutating func add(probabilities: UnsafeBufferPointer<Float>, labels: ArraySlice<Int>, rows: Int, lossSum: Double? = nil) {
        var computedLoss: Double = 0
        for row in 0..<rows {
            let label = labels[labels.startIndex + row]
            let base = row * classes
            let truth = probabilities[base + label]
            // Rank of the true class: how many classes score strictly higher (ties count for it).
            var higher = 0
            var best = 0
            for k in 0..<classes {
                let p = probabilities[base + k]
                if p > truth { higher += 1 }
                if p > probabilities[base + best] { best = k }
            }
            if higher == 0 { top1Correct += 1 }
            if higher < 5 { top5Correct += 1 }
            confusion[label * classes + best] += 1
            computedLoss -= log(max(Double(truth), 1e-30))
        }
        self.lossSum += lossSum ?? computedLoss
        count += rows
    }

    /// Every sum as one vector, for adding up across processes: count, loss sum, top-1, top-5,
    /// then the confusion matrix.
    public var sums: [Double] {
        [Double(count), lossSum, Double(top1Correct), Double(top5Correct)] + confusion.map(Double.init)
    }

    /// Metrics from `sums` (of any number of processes).
    public init(classes: Int, sums: [Double]) {
        precondition(sums.count == 4 + classes * classes, "Metrics: \(sums.count) sums for \(classes) classes")
        self.classes = classes
        count = Int(sums[0])
        lossSum = sums[1]
        top1Correct = Int(sums[2])
        top5Correct = Int(sums[3])
        confusion = sums[4...].map { Int($0) }
    }
}

#if canImport(Glibc)
import Glibc
#endif
