import AlexNetBackends
import AlexNetCore
import AlexNetInterop
import AlexNetNetwork
import Foundation
import Testing

/// Compares our math with PyTorch's on the fixtures that `scripts/make_fixtures.py` writes
/// (Tests/Fixtures/pytorch): every layer kind on the reference backend, and a narrow AlexNet's
/// logits, loss, gradients and ten SGD steps on every backend. Each comparison prints its
/// largest difference.
enum PyTorchFixtures {
    static func path(_ name: String) -> String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/pytorch/\(name)").path
    }

    /// Elementwise closeness scaled to the tensor: |a - e| <= tolerance * (|e| + max |e|).
    static func expectClose(_ actual: [Float], _ expected: [Float], _ what: String, tolerance: Float,
                            sourceLocation: SourceLocation = #_sourceLocation) {
        let scale = expected.map(abs).max() ?? 0
        let comparison = Comparison(actual, expected, atol: tolerance * scale, rtol: tolerance)
        print("\(what): largest difference \(comparison.maxAbsoluteDifference) (largest value \(scale))")
        #expect(comparison.isClose, "\(what): \(comparison)", sourceLocation: sourceLocation)
    }

    /// Copies `<prefix><tensor>` of `file` into each slot of `plan` that the file has.
    static func load(_ file: SafeTensors, prefix: String, into plan: any Plan, layout: ParameterLayout,
                     nameOf: (ParameterSlot) -> String) throws {
        for slot in layout.slots where slot.isTrainable {
            let values = try file.floats(prefix + nameOf(slot))
            _ = plan.parameters.view(offset: slot.offset, count: slot.count).update(fromContentsOf: values)
        }
    }
}

@Suite struct PyTorchFixtureTests {
    @Test(arguments: ["conv_grouped", "conv_stem", "lrn", "maxpool_overlapping", "adaptive_avgpool", "batchnorm", "linear"])
    func layerMatchesPyTorch(_ name: String) throws {
        let file = try SafeTensors(path: PyTorchFixtures.path("layers.safetensors"))
        let spec = try #require(file.metadata[name]).split(separator: "|")
        let dimensions = spec[1].split(separator: "x").map { Int($0)! }
        let network = try NetworkFile.parse("name: \(name)\ninput: \(Shape(Array(dimensions.dropFirst())))\n\nlayer \(spec[0])\n").resolved()
        let plan = ReferencePlan(network: network, batchSize: dimensions[0], seed: 0)
        try PyTorchFixtures.load(file, prefix: "\(name).", into: plan, layout: network.layout) { $0.spec.name }
        let input = Tensor(shape: dimensions, scalars: try file.floats("\(name).input"))
        let activations = plan.forward(input, isTraining: true, step: 0)
        PyTorchFixtures.expectClose(activations.last!.scalars, try file.floats("\(name).output"), "\(name) output", tolerance: 1e-5)
        plan.gradients.fill(with: 0)
        let output = activations.last!
        let upstream = Tensor(shape: output.shape, scalars: try file.floats("\(name).grad_output"))
        let inputGradient = plan.backward(activations: activations, outputGradient: upstream, step: 0)
        PyTorchFixtures.expectClose(inputGradient.scalars, try file.floats("\(name).grad_input"), "\(name) input gradient", tolerance: 1e-4)
        for slot in network.layout.slots {
            if slot.isTrainable {
                let gradient = Array(plan.gradients.view(offset: slot.offset, count: slot.count))
                PyTorchFixtures.expectClose(gradient, try file.floats("\(name).grad_\(slot.spec.name)"),
                                            "\(name) \(slot.spec.name) gradient", tolerance: 1e-4)
            } else {
                // Batch norm's running statistics after one training pass.
                let state = Array(plan.state.view(offset: slot.offset, count: slot.count))
                PyTorchFixtures.expectClose(state, try file.floats("\(name).\(slot.spec.name)"), "\(name) \(slot.spec.name)", tolerance: 1e-5)
            }
        }
    }

    @Test func softmaxCrossEntropyMatchesPyTorch() throws {
        let file = try SafeTensors(path: PyTorchFixtures.path("layers.safetensors"))
        let logits = Tensor(shape: [4, 10], scalars: try file.floats("cross_entropy.logits"))
        let labels = try file.floats("cross_entropy.labels").map { Int($0) }
        PyTorchFixtures.expectClose([SoftmaxCrossEntropy.loss(logits: logits, labels: labels)], try file.floats("cross_entropy.loss"),
                                    "cross-entropy loss", tolerance: 1e-5)
        PyTorchFixtures.expectClose(SoftmaxCrossEntropy.gradient(logits: logits, labels: labels).scalars,
                                    try file.floats("cross_entropy.grad_logits"), "cross-entropy gradient", tolerance: 1e-5)
    }

    @Test(arguments: ["reference", "cpu"])
    func narrowAlexNetMatchesPyTorch(_ backendName: String) throws {
        let file = try SafeTensors(path: PyTorchFixtures.path("alexnet.safetensors"))
        let network = try NetworkFile.parse(try #require(file.metadata["network"])).resolved()
        let backend: any Backend = backendName == "cpu" ? CPUBackend(threads: 2) : ReferenceBackend()
        let plan = try backend.makePlan(for: network, batchSize: 4, seed: 0)
        try PyTorchFixtures.load(file, prefix: "", into: plan, layout: network.layout) { $0.name }
        let input = Tensor(shape: [4, 3, 67, 67], scalars: try file.floats("input"))
        let labels = try file.floats("labels").map { Int($0) }
        let output = try plan.computeGradients(input: input, labels: labels, step: 0)
        let loss = output.loss
        PyTorchFixtures.expectClose(output.logits.scalars, try file.floats("logits"), "\(backendName) logits", tolerance: 1e-5)
        PyTorchFixtures.expectClose([loss], try file.floats("loss"), "\(backendName) loss", tolerance: 1e-5)
        for slot in network.layout.slots where slot.isTrainable {
            PyTorchFixtures.expectClose(Array(plan.gradients.view(offset: slot.offset, count: slot.count)),
                                        try file.floats("grad.\(slot.name)"), "\(backendName) \(slot.name) gradient", tolerance: 1e-4)
        }
        // Ten steps of the paper's SGD from the same weights.
        let fresh = try backend.makePlan(for: network, batchSize: 4, seed: 0)
        try PyTorchFixtures.load(file, prefix: "", into: fresh, layout: network.layout) { $0.name }
        let losses = try (0..<10).map { try fresh.trainingStep(input: input, labels: labels, step: $0, optimizer: .paper, learningRate: 0.02) }
        PyTorchFixtures.expectClose(losses, try file.floats("losses"), "\(backendName) losses of ten SGD steps", tolerance: 1e-4)
    }
}

/// Full size, opt-in (the weights are 244 MB): torchvision's AlexNet with random weights from
/// `scripts/check_torchvision.py DIR`, run with `ALEXNET_TORCHVISION_CHECK=DIR`.
@Test(.enabled(if: ProcessInfo.processInfo.environment["ALEXNET_TORCHVISION_CHECK"] != nil))
func torchvisionLogitsMatchPyTorch() throws {
    let directory = ProcessInfo.processInfo.environment["ALEXNET_TORCHVISION_CHECK"]!
    let weights = try SafeTensors(path: "\(directory)/weights.safetensors")
    let io = try SafeTensors(path: "\(directory)/io.safetensors")
    let network = try Zoo.torchvision().resolved()
    for backend in [CPUBackend(threads: 2, winograd: .never), CPUBackend(threads: 2, winograd: .always)] as [any Backend] {
        let plan = try backend.makePlan(for: network, batchSize: 2, seed: 0)
        try PyTorchFixtures.load(weights, prefix: "", into: plan, layout: network.layout) { $0.name }
        let logits = try plan.infer(Tensor(shape: [2, 3, 224, 224], scalars: try io.floats("input")))
        PyTorchFixtures.expectClose(logits.scalars, try io.floats("logits"), "torchvision logits (\(backend.name))", tolerance: 1e-5)
    }
}
