import AlexNetCore

/// The model zoo: the AlexNets people learn from, each reading like its source's table
/// (SPEC.md section 1). Every preset takes the number of classes and the input shape as
/// options; `Zoo.network(_:classes:input:)` applies them.
public enum Zoo {
    public static let names = ["paper", "paper-1gpu", "paper-bn", "torchvision", "d2l-fashion", "cifar10", "quick", "fashion"]

    /// A preset by name, or nil.
    public static func preset(_ name: String) -> Network? {
        switch name {
        case "paper": return paper(groups: 2)
        case "paper-1gpu": return paper(groups: 1)
        case "paper-bn": return paperBN()
        case "torchvision": return torchvision()
        case "d2l-fashion": return d2lFashion()
        case "cifar10": return cifar10()
        case "quick": return quick()
        case "fashion": return fashion()
        default: return nil
        }
    }

    /// A preset name or a network file path, with optional overrides of the class count and
    /// the input shape.
    public static func network(_ nameOrPath: String, classes: Int? = nil, input: Shape? = nil,
                               readFile: (String) throws -> String) throws -> Network {
        var network: Network
        if let preset = preset(nameOrPath) {
            network = preset
        } else {
            let text: String
            do {
                text = try readFile(nameOrPath)
            } catch {
                throw ZooError.unknownModel(nameOrPath, reason: "\(error)")
            }
            network = try NetworkFile.parse(text, source: nameOrPath)
        }
        if let input { network.inputShape = input }
        if let classes {
            guard classes > 0 else { throw ZooError.badClassCount(classes) }
            network = try network.withClassCount(classes)
        }
        return network
    }

    /// AlexNet as in the 2012 paper: 3x227x227, LRN with the paper's constants (alpha times the
    /// sum), overlapping 3x3/2 pooling, and `groups: 2` for the two-GPU towers in conv2, conv4
    /// and conv5 (60,965,224 parameters); `groups: 1` is the single-tower variant (62,378,344).
    /// Layer names are Caffe's (`conv1` ... `fc8`). Note: inverted dropout (see `Dropout`).
    public static func paper(groups: Int = 2, classes: Int = 1000) -> Network {
        let lrn = LocalResponseNorm(size: 5, alpha: 1e-4, beta: 0.75, k: 2, convention: .paper)
        let pool = MaxPool(kernelSize: 3, stride: 2)
        return Network(
            name: groups == 1 ? "paper-1gpu" : "paper",
            description: groups == 1
                ? "AlexNet (Krizhevsky et al. 2012) on one tower: groups 1 everywhere"
                : "AlexNet (Krizhevsky et al. 2012): two towers as groups 2 in conv2, conv4, conv5",
            inputShape: Shape(channels: 3, height: 227, width: 227),
            layers: [
                NamedLayer("conv1", Convolution(outputChannels: 96, kernelSize: 11, stride: 4)),
                NamedLayer("relu1", ReLU()),
                NamedLayer("norm1", lrn),
                NamedLayer("pool1", pool),
                NamedLayer("conv2", Convolution(outputChannels: 256, kernelSize: 5, padding: 2, groups: groups)),
                NamedLayer("relu2", ReLU()),
                NamedLayer("norm2", lrn),
                NamedLayer("pool2", pool),
                NamedLayer("conv3", Convolution(outputChannels: 384, kernelSize: 3, padding: 1)),
                NamedLayer("relu3", ReLU()),
                NamedLayer("conv4", Convolution(outputChannels: 384, kernelSize: 3, padding: 1, groups: groups)),
                NamedLayer("relu4", ReLU()),
                NamedLayer("conv5", Convolution(outputChannels: 256, kernelSize: 3, padding: 1, groups: groups)),
                NamedLayer("relu5", ReLU()),
                NamedLayer("pool5", pool),
                NamedLayer("flatten", Flatten()),
                NamedLayer("fc6", Linear(outputFeatures: 4096)),
                NamedLayer("relu6", ReLU()),
                NamedLayer("drop6", Dropout(probability: 0.5)),
                NamedLayer("fc7", Linear(outputFeatures: 4096)),
                NamedLayer("relu7", ReLU()),
                NamedLayer("drop7", Dropout(probability: 0.5)),
                NamedLayer("fc8", Linear(outputFeatures: classes)),
            ],
            initialization: .paper)
    }

    /// AlexNet-BN, the network You, Gitman and Ginsburg trained with LARS at large batches (arXiv
    /// 1708.03888): the single-tower paper network with batch normalization after every
    /// convolution, before its ReLU, and no LRN (62,381,096 parameters).
    public static func paperBN(classes: Int = 1000) -> Network {
        var network = paper(groups: 1, classes: classes)
        network.name = "paper-bn"
        network.description = "AlexNet-BN (You et al. 2017): batch norm after each convolution instead of LRN, for LARS"
        var layers: [NamedLayer] = []
        for layer in network.layers where !(layer.layer is LocalResponseNorm) {
            layers.append(layer)
            if layer.layer is Convolution { layers.append(NamedLayer("bn" + layer.name.dropFirst(4), BatchNorm())) }
        }
        network.layers = layers
        return network
    }

    /// torchvision's `models.alexnet`, the "one weird trick" variant (Krizhevsky 2014):
    /// 3x224x224, 64/192/384/256/256 filters, no LRN, no groups, adaptive average pooling to
    /// 6x6, dropout before fc6 and fc7 (61,100,840 parameters). Layer names are torchvision's
    /// state-dict names, so its weights load without renames.
    public static func torchvision(classes: Int = 1000) -> Network {
        let pool = MaxPool(kernelSize: 3, stride: 2)
        return Network(
            name: "torchvision",
            description: "torchvision's AlexNet (one weird trick, Krizhevsky 2014): no LRN, no groups",
            inputShape: Shape(channels: 3, height: 224, width: 224),
            layers: [
                NamedLayer("features.0", Convolution(outputChannels: 64, kernelSize: 11, stride: 4, padding: 2)),
                NamedLayer("features.1", ReLU()),
                NamedLayer("features.2", pool),
                NamedLayer("features.3", Convolution(outputChannels: 192, kernelSize: 5, padding: 2)),
                NamedLayer("features.4", ReLU()),
                NamedLayer("features.5", pool),
                NamedLayer("features.6", Convolution(outputChannels: 384, kernelSize: 3, padding: 1)),
                NamedLayer("features.7", ReLU()),
                NamedLayer("features.8", Convolution(outputChannels: 256, kernelSize: 3, padding: 1)),
                NamedLayer("features.9", ReLU()),
                NamedLayer("features.10", Convolution(outputChannels: 256, kernelSize: 3, padding: 1)),
                NamedLayer("features.11", ReLU()),
                NamedLayer("features.12", pool),
                NamedLayer("avgpool", AdaptiveAveragePool(outputSize: 6)),
                NamedLayer("flatten", Flatten()),
                NamedLayer("classifier.0", Dropout(probability: 0.5)),
                NamedLayer("classifier.1", Linear(outputFeatures: 4096)),
                NamedLayer("classifier.2", ReLU()),
                NamedLayer("classifier.3", Dropout(probability: 0.5)),
                NamedLayer("classifier.4", Linear(outputFeatures: 4096)),
                NamedLayer("classifier.5", ReLU()),
                NamedLayer("classifier.6", Linear(outputFeatures: classes)),
            ],
            initialization: .pytorch)
    }

    /// Dive into Deep Learning's AlexNet for Fashion-MNIST (section 8.1): 1x224x224 (28x28
    /// images upscaled), conv1 with padding 1, no LRN, no groups, 6400 features into fc6
    /// (46,764,746 parameters). Names follow d2l's `nn.Sequential` (`net.0` ... `net.20`).
    /// Recipe: SGD lr 0.01, batch 128, 10 epochs, Xavier-uniform.
    public static func d2lFashion(classes: Int = 10) -> Network {
        let pool = MaxPool(kernelSize: 3, stride: 2)
        let layers: [any Layer] = [
            Convolution(outputChannels: 96, kernelSize: 11, stride: 4, padding: 1), ReLU(), pool,
            Convolution(outputChannels: 256, kernelSize: 5, padding: 2), ReLU(), pool,
            Convolution(outputChannels: 384, kernelSize: 3, padding: 1), ReLU(),
            Convolution(outputChannels: 384, kernelSize: 3, padding: 1), ReLU(),
            Convolution(outputChannels: 256, kernelSize: 3, padding: 1), ReLU(), pool,
            Flatten(),
            Linear(outputFeatures: 4096), ReLU(), Dropout(probability: 0.5),
            Linear(outputFeatures: 4096), ReLU(), Dropout(probability: 0.5),
            Linear(outputFeatures: classes),
        ]
        return Network(
            name: "d2l-fashion",
            description: "Dive into Deep Learning's AlexNet for Fashion-MNIST: 1x224x224, no LRN, no groups",
            inputShape: Shape(channels: 1, height: 224, width: 224),
            layers: layers.enumerated().map { NamedLayer("net.\($0.offset)", $0.element) },
            initialization: .xavier)
    }

    /// The Keras "AlexNet8" tutorial for CIFAR-10: 3x32x32, 3x3 convolutions, batch norm after
    /// the first two (Keras's momentum 0.99 and epsilon 0.001), overlapping pooling, dense 2048.
    /// Recipe: Adam, batch 32, 5 epochs, inputs scaled to [0, 1].
    public static func cifar10(classes: Int = 10) -> Network {
        let pool = MaxPool(kernelSize: 3, stride: 2)
        let batchNorm = BatchNorm(epsilon: 1e-3, momentum: 0.01)
        return Network(
            name: "cifar10",
            description: "The Keras AlexNet8 tutorial for CIFAR-10: 3x3 kernels, batch norm, dense 2048",
            inputShape: Shape(channels: 3, height: 32, width: 32),
            layers: [
                NamedLayer("conv1", Convolution(outputChannels: 96, kernelSize: 3)),
                NamedLayer("bn1", batchNorm),
                NamedLayer("relu1", ReLU()),
                NamedLayer("pool1", pool),
                NamedLayer("conv2", Convolution(outputChannels: 256, kernelSize: 3)),
                NamedLayer("bn2", batchNorm),
                NamedLayer("relu2", ReLU()),
                NamedLayer("pool2", pool),
                NamedLayer("conv3", Convolution(outputChannels: 384, kernelSize: 3, padding: 1)),
                NamedLayer("relu3", ReLU()),
                NamedLayer("conv4", Convolution(outputChannels: 384, kernelSize: 3, padding: 1)),
                NamedLayer("relu4", ReLU()),
                NamedLayer("conv5", Convolution(outputChannels: 256, kernelSize: 3, padding: 1)),
                NamedLayer("relu5", ReLU()),
                NamedLayer("pool5", pool),
                NamedLayer("flatten", Flatten()),
                NamedLayer("fc6", Linear(outputFeatures: 2048)),
                NamedLayer("relu6", ReLU()),
                NamedLayer("drop6", Dropout(probability: 0.5)),
                NamedLayer("fc7", Linear(outputFeatures: 2048)),
                NamedLayer("relu7", ReLU()),
                NamedLayer("drop7", Dropout(probability: 0.5)),
                NamedLayer("fc8", Linear(outputFeatures: classes)),
            ],
            initialization: .xavier)
    }

    /// The network of the `quick` training preset, the README's main job: d2l's Fashion-MNIST
    /// AlexNet (five convolutions, three overlapping max-pools, three dense layers with dropout)
    /// at a size that trains in minutes on two CPU cores. Note: it deviates from d2l on purpose:
    /// the 28x28 images are upscaled to 46x46 instead of 224x224 (46 -> 23 -> 11 -> 11 -> 5 -> 5
    /// -> 2: every 3x3 stride-2 pool covers its input exactly, as the paper's 55 -> 27 -> 13 -> 6
    /// does), conv1 is 5x5 stride 2 (an 11x11 stride-4 stem would leave nothing for the last
    /// pool), and every layer has half of d2l's width (48/128/192/192/128 filters, dense 2048):
    /// 44 million multiply-accumulates per image instead of 940 million.
    public static func quick(classes: Int = 10) -> Network {
        let pool = MaxPool(kernelSize: 3, stride: 2)
        return Network(
            name: "quick",
            description: "A half-width d2l AlexNet for 46x46 Fashion-MNIST: trains in minutes on a CPU",
            inputShape: Shape(channels: 1, height: 46, width: 46),
            layers: [
                NamedLayer("conv1", Convolution(outputChannels: 48, kernelSize: 5, stride: 2, padding: 2)),
                NamedLayer("relu1", ReLU()),
                NamedLayer("pool1", pool),
                NamedLayer("conv2", Convolution(outputChannels: 128, kernelSize: 5, padding: 2)),
                NamedLayer("relu2", ReLU()),
                NamedLayer("pool2", pool),
                NamedLayer("conv3", Convolution(outputChannels: 192, kernelSize: 3, padding: 1)),
                NamedLayer("relu3", ReLU()),
                NamedLayer("conv4", Convolution(outputChannels: 192, kernelSize: 3, padding: 1)),
                NamedLayer("relu4", ReLU()),
                NamedLayer("conv5", Convolution(outputChannels: 128, kernelSize: 3, padding: 1)),
                NamedLayer("relu5", ReLU()),
                NamedLayer("pool5", pool),
                NamedLayer("flatten", Flatten()),
                NamedLayer("fc6", Linear(outputFeatures: 2048)),
                NamedLayer("relu6", ReLU()),
                NamedLayer("drop6", Dropout(probability: 0.5)),
                NamedLayer("fc7", Linear(outputFeatures: 2048)),
                NamedLayer("relu7", ReLU()),
                NamedLayer("drop7", Dropout(probability: 0.5)),
                NamedLayer("fc8", Linear(outputFeatures: classes)),
            ],
            initialization: .xavier)
    }
}

extension Zoo {
    /// The network of the `fashion` training preset, the best AlexNet recipe for Fashion-MNIST
    /// here (EXPERIMENTS.md): AlexNet's order of layers (five convolutions, overlapping 3x3
    /// stride-2 max pooling after the first, second and fifth, three dense layers with dropout
    /// 0.5) at Fashion-MNIST's own 28x28, with 3x3 convolutions of 32, 64, 96, 96 and 64
    /// filters, dense layers of 256, and batch normalization after each convolution in place of
    /// LRN (as in `paper-bn`): mini-alexnet's sizes (`alexnet experiment`), 10.4 million
    /// multiply-accumulates per image, PyTorch's default initialisation. Half again as wide
    /// (48-144 filters, 384 units: 23 million) trains at half the speed and reached 92.86% in
    /// 13 epochs, less than this one in 24 (EXPERIMENTS.md).
    public static func fashion(channels: Int = 1, classes: Int = 10) -> Network {
        let pool = MaxPool(kernelSize: 3, stride: 2)
        let widths = [32, 64, 96, 96, 64], dense = 256
        var layers: [NamedLayer] = []
        for (k, width) in widths.enumerated() {
            let n = k + 1
            layers += [NamedLayer("conv\(n)", Convolution(outputChannels: width, kernelSize: 3, padding: 1)),
                       NamedLayer("bn\(n)", BatchNorm()), NamedLayer("relu\(n)", ReLU())]
            if n == 1 || n == 2 || n == 5 { layers.append(NamedLayer("pool\(n)", pool)) }
        }
        layers += [
            NamedLayer("flatten", Flatten()),
            NamedLayer("fc6", Linear(outputFeatures: dense)), NamedLayer("relu6", ReLU()), NamedLayer("drop6", Dropout(probability: 0.5)),
            NamedLayer("fc7", Linear(outputFeatures: dense)), NamedLayer("relu7", ReLU()), NamedLayer("drop7", Dropout(probability: 0.5)),
            NamedLayer("fc8", Linear(outputFeatures: classes)),
        ]
        return Network(
            name: "fashion",
            description: "AlexNet's layers at 28x28 with batch norm: the fashion preset's network for Fashion-MNIST",
            inputShape: Shape(channels: channels, height: 28, width: 28), layers: layers, initialization: .pytorch)
    }
}

public enum ZooError: Error, Equatable, CustomStringConvertible {
    case unknownModel(String, reason: String)
    case badClassCount(Int)

    public var description: String {
        switch self {
        case let .unknownModel(name, reason):
            return "'\(name)' is neither a preset (\(Zoo.names.joined(separator: ", "))) nor a readable network file: \(reason)"
        case let .badClassCount(count):
            return "the number of classes must be positive, got \(count)"
        }
    }
}
