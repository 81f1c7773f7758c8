import AlexNetCore
import AlexNetData
import AlexNetNetwork

/// One of the paper's design choices measured with paired runs (`alexnet experiment`): arms
/// that differ only in that choice, each trained with the same seeds, data order and recipe,
/// compared on one measure. The first arm is the paper's choice.
public struct Experiment: Sendable {
    /// What decides between the arms.
    public enum Measure: String, Codable, Sendable {
        /// Test (validation) top-1 error after the last epoch; lower is better.
        case testError
        /// Optimizer steps until the training error, averaged over the last `window` batches,
        /// first falls to `threshold` (the paper's Figure 1); fewer is better.
        case stepsToTrainingError
        /// Test error minus training error after the last epoch (how much the network overfits),
        /// with the test error beside it.
        case generalizationGap
    }

    public var name: String
    public var title: String
    /// The paper's claim, in its own numbers (SPEC.md section 4).
    public var claim: String
    /// Whose claim it is, for the report ("The paper"; "Our claim" for fashion-recipe).
    public var claimant = "The paper"
    public var measure: Measure
    /// The training error `stepsToTrainingError` waits for.
    public var threshold: Double = 0.25
    public var arms: [Arm]
    /// Needs RGB data (PCA lighting).
    public var requiresRGB = false
    /// The recipe the arms share when it is not the paper experiments' own (`fashion-recipe`
    /// ablates the `fashion` preset); `alexnet experiment` still applies --epochs and --seeds.
    public var recipe: TrainingConfiguration?
    /// Epochs per run unless `--epochs` says otherwise: sized so that three seeds of every arm
    /// train in about 10 to 35 minutes on two cores (an experiment with its own `recipe` takes
    /// that recipe's epochs instead).
    public var epochs = 3

    /// One side of the comparison: a network and, where the choice is in the recipe, a change
    /// to it.
    public struct Arm: Sendable {
        public var name: String
        public var network: Network
        public var recipe: @Sendable (inout TrainingConfiguration) -> Void = { _ in }
        /// Trains nothing: evaluates the final weights of this other arm's runs with the paper's
        /// ten crops (`ten-crop`), so the two arms differ only in the test procedure.
        public var tenCropOf: String?

        public init(_ name: String, network: Network, recipe: @escaping @Sendable (inout TrainingConfiguration) -> Void = { _ in }) {
            self.name = name
            self.network = network
            self.recipe = recipe
        }
    }
}

extension Experiment {
    /// Every experiment, by name.
    public static let names = ["relu-vs-tanh", "lrn", "overlapping-pooling", "dropout", "towers", "ten-crop", "depth", "pca-lighting", "fashion-recipe"]

    /// The experiment `name` on a base network (nil for an unknown name).
    public static func named(_ name: String, base: Network = Experiment.miniAlexNet()) -> Experiment? {
        switch name {
        case "relu-vs-tanh":
            // Figure 1's networks had no regularization of any kind: no LRN, no dropout here.
            let plain = base.removingLayers { $0.layer is LocalResponseNorm || $0.layer is Dropout }
            var experiment = Experiment(
                name: name, title: "ReLU against tanh",
                claim: "A four-layer CNN with ReLUs reaches 25% training error on CIFAR-10 six times faster than with tanh (Figure 1).",
                measure: .stepsToTrainingError,
                arms: [Arm("relu", network: plain), Arm("tanh", network: plain.replacingLayers { $0.layer is ReLU ? Tanh() : $0.layer })])
            experiment.epochs = 2  // the measure is early in training
            return experiment
        case "lrn":
            return Experiment(
                name: name, title: "Local response normalization",
                claim: "LRN reduces top-1 error by 1.4% on ImageNet; a four-layer CNN goes from 13% to 11% test error on CIFAR-10.",
                measure: .testError,
                arms: [Arm("lrn", network: base), Arm("no-lrn", network: base.removingLayers { $0.layer is LocalResponseNorm })])
        case "overlapping-pooling":
            return Experiment(
                name: name, title: "Overlapping pooling",
                claim: "Pooling 3x3 with stride 2 instead of 2x2 with stride 2 lowers top-1 error by 0.4% (top-5 by 0.3%).",
                measure: .testError,
                arms: [Arm("overlapping-3x3-s2", network: base),
                       Arm("non-overlapping-2x2-s2", network: base.replacingLayers { $0.layer is MaxPool ? MaxPool(kernelSize: 2, stride: 2) : $0.layer })])
        case "dropout":
            var experiment = Experiment(
                name: name, title: "Dropout",
                claim: "Without dropout the network overfits substantially; dropout roughly doubles the iterations needed to converge.",
                measure: .generalizationGap,
                arms: [Arm("dropout-0.5", network: base), Arm("no-dropout", network: base.removingLayers { $0.layer is Dropout })])
            experiment.epochs = 5  // overfitting needs time to show
            return experiment
        case "towers":
            return Experiment(
                name: name, title: "Two towers against one with half the kernels",
                claim: "The two-GPU net lowers top-1 error by 1.7% against a net with half as many kernels in each convolutional layer trained on one GPU.",
                measure: .testError,
                arms: [Arm("two-towers", network: base.withGroups(2, on: ["conv2", "conv4", "conv5"])),
                       Arm("one-tower-half-kernels", network: base.halvingConvolutions(except: "conv5"))])
        case "ten-crop":
            // The paper's geometry at 28x28: images resized to 32 (256 for 224), random 28x28
            // crops and mirrors in training; at test time the centre crop against the mean of
            // the softmax over the four corners, the centre and their mirrors.
            var tenCrop = Arm("ten-crop", network: base)
            tenCrop.tenCropOf = "centre-crop"
            var experiment = Experiment(
                name: name, title: "Ten-crop testing",
                claim: "At test time the paper averages the softmax of ten 224x224 patches (four corners, the centre and their mirrors) "
                    + "instead of one centre crop; it gives no number for the gain, only that its results are made this way.",
                measure: .testError,
                arms: [Arm("centre-crop", network: base) { c in
                           c.preprocessing.resize = base.inputShape.dimensions.last.map { $0 * 8 / 7 }
                           c.preprocessing.crop = base.inputShape.dimensions.last
                           c.preprocessing.randomCrop = true
                           c.preprocessing.flip = true
                       },
                       tenCrop])
            experiment.epochs = 5  // one training per seed: the ten-crop arm only evaluates
            return experiment
        case "depth":
            let convolutions = base.layers.filter { $0.layer is Convolution }.map(\.name)
            var experiment = Experiment(
                name: name, title: "Depth",
                claim: "Removing any middle convolutional layer loses about 2% top-1.",
                measure: .testError,
                arms: [Arm("all", network: base)] + convolutions.dropFirst().map { conv in
                    Arm("without-\(conv)", network: base.removingConvolution(conv))
                })
            experiment.epochs = 2  // five arms
            return experiment
        case "pca-lighting":
            return Experiment(
                name: name, title: "PCA lighting",
                claim: "Altering RGB intensities along the principal components reduces top-1 error by over 1%.",
                measure: .testError,
                arms: [Arm("lighting", network: base) { $0.preprocessing.lightingSigma = 0.1 }, Arm("no-lighting", network: base)],
                requiresRGB: true)
        case "fashion-recipe":
            // The `fashion` preset, and the preset without each of its ingredients in turn.
            let network = Zoo.fashion()
            var experiment = Experiment(
                name: name, title: "The fashion preset's ingredients",
                claim: "Each ingredient of the fashion preset (batch norm, padded random crops, mirrors, label "
                    + "smoothing, the cosine schedule, momentum) earns its place: without it the test error is higher.",
                measure: .testError,
                arms: [Arm("fashion", network: network),
                       Arm("no-batchnorm", network: network.removingLayers { $0.layer is BatchNorm }),
                       Arm("no-crops", network: network) { $0.preprocessing.randomCrop = false; $0.preprocessing.pad = nil },
                       Arm("no-flips", network: network) { $0.preprocessing.flip = false },
                       Arm("no-label-smoothing", network: network) { $0.labelSmoothing = nil },
                       Arm("constant-lr", network: network) { $0.schedule.kind = .constant },
                       Arm("no-momentum", network: network) { $0.optimizer.momentum = 0 }])
            experiment.recipe = TrainingPresets.preset("fashion")
            experiment.claimant = "Our claim (not the paper's)"
            return experiment
        default:
            return nil
        }
    }

    /// The experiments' network: AlexNet's shape (five convolutions, LRN after the first two,
    /// overlapping 3x3/2 pooling, three dense layers with dropout) shrunk to Fashion-MNIST's
    /// 28x28 images, about 10 million multiply-accumulates per image (the paper's: 724 million),
    /// so that three seeds of two arms train in minutes on two cores. Xavier initialisation, as
    /// the `quick` network: with PyTorch's default the ReLU network barely moves in its first
    /// hundreds of steps at lr 0.01.
    public static func miniAlexNet(channels: Int = 1, classes: Int = 10) -> Network {
        let pool = MaxPool(kernelSize: 3, stride: 2)
        return Network(
            name: "mini-alexnet",
            description: "AlexNet's layers at 28x28: 32/64/96/96/64 filters of 3x3, LRN, overlapping pooling, 256-unit dense layers",
            inputShape: Shape(channels: channels, height: 28, width: 28),
            layers: [
                NamedLayer("conv1", Convolution(outputChannels: 32, kernelSize: 3, padding: 1)),
                NamedLayer("relu1", ReLU()),
                NamedLayer("norm1", LocalResponseNorm()),
                NamedLayer("pool1", pool),
                NamedLayer("conv2", Convolution(outputChannels: 64, kernelSize: 3, padding: 1)),
                NamedLayer("relu2", ReLU()),
                NamedLayer("norm2", LocalResponseNorm()),
                NamedLayer("pool2", pool),
                NamedLayer("conv3", Convolution(outputChannels: 96, kernelSize: 3, padding: 1)),
                NamedLayer("relu3", ReLU()),
                NamedLayer("conv4", Convolution(outputChannels: 96, kernelSize: 3, padding: 1)),
                NamedLayer("relu4", ReLU()),
                NamedLayer("conv5", Convolution(outputChannels: 64, kernelSize: 3, padding: 1)),
                NamedLayer("relu5", ReLU()),
                NamedLayer("pool5", pool),
                NamedLayer("flatten", Flatten()),
                NamedLayer("fc6", Linear(outputFeatures: 256)),
                NamedLayer("relu6", ReLU()),
                NamedLayer("drop6", Dropout(probability: 0.5)),
                NamedLayer("fc7", Linear(outputFeatures: 256)),
                NamedLayer("relu7", ReLU()),
                NamedLayer("drop7", Dropout(probability: 0.5)),
                NamedLayer("fc8", Linear(outputFeatures: classes)),
            ],
            initialization: .xavier)
    }
}

extension Network {
    /// The same network with some layers swapped (names kept).
    func replacingLayers(_ change: (NamedLayer) -> any Layer) -> Network {
        var copy = self
        copy.layers = layers.map { NamedLayer($0.name, change($0)) }
        return copy
    }

    /// The same network without the layers `drop` picks.
    func removingLayers(_ drop: (NamedLayer) -> Bool) -> Network {
        var copy = self
        copy.layers = layers.filter { !drop($0) }
        return copy
    }

    /// Without convolution `name` and the ReLU (and LRN) that follow it; the next layer takes
    /// its input's channels.
    func removingConvolution(_ name: String) -> Network {
        guard let index = layers.firstIndex(where: { $0.name == name }) else { return self }
        var end = index + 1
        while end < layers.count, layers[end].layer is ReLU || layers[end].layer is LocalResponseNorm { end += 1 }
        var copy = self
        copy.layers.removeSubrange(index..<end)
        return copy
    }

    /// Convolutions `names` split into `groups` towers (the paper's two GPUs).
    func withGroups(_ groups: Int, on names: Set<String>) -> Network {
        replacingLayers { named in
            guard names.contains(named.name), var conv = named.layer as? Convolution else { return named.layer }
            conv.groups = groups
            return conv
        }
    }

    /// Every convolution but `kept` with half its filters: the paper's one-GPU net (one tower,
    /// "the same number of kernels as the two-GPU net in the final convolutional layer").
    func halvingConvolutions(except kept: String) -> Network {
        replacingLayers { named in
            guard named.name != kept, var conv = named.layer as? Convolution else { return named.layer }
            conv.outputChannels = max(1, conv.outputChannels / 2)
            return conv
        }
    }
}
