import AlexNetBackends
import AlexNetCore
import AlexNetInterop
import AlexNetNetwork
import AlexNetTraining
import Foundation
import Testing

/// torchvision's AlexNet, narrower (scripts/make_finetune_fixture.py wrote its weights from
/// PyTorch under torchvision's names, with the logits of two images in eval mode).
enum TinyTorchvision {
    static let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/pytorch/tiny-torchvision.safetensors").path

    /// Its network file (torchvision's layer names and module order), beside the weights.
    static let networkPath = URL(fileURLWithPath: path).deletingPathExtension().appendingPathExtension("net").path

    static func network(classes: Int = 10) throws -> Network {
        try NetworkFile.parse(String(contentsOfFile: networkPath, encoding: .utf8)).withClassCount(classes)
    }
}

@Suite struct FineTuningTests {
    /// Weights exported from PyTorch under torchvision's names load without renames, and the
    /// network then computes PyTorch's logits on both backends.
    @Test(arguments: ["reference", "cpu"])
    func pytorchWeightsLoadAndGivePyTorchsLogits(backend: String) throws {
        let file = try SafeTensors(path: TinyTorchvision.path)
        let network = try TinyTorchvision.network().resolved()
        let match = WeightsMatch(file: file, network: network)
        #expect(match.loadedCount == 16 && match.newLayers.isEmpty, "\(match.report)")
        #expect(match.unused.map(\.name).sorted() == ["check.input", "check.logits"])
        let plan = try Backends.make(backend).makePlan(for: network, batchSize: 2, mode: .inference, seed: 1)
        try match.load(file, into: plan)
        let input = Tensor(shape: [2, 3, 63, 63], scalars: try file.floats("check.input"))
        let logits = try plan.infer(input)
        let comparison = Comparison(logits.scalars, try file.floats("check.logits"), atol: 1e-5, rtol: 1e-4)
        #expect(comparison.isClose, "\(comparison)")
    }

    /// With 3 classes, the last classifier does not fit: it is new, tensor by tensor, and the
    /// rest is loaded bit for bit.
    @Test func aNewHeadStartsFreshAndTheRestLoads() throws {
        let file = try SafeTensors(path: TinyTorchvision.path)
        let network = try TinyTorchvision.network(classes: 3).resolved()
        let match = WeightsMatch(file: file, network: network)
        #expect(match.newLayers == ["classifier.6"])
        let new = match.tensors.filter { $0.newBecause != nil }
        #expect(new.map(\.name) == ["classifier.6.weight", "classifier.6.bias"])
        #expect(new.first?.newBecause == "the file's is [10, 64]")
        #expect(match.report.contains("loaded features.0.weight [8, 3, 11, 11]"), "\(match.report)")
        let plan = try ReferenceBackend().makePlan(for: network, batchSize: 1, mode: .inference, seed: 3)
        let fresh = plan.parameters.array
        try match.load(file, into: plan)
        let slot = try #require(network.layout.slot(named: "features.8.weight"))
        #expect(Array(plan.parameters.array[slot.offset..<slot.offset + slot.count]) == (try file.floats("features.8.weight")))
        let head = try #require(network.layout.slot(named: "classifier.6.weight"))
        #expect(plan.parameters.array[head.offset..<head.offset + head.count] == fresh[head.offset..<head.offset + head.count])
        // --reinit starts a fitting layer fresh too.
        let forced = WeightsMatch(file: file, network: network, reinitialize: ["classifier.[46]"])
        #expect(forced.newLayers == ["classifier.4", "classifier.6"])
    }

    /// Frozen layers get no gradient and no update (not even weight decay or momentum); the
    /// others get exactly the gradient of an unfrozen step, the new head at its own rate. Frozen
    /// layers between trained ones pass the gradient down.
    @Test(arguments: ["reference", "cpu"], [["features.*"], ["features.6", "classifier.4"]])
    func frozenLayersStayPutAndTheHeadTakesItsRate(backend: String, freeze: [String]) throws {
        let file = try SafeTensors(path: TinyTorchvision.path)
        var network = try TinyTorchvision.network(classes: 3).resolved()
        let match = WeightsMatch(file: file, network: network)
        var fineTuning = FineTuning(weights: TinyTorchvision.path)
        fineTuning.freeze = freeze
        fineTuning.headLearningRate = 0.5
        let (rates, frozen) = try fineTuning.layerRates(network: network, newLayers: match.newLayers, baseLearningRate: 0.05)
        if freeze == ["features.*"] {
            #expect(frozen == ["features.0", "features.3", "features.6", "features.8", "features.10"])
            #expect(rates["classifier.6"] == 10 && rates["features.3"] == 0 && rates["classifier.1"] == nil)
        } else {
            #expect(frozen == ["features.6", "classifier.4"])
        }

        let unfrozen = try Backends.make(backend).makePlan(for: network, batchSize: 4, mode: .training, seed: 9)
        network.frozenLayers = Set(frozen)
        let plan = try Backends.make(backend).makePlan(for: network, batchSize: 4, mode: .training, seed: 9)
        for p in [plan, unfrozen] { try match.load(file, into: p) }
        let input = Tensor(shape: [4, 3, 63, 63], scalars: (0..<(4 * 3 * 63 * 63)).map { Float(($0 * 37) % 101) / 101 })
        let labels = [0, 1, 2, 1]
        let before = plan.parameters.array
        let full = try unfrozen.computeGradients(input: input, labels: labels, step: 0)
        let step = try plan.computeGradients(input: input, labels: labels, step: 0)
        #expect(abs(step.loss - full.loss) < 1e-6, "the same forward pass")
        var optimizer = Optimizer.sgd(momentum: 0.9, weightDecay: 0.01)
        optimizer.layerRates = rates
        try plan.update(with: optimizer, learningRate: 0.05, step: 0)
        let (after, gradients, reference) = (plan.parameters.array, plan.gradients.array, unfrozen.gradients.array)
        for slot in network.layout.slots where slot.isTrainable {
            let range = slot.offset..<slot.offset + slot.count
            if frozen.contains(where: { slot.name.hasPrefix($0 + ".") }) {
                #expect(gradients[range].allSatisfy { $0 == 0 }, "\(slot.name) has a gradient")
                #expect(after[range] == before[range], "\(slot.name) moved")
            } else {
                let comparison = Comparison(Array(gradients[range]), Array(reference[range]), atol: 1e-6, rtol: 1e-4)
                #expect(comparison.isClose, "\(slot.name): \(comparison)")
                // SGD's first step from zero velocity: w - eps (g + decay w), eps the layer's rate.
                let eps: Float = slot.name.hasPrefix("classifier.6") ? 0.5 : 0.05
                let expected = range.map { before[$0] - eps * (reference[$0] + 0.01 * before[$0]) }
                let moved = Comparison(Array(after[range]), expected, atol: 1e-6, rtol: 1e-4)
                #expect(moved.isClose, "\(slot.name): \(moved)")
            }
        }
    }

    /// A frozen batch norm runs in evaluation mode in training steps, as Keras's do: it
    /// normalises with its running statistics and leaves them alone, and the gradient goes
    /// through it as through the affine map it then is; the same on both backends. An
    /// unfrozen one still uses and updates its batch statistics.
    @Test func frozenBatchNormKeepsItsRunningStatistics() throws {
        var network = try NetworkFile.parse("""
            name: bn-frozen
            input: 3x8x8

            conv1    conv       out=8 kernel=3 pad=1
            bn1      batchnorm
            relu1    relu
            conv2    conv       out=8 kernel=3 stride=2 pad=1
            bn2      batchnorm
            relu2    relu
            flatten  flatten
            fc       linear     out=4
            """).resolved()
        network.frozenLayers = ["bn1", "bn2"]
        let input = Tensor(shape: [4, 3, 8, 8], scalars: (0..<(4 * 3 * 64)).map { Float(($0 * 37) % 101) / 101 })
        let labels = [0, 1, 2, 3]
        var state = [Float](repeating: 0, count: network.layout.stateCount)
        for layer in network.layers where layer.layer is BatchNorm {
            for i in 0..<layer.slots[2].count {
                state[layer.slots[2].offset + i] = Float(i % 3) * 0.2 - 0.1
                state[layer.slots[3].offset + i] = 0.5 + Float(i % 4) * 0.3
            }
        }
        var gradients: [[Float]] = []
        for backend in ["reference", "cpu"] {
            let plan = try Backends.make(backend).makePlan(for: network, batchSize: 4, mode: .training, seed: 2)
            let evaluation = try Backends.make(backend).makePlan(for: network, batchSize: 4, mode: .inference, seed: 2)
            for p in [plan, evaluation] {
                _ = p.state.pointer.update(fromContentsOf: state)
                p.copyFromHost()
            }
            let step = try plan.computeGradients(input: input, labels: labels, step: 0)
            plan.copyToHost()
            #expect(plan.state.array == state, "\(backend): a frozen batch norm's running statistics moved")
            let logits = Comparison(step.logits.scalars, try evaluation.infer(input).scalars, atol: 1e-5, rtol: 1e-4)
            #expect(logits.isClose, "\(backend): a training step with every batch norm frozen is the evaluation pass: \(logits)")
            gradients.append(plan.gradients.array)
        }
        let agree = Comparison(gradients[1], gradients[0], atol: 1e-5, rtol: 1e-3)
        #expect(agree.isClose, "cpu against reference gradients: \(agree)")
        for name in ["bn1.weight", "bn2.bias"] {
            let slot = try #require(network.layout.slot(named: name))
            #expect(gradients[0][slot.offset..<slot.offset + slot.count].allSatisfy { $0 == 0 }, "\(name) has a gradient")
        }

        // Unfrozen, the same layers update their statistics.
        network.frozenLayers = []
        let plan = try CPUBackend(threads: 2).makePlan(for: network, batchSize: 4, mode: .training, seed: 2)
        _ = plan.state.pointer.update(fromContentsOf: state)
        plan.copyFromHost()
        _ = try plan.computeGradients(input: input, labels: labels, step: 0)
        plan.copyToHost()
        #expect(plan.state.array != state)
    }

    /// Freezing what cannot be frozen is refused, naming the layers.
    @Test func impossibleFreezesAreRefused() throws {
        let network = try TinyTorchvision.network(classes: 3).resolved()
        func refusal(_ change: (inout FineTuning) -> Void) -> String {
            var fineTuning = FineTuning(weights: "w.safetensors")
            change(&fineTuning)
            do {
                _ = try fineTuning.layerRates(network: network, newLayers: ["classifier.6"], baseLearningRate: 0.01)
                return "accepted"
            } catch { return "\(error)" }
        }
        #expect(refusal { $0.freeze = ["conv*"] }.contains("--freeze 'conv*' matches no layer with parameters; the layers are features.0"))
        #expect(refusal { $0.freeze = ["classifier.*"] }.contains("classifier.6 is new"))
        #expect(refusal { $0.freezeUntil = "conv5" }.contains("no layer 'conv5'"))
        #expect(refusal { $0.freezeUntil = "features.12" } == "accepted")
        #expect(refusal { $0.freeze = ["*"] }.contains("is new"))
    }
}
