import AlexNetCore
import AlexNetNetwork
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Every layer's backward against central finite differences on small shapes.
@Suite struct LayerGradientTests {
    @Test func convolution() {
        let conv = Convolution(outputChannels: 3, kernelSize: 3, stride: 2, padding: 1)
        checkGradients(LayerHarness(conv, input: [2, 2, 5, 5]), input: Tensor(randomUniform: [2, 2, 5, 5], seed: 3))
    }

    @Test func groupedConvolution() {
        let conv = Convolution(outputChannels: 4, kernelSize: 3, padding: 1, groups: 2)
        checkGradients(LayerHarness(conv, input: [2, 4, 4, 4]), input: Tensor(randomUniform: [2, 4, 4, 4], seed: 4))
    }

    @Test func convolutionWithoutBiasAndLargeStride() {
        let conv = Convolution(outputChannels: 2, kernelSize: 4, stride: 3, hasBias: false)
        checkGradients(LayerHarness(conv, input: [1, 3, 7, 7]), input: Tensor(randomUniform: [1, 3, 7, 7], seed: 5))
    }

    @Test func linear() {
        checkGradients(LayerHarness(Linear(outputFeatures: 5), input: [3, 7]), input: Tensor(randomUniform: [3, 7], seed: 6))
    }

    @Test func relu() {
        checkGradients(LayerHarness(ReLU(), input: [2, 3, 4, 4]), input: distinctValues([2, 3, 4, 4], seed: 7))
    }

    @Test func tanhAndSigmoid() {
        let x = Tensor(randomUniform: [2, 3, 3, 3], low: -2, high: 2, seed: 8)
        checkGradients(LayerHarness(Tanh(), input: x.shape), input: x)
        checkGradients(LayerHarness(Sigmoid(), input: x.shape), input: x)
    }

    @Test(arguments: LocalResponseNorm.Convention.allCases)
    func localResponseNorm(convention: LocalResponseNorm.Convention) {
        // Large alpha and small k so that the normalisation term matters in the gradient.
        for size in [5, 4, 1] {
            let lrn = LocalResponseNorm(size: size, alpha: 0.5, beta: 0.75, k: 1, convention: convention)
            checkGradients(LayerHarness(lrn, input: [2, 7, 3, 3]), input: Tensor(randomUniform: [2, 7, 3, 3], low: -2, high: 2, seed: 9))
        }
    }

    @Test func localResponseNormWithThePapersConstants() {
        let lrn = LocalResponseNorm()
        checkGradients(LayerHarness(lrn, input: [1, 6, 2, 2]), input: Tensor(randomUniform: [1, 6, 2, 2], low: -20, high: 20, seed: 10))
    }

    @Test func overlappingMaxPool() {
        let pool = MaxPool(kernelSize: 3, stride: 2)
        checkGradients(LayerHarness(pool, input: [2, 2, 7, 7]), input: distinctValues([2, 2, 7, 7], seed: 11))
    }

    @Test func paddedMaxPool() {
        let pool = MaxPool(kernelSize: 3, stride: 2, padding: 1)
        checkGradients(LayerHarness(pool, input: [1, 2, 6, 6]), input: distinctValues([1, 2, 6, 6], seed: 12))
    }

    @Test(arguments: [true, false])
    func averagePool(includePadding: Bool) {
        let pool = AveragePool(kernelSize: 3, stride: 2, padding: 1, includePadding: includePadding)
        checkGradients(LayerHarness(pool, input: [2, 2, 5, 5]), input: Tensor(randomUniform: [2, 2, 5, 5], seed: 13))
    }

    @Test func adaptiveAveragePoolWithOverlappingBins() {
        let pool = AdaptiveAveragePool(outputSize: 3)
        checkGradients(LayerHarness(pool, input: [2, 2, 5, 4]), input: Tensor(randomUniform: [2, 2, 5, 4], seed: 14))
    }

    @Test func batchNormInTraining() {
        checkGradients(LayerHarness(BatchNorm(), input: [3, 2, 3, 3]), input: Tensor(randomUniform: [3, 2, 3, 3], seed: 15))
        checkGradients(LayerHarness(BatchNorm(), input: [4, 5]), input: Tensor(randomUniform: [4, 5], seed: 16))
    }

    @Test func batchNormInEvaluation() {
        checkGradients(LayerHarness(BatchNorm(), input: [2, 3, 2, 2]), input: Tensor(randomUniform: [2, 3, 2, 2], seed: 17),
                       context: .inference)
    }

    @Test func dropoutWithAFixedMask() {
        let context = PassContext(isTraining: true, seed: 5, step: 3, layerIndex: 2)
        let x = Tensor(randomUniform: [4, 10], seed: 18)
        checkGradients(LayerHarness(Dropout(probability: 0.3), input: x.shape), input: x, context: context)
    }

    @Test func flatten() {
        checkGradients(LayerHarness(Flatten(), input: [2, 2, 3, 3]), input: Tensor(randomUniform: [2, 2, 3, 3], seed: 19))
    }

    /// The loss's analytic gradient against central finite differences, with and without
    /// label smoothing; returns the analytic gradient.
    @discardableResult
    func checkLossGradient(logits: Tensor, labels: [Int], labelSmoothing eps: Float) -> Tensor {
        func loss(_ z: Tensor) -> Float { SoftmaxCrossEntropy.lossAndGradient(logits: z, labels: labels, labelSmoothing: eps).loss }
        let analytic = SoftmaxCrossEntropy.lossAndGradient(logits: logits, labels: labels, labelSmoothing: eps).gradient
        let h: Float = 1e-2
        var numeric = [Float](repeating: 0, count: logits.count)
        for i in 0..<logits.count {
            var plus = logits, minus = logits
            plus.scalars[i] += h
            minus.scalars[i] -= h
            numeric[i] = (loss(plus) - loss(minus)) / (2 * h)
        }
        let check = Comparison(analytic.scalars, numeric, atol: 1e-3, rtol: 1e-2)
        #expect(check.isClose, "eps \(eps): \(check)")
        return analytic
    }

    @Test func softmaxCrossEntropy() {
        checkLossGradient(logits: Tensor(randomUniform: [3, 5], low: -3, high: 3, seed: 20), labels: [4, 0, 2], labelSmoothing: 0)
    }

    /// Label smoothing: the loss is -sum q log p with q = (1 - eps) onehot + eps / K (checked
    /// against that sum written out), and the gradient is its derivative (finite differences).
    @Test func softmaxCrossEntropyWithLabelSmoothing() {
        let logits = Tensor(randomUniform: [3, 5], low: -3, high: 3, seed: 21)
        let labels = [1, 4, 0], eps: Float = 0.1
        let p = SoftmaxCrossEntropy.probabilities(logits)
        var expected: Double = 0
        for row in 0..<3 {
            for k in 0..<5 {
                let q = Double((k == labels[row] ? 1 - eps : 0) + eps / 5)
                expected -= q * log(Double(p.scalars[row * 5 + k])) / 3
            }
        }
        let loss = SoftmaxCrossEntropy.lossAndGradient(logits: logits, labels: labels, labelSmoothing: eps).loss
        #expect(abs(Double(loss) - expected) < 1e-5, "\(loss) against \(expected)")
        let analytic = checkLossGradient(logits: logits, labels: labels, labelSmoothing: eps)
        // Each row's gradient sums to zero, as without smoothing.
        for row in 0..<3 { #expect(abs(analytic.scalars[(row * 5)..<(row * 5 + 5)].reduce(0, +)) < 1e-6) }
    }
}
