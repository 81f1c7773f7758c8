import AlexNetBackends
import AlexNetCore
import AlexNetNetwork
import Testing

/// Runs one training step's forward and backward on both backends from the same parameters and
/// compares logits, loss and every parameter gradient.
func expectParity(_ network: Network, batch: Int = 4, seed: UInt64 = 7, forwardTolerance: (atol: Float, rtol: Float) = (1e-5, 1e-4),
                  gradientTolerance: (atol: Float, rtol: Float) = (1e-5, 1e-3),
                  sourceLocation: SourceLocation = #_sourceLocation) throws {
    let resolved = try network.resolved()
    let reference = try ReferenceBackend().makePlan(for: resolved, batchSize: batch, seed: seed)
    let cpu = try CPUBackend(threads: 2).makePlan(for: resolved, batchSize: batch, seed: seed)
    #expect(reference.parameters.array == cpu.parameters.array, sourceLocation: sourceLocation)
    let input = Tensor(randomUniform: [batch] + resolved.inputShape.dimensions, seed: seed &+ 1)
    let classes = resolved.outputShape.elementCount
    let labels = (0..<batch).map { $0 % classes }

    let logits = Comparison(cpu.infer(input), reference.infer(input), atol: forwardTolerance.atol, rtol: forwardTolerance.rtol)
    #expect(logits.isClose, "\(network.name) inference logits: \(logits)", sourceLocation: sourceLocation)

    let referenceLoss = reference.computeGradients(input: input, labels: labels, step: 3)
    let cpuLoss = cpu.computeGradients(input: input, labels: labels, step: 3)
    #expect(abs(referenceLoss - cpuLoss) <= 1e-4 * max(1, abs(referenceLoss)), "\(network.name) loss \(cpuLoss) vs \(referenceLoss)",
            sourceLocation: sourceLocation)
    for slot in resolved.layout.slots where slot.isTrainable {
        let check = Comparison(Array(cpu.gradients.view(offset: slot.offset, count: slot.count)),
                               Array(reference.gradients.view(offset: slot.offset, count: slot.count)),
                               atol: gradientTolerance.atol, rtol: gradientTolerance.rtol)
        #expect(check.isClose, "\(network.name) gradient of \(slot.name): \(check)", sourceLocation: sourceLocation)
    }
    let state = Comparison(cpu.state.array, reference.state.array, atol: 1e-5, rtol: 1e-4)
    #expect(state.isClose, "\(network.name) running statistics: \(state)", sourceLocation: sourceLocation)
}

/// A convolution (so the layer under test sees oneDNN's blocked layout and its input gradient
/// is checked through the convolution's weight gradient), the layer, then a classifier.
func probe(_ layer: any Layer, input: Shape = Shape(channels: 3, height: 9, width: 9), channels: Int = 6) -> Network {
    Network(name: "probe-\(type(of: layer).kind)", inputShape: input, layers: [
        NamedLayer("conv", Convolution(outputChannels: channels, kernelSize: 3, padding: 1)),
        NamedLayer("probe", layer),
        NamedLayer("flatten", Flatten()),
        NamedLayer("fc", Linear(outputFeatures: 5)),
    ], initialization: .pytorch)
}

@Suite struct CPUBackendParityTests {
    @Test(arguments: [
        ("relu", ReLU() as any Layer), ("tanh", Tanh()), ("sigmoid", Sigmoid()),
        ("lrn paper", LocalResponseNorm(size: 5, alpha: 0.1, beta: 0.75, k: 2, convention: .paper)),
        ("lrn averaged", LocalResponseNorm(size: 3, alpha: 0.3, beta: 0.75, k: 1, convention: .averaged)),
        ("lrn even size", LocalResponseNorm(size: 4, alpha: 0.2, beta: 0.75, k: 1)),
        ("maxpool 3/2", MaxPool(kernelSize: 3, stride: 2)),
        ("maxpool padded", MaxPool(kernelSize: 3, stride: 2, padding: 1)),
        ("avgpool include", AveragePool(kernelSize: 3, stride: 2, padding: 1, includePadding: true)),
        ("avgpool exclude", AveragePool(kernelSize: 3, stride: 2, padding: 1, includePadding: false)),
        ("adaptive identity", AdaptiveAveragePool(outputSize: 9)),
        ("adaptive equal bins", AdaptiveAveragePool(outputSize: 3)),
        ("adaptive unequal bins", AdaptiveAveragePool(outputSize: 4)),
        ("batchnorm 2-D", BatchNorm()),
        ("dropout on feature maps", Dropout(probability: 0.3)),
        ("grouped convolution", Convolution(outputChannels: 4, kernelSize: 3, stride: 2, padding: 1, groups: 2)),
        ("convolution without bias", Convolution(outputChannels: 4, kernelSize: 5, stride: 1, padding: 2, hasBias: false)),
    ])
    func layerKind(_ label: String, _ layer: any Layer) throws {
        try expectParity(probe(layer))
    }

    @Test func flatLayers() throws {
        // Linear with fused ReLU, 1-D batch norm, dropout, tanh on flat features.
        let network = Network(name: "flat", inputShape: Shape(channels: 2, height: 5, width: 5), layers: [
            NamedLayer("conv", Convolution(outputChannels: 4, kernelSize: 3)),
            NamedLayer("flatten", Flatten()),
            NamedLayer("fc1", Linear(outputFeatures: 12)),
            NamedLayer("relu1", ReLU()),
            NamedLayer("bn", BatchNorm()),
            NamedLayer("drop", Dropout(probability: 0.5)),
            NamedLayer("fc2", Linear(outputFeatures: 7, hasBias: false)),
            NamedLayer("tanh", Tanh()),
            NamedLayer("fc3", Linear(outputFeatures: 3)),
        ], initialization: .pytorch)
        try expectParity(network, batch: 6)
    }

    @Test func tinyAlexNetWithFusedReLUs() throws {
        try expectParity(tinyAlexNet(), batch: 8)
        try expectParity(tinyAlexNet(batchNorm: true), batch: 8)
    }
}
