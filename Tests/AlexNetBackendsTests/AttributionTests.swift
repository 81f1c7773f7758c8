import AlexNetBackends
import AlexNetCore
import AlexNetNetwork
import Testing

/// Attribution plans: the gradient with respect to the input (what Grad-CAM needs), on both
/// backends, against finite differences.
@Suite struct AttributionTests {
    /// Maps of 6x6 into a pooling, then two dense layers: the part of a network after its last
    /// convolution, as Grad-CAM runs it. A convolution first in a second case, since the cpu
    /// backend skips its input gradient in training plans.
    static let tail = """
        name: tail
        input: 4x6x6

        pool5    maxpool  kernel=3 stride=2
        flatten  flatten
        fc6      linear   out=10
        relu6    relu
        fc7      linear   out=3
        """

    static let convolutionFirst = """
        name: conv-first
        input: 2x7x7

        conv1    conv     out=3 kernel=3 pad=1
        relu1    relu
        flatten  flatten
        fc       linear   out=4
        """

    /// Batch norm first (the cpu backend gives the input gradient from its backward), dropout
    /// and a batch norm of features between the dense layers: evaluation mode throughout.
    static let batchNormAndDropout = """
        name: bn-dropout
        input: 3x5x5

        bn1      batchnorm
        conv1    conv     out=4 kernel=3 pad=1
        relu1    relu
        flatten  flatten
        fc6      linear   out=6
        bn6      batchnorm
        drop6    dropout  p=0.5
        fc7      linear   out=3
        """

    static func outputGradient(batch: Int, outputs: Int) -> Tensor {
        Tensor(shape: [batch, outputs], scalars: (0..<(batch * outputs)).map { Float(($0 * 7) % 5) - 2 })
    }

    @Test(arguments: [tail, convolutionFirst, batchNormAndDropout])
    func inputGradientsMatchFiniteDifferencesOnBothBackends(_ text: String) throws {
        let network = try NetworkFile.parse(text).resolved()
        let batch = 2
        let reference = try ReferenceBackend().makePlan(for: network, batchSize: batch, mode: .attribution, seed: 5)
        let cpu = try CPUBackend(threads: 2).makePlan(for: network, batchSize: batch, mode: .attribution, seed: 5)
        // Running statistics far from a fresh layer's (0 and 1), the same in both plans.
        let statistics = Self.runningStatistics(of: network)
        _ = reference.state.pointer.update(fromContentsOf: statistics)
        _ = cpu.state.pointer.update(fromContentsOf: statistics)
        cpu.copyFromHost()
        let input = Tensor(randomUniform: [batch] + network.inputShape.dimensions, seed: 9)
        let dy = Self.outputGradient(batch: batch, outputs: network.outputShape.elementCount)
        let expected = try reference.inputGradient(input: input, outputGradient: dy)
        #expect(expected.shape == input.shape)

        // d/dx of sum(dy * f(x)) by central differences, in double precision of the sums.
        let objective = { (x: Tensor) throws -> Double in
            zip(try reference.infer(x).scalars, dy.scalars).reduce(0) { $0 + Double($1.0) * Double($1.1) }
        }
        let h: Float = 1e-2
        var worst = 0.0
        for i in stride(from: 0, to: input.scalars.count, by: 3) {
            var plus = input, minus = input
            plus.scalars[i] += h
            minus.scalars[i] -= h
            let numeric = (try objective(plus) - objective(minus)) / Double(2 * h)
            worst = max(worst, abs(numeric - Double(expected.scalars[i])) / max(1, abs(numeric)))
        }
        #expect(worst < 2e-2, "\(network.network.name): worst relative difference from finite differences \(worst)")

        let fast = Comparison(try cpu.inputGradient(input: input, outputGradient: dy), expected, atol: 1e-5, rtol: 1e-4)
        #expect(fast.isClose, "\(network.network.name) cpu input gradient: \(fast)")
        cpu.copyToHost()
        #expect(reference.state.array == statistics && cpu.state.array == statistics,
                "attribution must leave the running statistics alone")
    }

    /// The state buffer with each batch norm's running means in [-0.5, 0.5) and variances in
    /// [0.5, 2.5), far from a fresh layer's 0 and 1.
    static func runningStatistics(of network: ResolvedNetwork) -> [Float] {
        var state = [Float](repeating: 0, count: network.layout.stateCount)
        for layer in network.layers where layer.layer is BatchNorm {
            let (mean, variance) = (layer.slots[2], layer.slots[3])
            for i in 0..<mean.count {
                let u = Float((i * 37 + mean.offset) % 11) / 11
                state[mean.offset + i] = u - 0.5
                state[variance.offset + i] = 0.5 + 2 * u
            }
        }
        return state
    }

    @Test func otherPlansRefuseInputGradients() throws {
        let network = try NetworkFile.parse(Self.tail).resolved()
        let input = Tensor(randomUniform: [1] + network.inputShape.dimensions, seed: 1)
        let dy = Self.outputGradient(batch: 1, outputs: 3)
        for backend in [ReferenceBackend() as any Backend, CPUBackend(threads: 1)] {
            for mode in [PlanMode.training, .inference] {
                let plan = try backend.makePlan(for: network, batchSize: 1, mode: mode, seed: 0)
                #expect(throws: PlanError.wrongMode("give input gradients", mode)) { try plan.inputGradient(input: input, outputGradient: dy) }
            }
            let plan = try backend.makePlan(for: network, batchSize: 1, mode: .attribution, seed: 0)
            #expect(throws: PlanError.self) { try plan.inputGradient(input: input, outputGradient: Self.outputGradient(batch: 1, outputs: 4)) }
        }
    }
}
