import AlexNetBackends
import AlexNetCore
import AlexNetData
import AlexNetInterop
import AlexNetNetwork
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Starting a run from trained weights (`alexnet train --from`), as PyTorch's and Keras's
/// transfer-learning tutorials do: every tensor of the weights file that fits the new network
/// (same name, same shape) is loaded; the rest (the last classifier, when the classes differ)
/// keep their fresh initialisation and form the new head. Frozen layers do not train; the
/// head may take its own learning rate (the usual recipe: 10x the base rate).
///
/// It is part of the recipe (`TrainingConfiguration.fineTuning`); what it decides about layers
/// is written into the optimizer's `layerRates` when the run starts, so a checkpoint carries
/// it and `--resume` needs the weights file no more.
public struct FineTuning: Codable, Sendable, Equatable {
    /// The weights file: torchvision's state dict as safetensors, a checkpoint of ours, or an
    /// `alexnet export`.
    public var weights: String
    /// Layers to freeze: shell patterns over layer names (`features.*`, `conv[1-3]`).
    public var freeze: [String] = []
    /// Also freeze every layer up to and including this one.
    public var freezeUntil: String?
    /// Layers to re-initialise although their tensors fit (patterns), e.g. a head of 1,000
    /// classes trained anew on 1,000 others.
    public var reinitialize: [String] = []
    /// The learning rate of the new layers (nil: the base rate); the schedule scales it with
    /// the base rate.
    public var headLearningRate: Float?

    public init(weights: String) { self.weights = weights }
}

/// What a weights file gives a network: tensor by tensor, loaded or new (and why).
public struct WeightsMatch: Sendable {
    public struct Entry: Sendable {
        public var name: String
        public var shape: [Int]
        /// Nil when loaded; otherwise why the tensor starts fresh.
        public var newBecause: String?
    }

    /// Every tensor of the network (trainable and state), in order.
    public var tensors: [Entry]
    /// Tensors of the file that the network does not use.
    public var unused: [(name: String, shape: [Int])]
    /// Layers with at least one tensor starting fresh.
    public var newLayers: [String]

    /// The network's tensors against `file`'s; tensors of layers matching `reinitialize`
    /// patterns start fresh even when they fit. Checkpoints' optimizer buffers are ignored.
    public init(file: SafeTensors, network: ResolvedNetwork, reinitialize: [String] = []) {
        var tensors: [Entry] = []
        var used = Set<String>()
        var newLayers: [String] = []
        for layer in network.layers {
            let forced = reinitialize.contains { matches($0, layer.name) }
            for slot in layer.slots {
                var reason: String?
                if forced {
                    reason = "re-initialised (--reinit)"
                } else if let entry = file[slot.name] {
                    if entry.shape != slot.spec.shape {
                        reason = "the file's is \(entry.shape)"
                    } else if ![.f32, .f16, .bf16, .f64].contains(entry.dtype) {
                        reason = "the file's is \(entry.dtype.rawValue), not floating point"
                    }
                } else {
                    reason = "not in the file"
                }
                if file[slot.name] != nil { used.insert(slot.name) }
                tensors.append(Entry(name: slot.name, shape: slot.spec.shape, newBecause: reason))
                if reason != nil, newLayers.last != layer.name { newLayers.append(layer.name) }
            }
        }
        self.tensors = tensors
        self.newLayers = newLayers
        unused = file.entries.filter { !used.contains($0.name) && !$0.name.hasPrefix("optimizer.") }.map { ($0.name, $0.shape) }
    }

    public var loadedCount: Int { tensors.filter { $0.newBecause == nil }.count }

    /// One line per tensor, for the run's log: `loaded features.0.weight [64, 3, 11, 11]`.
    public var report: [String] {
        tensors.map { tensor in
            tensor.newBecause.map { "new    \(tensor.name) \(tensor.shape) (\($0))" } ?? "loaded \(tensor.name) \(tensor.shape)"
        } + unused.map { "unused \($0.name) \($0.shape) (no such tensor in the network)" }
    }

    /// Copies the loaded tensors from `file` into `plan` (the others keep the plan's
    /// initialisation).
    public func load(_ file: SafeTensors, into plan: any Plan) throws {
        plan.copyToHost()
        for tensor in tensors where tensor.newBecause == nil {
            guard let slot = plan.network.layout.slot(named: tensor.name) else { continue }
            let values = try file.floats(tensor.name)
            let buffer = slot.isTrainable ? plan.parameters : plan.state
            _ = buffer.view(offset: slot.offset, count: slot.count).update(fromContentsOf: values)
        }
        plan.copyFromHost()
    }
}

/// Shell pattern matching (`fnmatch`): `features.*` matches `features.10`.
func matches(_ pattern: String, _ name: String) -> Bool { fnmatch(pattern, name, 0) == 0 }

extension FineTuning {
    /// The layer learning-rate multipliers of this recipe on `network` (0 for frozen layers,
    /// head rate / base rate for the new ones), with the frozen layers' names. Refuses patterns
    /// that name no layer with parameters, and freezing a new layer (it would stay random).
    public func layerRates(network: ResolvedNetwork, newLayers: [String], baseLearningRate: Float) throws
        -> (rates: [String: Float], frozen: [String]) {
        let trainable = network.layers.filter { $0.parameterCount > 0 }
        let names = trainable.map(\.name)
        var frozen = Set<String>()
        for pattern in freeze {
            let hits = names.filter { matches(pattern, $0) }
            guard !hits.isEmpty else {
                throw TrainingSetupError("--freeze '\(pattern)' matches no layer with parameters; the layers are \(names.joined(separator: ", "))")
            }
            frozen.formUnion(hits)
        }
        if let freezeUntil {
            guard let last = network.layers.firstIndex(where: { $0.name == freezeUntil }) else {
                throw TrainingSetupError("--freeze-until: no layer '\(freezeUntil)'; the layers are \(network.layers.map(\.name).joined(separator: ", "))")
            }
            frozen.formUnion(trainable.filter { $0.index <= last }.map(\.name))
        }
        for pattern in reinitialize where !names.contains(where: { matches(pattern, $0) }) {
            throw TrainingSetupError("--reinit '\(pattern)' matches no layer with parameters; the layers are \(names.joined(separator: ", "))")
        }
        if let layer = newLayers.first(where: frozen.contains) {
            throw TrainingSetupError("layer \(layer) is new (its tensors are not loaded from \(weights)) and frozen: it would stay random; "
                + "freeze fewer layers")
        }
        if frozen.count == trainable.count {
            throw TrainingSetupError("every layer with parameters is frozen: nothing would train")
        }
        var rates: [String: Float] = [:]
        for name in frozen { rates[name] = 0 }
        if let headLearningRate {
            for name in newLayers { rates[name] = headLearningRate / baseLearningRate }
        }
        return (rates, names.filter(frozen.contains))
    }

    /// The normalisation the weights were trained with: an export's or a checkpoint's own, or
    /// ImageNet's (torchvision's pretrained models) for a plain state dict on an RGB network;
    /// nil when the file does not say and the network is not RGB.
    public static func normalization(of file: SafeTensors, network: Network) -> Preprocessing? {
        if let json = file.metadata["preprocessing"],
           let stored = try? JSONDecoder().decode(Preprocessing.self, from: Data(json.utf8)) {
            return stored
        }
        if let json = file.metadata["run"], let run = try? JSONDecoder().decode(RunState.self, from: Data(json.utf8)) {
            return run.configuration.preprocessing
        }
        if file.metadata["network"] == nil, network.inputShape.image?.channels == 3 {
            return .imageNet(crop: network.inputShape.image?.height ?? 224)
        }
        return nil
    }
}
