import AlexNetCore
import AlexNetNetwork
import Testing

/// Forward results against values worked out by hand, and the properties the formulas promise.
@Suite struct LayerMathTests {
    @Test func convolutionByHand() {
        // One 3x3 input, one 2x2 kernel of ones, bias 0.5: each output sums a 2x2 window.
        let conv = Convolution(outputChannels: 1, kernelSize: 2)
        let harness = LayerHarness(conv, input: [1, 1, 3, 3])
        harness.values[0].fill(with: 1)
        harness.values[1].fill(with: 0.5)
        let y = harness.forward(Tensor(shape: [1, 1, 3, 3], scalars: [1, 2, 3, 4, 5, 6, 7, 8, 9]), .inference)
        #expect(y.shape == [1, 1, 2, 2])
        #expect(y.scalars == [12.5, 16.5, 24.5, 28.5])
    }

    @Test func groupsKeepTowersApart() {
        // With groups 2, output channels 0-1 see only input channels 0-1: changing channel 3
        // must leave them alone and change channels 2-3.
        let conv = Convolution(outputChannels: 4, kernelSize: 3, padding: 1, groups: 2)
        let harness = LayerHarness(conv, input: [1, 4, 4, 4])
        #expect(harness.specs[0].shape == [4, 2, 3, 3])
        let x = Tensor(randomUniform: [1, 4, 4, 4], seed: 1)
        var changed = x
        for i in 48..<64 { changed.scalars[i] += 1 }
        let (a, b) = (harness.forward(x, .inference), harness.forward(changed, .inference))
        #expect(a.scalars[0..<32] == b.scalars[0..<32])
        #expect(a.scalars[32..<64] != b.scalars[32..<64])
    }

    @Test func outputSizes() throws {
        let input = Shape(channels: 3, height: 227, width: 227)
        #expect(try Convolution(outputChannels: 96, kernelSize: 11, stride: 4).outputShape(for: input).description == "96x55x55")
        #expect(try Convolution(outputChannels: 64, kernelSize: 11, stride: 4, padding: 2)
            .outputShape(for: Shape(channels: 3, height: 224, width: 224)).description == "64x55x55")
        #expect(try MaxPool().outputShape(for: Shape(channels: 96, height: 55, width: 55)).description == "96x27x27")
        #expect(try MaxPool().outputShape(for: Shape(channels: 256, height: 13, width: 13)).description == "256x6x6")
        #expect(throws: ShapeError.self) { try MaxPool().outputShape(for: Shape(channels: 1, height: 2, width: 2)) }
        #expect(throws: ShapeError.self) {
            try Convolution(outputChannels: 5, kernelSize: 3, groups: 2).outputShape(for: Shape(channels: 4, height: 5, width: 5))
        }
        #expect(throws: ShapeError.self) { try Linear(outputFeatures: 3).outputShape(for: input) }
    }

    @Test func lrnByHandInBothConventions() {
        // One pixel, channels 1, 2, 3; size 3, alpha 0.3, beta 0.75, k 2.
        let x = Tensor(shape: [1, 3, 1, 1], scalars: [1, 2, 3])
        let sums: [Float] = [1 + 4, 1 + 4 + 9, 4 + 9]
        for (convention, scale) in [(LocalResponseNorm.Convention.paper, Float(0.3)), (.averaged, 0.1)] {
            let lrn = LocalResponseNorm(size: 3, alpha: 0.3, beta: 0.75, k: 2, convention: convention)
            let y = lrn.forward(x, parameters: .none, context: .inference)
            let expected = (0..<3).map { x.scalars[$0] / powf(2 + scale * sums[$0], 0.75) }
            #expect(Comparison(y.scalars, expected, atol: 0, rtol: 1e-6).isClose, "\(convention)")
        }
        // The conventions differ only by the factor n on alpha.
        let paper = LocalResponseNorm(size: 5, alpha: 1e-4, convention: .paper)
        let averaged = LocalResponseNorm(size: 5, alpha: 5e-4, convention: .averaged)
        let z = Tensor(randomUniform: [2, 8, 3, 3], low: -50, high: 50, seed: 2)
        #expect(Comparison(paper.forward(z, parameters: .none, context: .inference),
                           averaged.forward(z, parameters: .none, context: .inference), atol: 0, rtol: 1e-6).isClose)
    }

    @Test func maxPoolTiesSendTheGradientToTheFirstMaximum() {
        // A 3x3 plane of equal values, 2x2 windows at stride 1: four overlapping windows, each
        // a four-way tie. Each window's gradient goes, whole, to its first (top-left) element.
        let pool = MaxPool(kernelSize: 2, stride: 1)
        let x = Tensor(shape: [1, 1, 3, 3], repeating: 7)
        let y = pool.forward(x, parameters: .none, context: .training)
        #expect(y.scalars == [7, 7, 7, 7])
        let dy = Tensor(shape: [1, 1, 2, 2], scalars: [1, 2, 3, 4])
        let dx = pool.backward(input: x, output: y, outputGradient: dy, parameters: .none, context: .training)
        #expect(dx.scalars == [1, 2, 0, 3, 4, 0, 0, 0, 0])
    }

    @Test func overlappingPoolingWithTiesConservesTheGradient() {
        // Paper pooling (3x3/2) over a plane with many ties: every output's gradient lands on
        // exactly one input, and inputs shared by two windows collect both.
        let pool = MaxPool()
        let x = Tensor(shape: [1, 1, 5, 5], scalars: (0..<25).map { Float($0 % 3) })
        let y = pool.forward(x, parameters: .none, context: .training)
        #expect(y.shape == [1, 1, 2, 2])
        let dy = Tensor(shape: y.shape, scalars: [1, 10, 100, 1000])
        let dx = pool.backward(input: x, output: y, outputGradient: dy, parameters: .none, context: .training)
        #expect(dx.scalars.reduce(0, +) == 1111)
        for (index, value) in dx.scalars.enumerated() where value != 0 { #expect(x.scalars[index] == 2) }
    }

    @Test func adaptiveAveragePoolIsTheIdentityAtItsOwnSize() {
        let x = Tensor(randomUniform: [1, 2, 6, 6], seed: 3)
        #expect(AdaptiveAveragePool(outputSize: 6).forward(x, parameters: .none, context: .inference) == x)
    }

    @Test func averagePoolDivisors() {
        let x = Tensor(shape: [1, 1, 2, 2], scalars: [1, 2, 3, 4])
        let counted = AveragePool(kernelSize: 3, stride: 1, padding: 1, includePadding: true)
        let skipped = AveragePool(kernelSize: 3, stride: 1, padding: 1, includePadding: false)
        #expect(counted.forward(x, parameters: .none, context: .inference).scalars[0] == Float(10) / 9)
        #expect(skipped.forward(x, parameters: .none, context: .inference).scalars[0] == Float(10) / 4)
    }

    @Test func batchNormNormalisesAndTracksRunningStatistics() {
        let bn = BatchNorm(epsilon: 1e-5, momentum: 0.1)
        let harness = LayerHarness(bn, input: [4, 1])
        harness.values[0].fill(with: 1)
        harness.values[1].fill(with: 0)
        harness.state[0].fill(with: 0)
        harness.state[1].fill(with: 1)
        let x = Tensor(shape: [4, 1], scalars: [1, 2, 3, 4])
        let y = harness.forward(x, .training)
        // mean 2.5, biased variance 1.25, unbiased 5/3.
        let expected = [1, 2, 3, 4].map { (Float($0) - 2.5) / (1.25 + 1e-5).squareRoot() }
        #expect(Comparison(y.scalars, expected, atol: 1e-6, rtol: 1e-5).isClose)
        #expect(abs(harness.state[0][0] - 0.25) < 1e-6)
        #expect(abs(harness.state[1][0] - (0.9 + 0.1 * 5 / 3)) < 1e-6)
        // Evaluation uses the running statistics and leaves them alone.
        let z = harness.forward(Tensor(shape: [1, 1], scalars: [0.25]), .inference)
        #expect(abs(z.scalars[0]) < 1e-6)
        #expect(abs(harness.state[0][0] - 0.25) < 1e-6)
    }

    @Test func dropoutMasksAreReproducibleAndScaled() {
        let dropout = Dropout(probability: 0.5)
        let x = Tensor(shape: [100, 100], repeating: 1)
        let context = PassContext(isTraining: true, seed: 1, step: 7, layerIndex: 18)
        let y = dropout.forward(x, parameters: .none, context: context)
        #expect(y.scalars.allSatisfy { $0 == 0 || $0 == 2 })
        let kept = y.scalars.filter { $0 != 0 }.count
        #expect(abs(kept - 5000) < 250)
        #expect(dropout.forward(x, parameters: .none, context: context) == y)
        var nextStep = context
        nextStep.step = 8
        #expect(dropout.forward(x, parameters: .none, context: nextStep) != y)
        var otherLayer = context
        otherLayer.layerIndex = 21
        #expect(dropout.forward(x, parameters: .none, context: otherLayer) != y)
        #expect(dropout.forward(x, parameters: .none, context: .inference) == x)
        #expect(Dropout(probability: 1).forward(x, parameters: .none, context: context).scalars.allSatisfy { $0 == 0 })
    }

    @Test func softmaxCrossEntropyValues() {
        let uniform = Tensor(shape: [2, 10], repeating: 3)
        #expect(abs(SoftmaxCrossEntropy.loss(logits: uniform, labels: [0, 9]) - logf(10)) < 1e-6)
        // A confident wrong answer is a large finite loss, not infinity.
        let confident = Tensor(shape: [1, 2], scalars: [1000, -1000])
        #expect(abs(SoftmaxCrossEntropy.loss(logits: confident, labels: [1]) - 2000) < 1e-3)
        let p = SoftmaxCrossEntropy.probabilities(Tensor(randomUniform: [3, 4], seed: 1))
        for row in 0..<3 { #expect(abs(p.scalars[(row * 4)..<(row * 4 + 4)].reduce(0, +) - 1) < 1e-6) }
    }
}

#if canImport(Glibc)
import Glibc
#endif
