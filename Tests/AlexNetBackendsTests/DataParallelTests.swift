import AlexNetBackends
import AlexNetCore
import AlexNetNetwork
import Testing

/// What data-parallel training asks of a plan: a slice of a batch computes what those rows
/// compute in the whole batch (dropout masks included), the mean of the slices' gradients is
/// the whole batch's gradient, and backward announces finished gradients from the end of the
/// buffer.
@Suite struct DataParallelTests {
    static let backends: [any Backend] = [ReferenceBackend(), CPUBackend(threads: 1)]
    let network = try! tinyAlexNet().resolved()
    let input = Tensor(randomUniform: [8, 3, 12, 12], seed: 21)
    let labels = [0, 1, 2, 3, 3, 2, 1, 0]

    func rows(_ tensor: Tensor, _ range: Range<Int>) -> Tensor {
        let size = tensor.count / tensor.shape[0]
        return Tensor(shape: [range.count] + tensor.shape.dropFirst(), scalars: Array(tensor.scalars[(range.lowerBound * size)..<(range.upperBound * size)]))
    }

    @Test(arguments: backends)
    func slicesOfABatchAverageToTheWholeBatch(_ backend: any Backend) throws {
        let whole = try backend.makePlan(for: network, batchSize: 8, seed: 4)
        let wholeOutput = try whole.computeGradients(input: input, labels: labels, step: 6)
        var mean = [Float](repeating: 0, count: whole.gradients.count)
        for first in [0, 4] {
            let half = try backend.makePlan(for: network, batchSize: 4, seed: 4)
            let output = try half.computeGradients(input: rows(input, first..<(first + 4)), labels: Array(labels[first..<(first + 4)]),
                                                   step: 6, firstRow: first, gradientsReady: nil)
            // Dropout (p 0.25 before fc2) keeps the units it keeps for these rows in the whole batch.
            let logits = Comparison(output.logits, rows(wholeOutput.logits, first..<(first + 4)), atol: 1e-5, rtol: 1e-5)
            #expect(logits.isClose, "\(backend.name) rows \(first)..<\(first + 4): \(logits)")
            for (i, g) in half.gradients.array.enumerated() { mean[i] += g / 2 }
        }
        let gradients = Comparison(mean, whole.gradients.array, atol: 1e-6, rtol: 1e-4)
        #expect(gradients.isClose, "\(backend.name): mean of the halves' gradients vs the whole batch's: \(gradients)")
        // Without the offset the second half would draw the first half's masks.
        let unshifted = try backend.makePlan(for: network, batchSize: 4, seed: 4)
        let wrong = try unshifted.computeGradients(input: rows(input, 4..<8), labels: Array(labels[4..<8]), step: 6)
        #expect(!Comparison(wrong.logits, rows(wholeOutput.logits, 4..<8), atol: 1e-5, rtol: 1e-5).isClose)
    }

    @Test(arguments: backends)
    func backwardAnnouncesFinishedGradientsFromTheEnd(_ backend: any Backend) throws {
        let plan = try backend.makePlan(for: network, batchSize: 8, seed: 4)
        var announced: [(offset: Int, tail: [Float])] = []
        _ = try plan.computeGradients(input: input, labels: labels, step: 0, firstRow: 0) { offset in
            announced.append((offset, Array(plan.gradients.array[offset...])))
        }
        let offsets = announced.map(\.offset)
        #expect(offsets.last == 0, "\(backend.name): the last announcement covers the whole buffer: \(offsets)")
        #expect(offsets == offsets.sorted(by: >) && Set(offsets).count == offsets.count, "\(backend.name): \(offsets)")
        // fc2, fc1, conv2, conv1 each finish in turn.
        let starts = ["fc2.weight", "fc1.weight", "conv2.weight"].map { network.layout.slot(named: $0)!.offset }
        #expect(offsets == starts + [0], "\(backend.name): \(offsets)")
        let final = plan.gradients.array
        for (offset, tail) in announced {
            #expect(tail == Array(final[offset...]), "\(backend.name): gradients from \(offset) changed after they were announced")
        }
    }
}
