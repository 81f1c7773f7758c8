import AlexNetBackends
import AlexNetCore
import AlexNetNetwork
import Testing

/// The paper's layout at toy size: convolution, ReLU, LRN, overlapping pooling, a grouped
/// convolution, dropout, two linear layers.
func tinyAlexNet(batchNorm: Bool = false, smooth: Bool = false, initialization: Initialization = .pytorch) -> Network {
    let activation: any Layer = smooth ? Tanh() : ReLU()
    var layers: [NamedLayer] = [NamedLayer("conv1", Convolution(outputChannels: 8, kernelSize: 3, padding: 1))]
    if batchNorm { layers.append(NamedLayer("bn1", BatchNorm())) }
    layers += [
        NamedLayer("relu1", activation),
        NamedLayer("norm1", LocalResponseNorm(size: 5, alpha: 1e-2, beta: 0.75, k: 2)),
        NamedLayer("pool1", MaxPool(kernelSize: 3, stride: 2)),
        NamedLayer("conv2", Convolution(outputChannels: 8, kernelSize: 3, padding: 1, groups: 2)),
        NamedLayer("relu2", activation),
        NamedLayer("pool2", MaxPool(kernelSize: 3, stride: 2)),
        NamedLayer("flatten", Flatten()),
        NamedLayer("fc1", Linear(outputFeatures: 16)),
        NamedLayer("relu3", activation),
        NamedLayer("drop", Dropout(probability: 0.25)),
        NamedLayer("fc2", Linear(outputFeatures: 4)),
    ]
    return Network(name: "tiny", inputShape: Shape(channels: 3, height: 12, width: 12), layers: layers,
                   initialization: initialization)
}

@Suite struct ReferenceBackendTests {
    let input = Tensor(randomUniform: [8, 3, 12, 12], seed: 11)
    let labels = [0, 1, 2, 3, 3, 2, 1, 0]

    @Test func lossFallsOverAFewSGDSteps() throws {
        let plan = try ReferenceBackend().makePlan(for: tinyAlexNet().resolved(), batchSize: 8, seed: 1)
        let optimizer = Optimizer.paper
        var losses: [Float] = []
        for step in 0..<30 {
            losses.append(try plan.trainingStep(input: input, labels: labels, step: step, optimizer: optimizer, learningRate: 0.1))
        }
        #expect(losses.allSatisfy { $0.isFinite })
        #expect(abs(losses[0] - logf(4)) < 0.3, "a fresh network should be near chance: \(losses[0])")
        #expect(losses.suffix(3).reduce(0, +) / 3 < 0.7 * losses[0], "losses: \(losses)")
    }

    /// The chain rule through a whole plan. Tanh stands in for ReLU here: a finite-difference
    /// step that crosses ReLU's kink at 0 measures a one-sided slope, and with dozens of units a
    /// few always sit that close. (ReLU itself is checked alone, on values away from its kink.)
    @Test(arguments: [false, true])
    func wholeNetworkGradientMatchesFiniteDifferences(batchNorm: Bool) throws {
        let plan = try ReferenceBackend().makePlan(for: tinyAlexNet(batchNorm: batchNorm, smooth: true).resolved(), batchSize: 8, seed: 2)
        let step: UInt64 = 5
        _ = try plan.computeGradients(input: input, labels: labels, step: Int(step))
        let analytic = plan.gradients.array
        let reference = plan as! ReferencePlan
        func loss() -> Double {
            Double(SoftmaxCrossEntropy.loss(logits: reference.forward(input, isTraining: true, step: step).last!, labels: labels))
        }
        // Every tensor: its first elements and a spread of others.
        // A small step, so that few perturbations cross a ReLU or max-pooling kink.
        let h: Float = 1e-3
        var checked: [Float] = [], numeric: [Float] = []
        for slot in plan.network.layout.slots where slot.isTrainable {
            for i in Set([0, 1, slot.count / 3, slot.count / 2, slot.count - 1]) {
                let at = slot.offset + i
                let saved = plan.parameters[at]
                plan.parameters[at] = saved + h
                let plus = loss()
                plan.parameters[at] = saved - h
                let minus = loss()
                plan.parameters[at] = saved
                checked.append(analytic[at])
                numeric.append(Float((plus - minus) / Double(2 * h)))
            }
        }
        let comparison = Comparison(checked, numeric, atol: 1e-3, rtol: 2e-2)
        #expect(comparison.isClose, "\(comparison)")
        #expect(checked.contains { abs($0) > 1e-3 }, "the check must see real gradients")
    }

    @Test func planIsDeterministic() throws {
        let network = try tinyAlexNet().resolved()
        let a = try ReferenceBackend().makePlan(for: network, batchSize: 8, seed: 3)
        let b = try ReferenceBackend().makePlan(for: network, batchSize: 8, seed: 3)
        #expect(a.parameters.array == b.parameters.array)
        let lossA = try a.trainingStep(input: input, labels: labels, step: 0, optimizer: .sgd(), learningRate: 0.01)
        let lossB = try b.trainingStep(input: input, labels: labels, step: 0, optimizer: .sgd(), learningRate: 0.01)
        #expect(lossA == lossB && a.parameters.array == b.parameters.array)
        #expect(try a.infer(input) == b.infer(input))
        #expect(try a.infer(input).shape == [8, 4])
    }

    @Test func papersInitializationTrainsTheTinyNetwork() throws {
        // Weights N(0, 0.01^2) and biases of 1: the first steps must stay finite.
        let plan = try ReferenceBackend().makePlan(for: tinyAlexNet(initialization: .paper).resolved(), batchSize: 8, seed: 4)
        let loss = try plan.trainingStep(input: input, labels: labels, step: 0, optimizer: .paper, learningRate: 0.01)
        #expect(loss.isFinite && abs(loss - logf(4)) < 0.1)
    }
}

#if canImport(Glibc)
import Glibc
#endif
