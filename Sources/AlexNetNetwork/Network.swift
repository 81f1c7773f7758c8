import AlexNetCore

/// A layer with its name in the network (`conv1`, or torchvision's `features.0`).
public struct NamedLayer: Sendable {
    public var name: String
    public var layer: any Layer

    public init(_ name: String, _ layer: any Layer) {
        self.name = name
        self.layer = layer
    }

    public var kind: String { type(of: layer).kind }
}

/// A network is data: an input shape and an ordered list of named layers. Shapes, parameter
/// counts, MACs and memory follow from it by arithmetic (`resolved()`); backends compile it
/// into executable plans.
public struct Network: Sendable {
    /// A short identifier (`paper`, `torchvision`, or the file's name).
    public var name: String
    /// One line saying which AlexNet this is and how it deviates from the paper.
    public var description: String
    /// Shape of one input example, `CxHxW`.
    public var inputShape: Shape
    public var layers: [NamedLayer]
    /// How a fresh network's parameters are drawn.
    public var initialization: Initialization

    public init(name: String, description: String = "", inputShape: Shape, layers: [NamedLayer],
                initialization: Initialization = .pytorch) {
        self.name = name
        self.description = description
        self.inputShape = inputShape
        self.layers = layers
        self.initialization = initialization
    }

    /// Same kinds, hyperparameters, names and input.
    public func isEquivalent(to other: Network) -> Bool {
        inputShape == other.inputShape && initialization == other.initialization
            && layers.count == other.layers.count
            && zip(layers, other.layers).allSatisfy { $0.name == $1.name && $0.layer.isEqual(to: $1.layer) }
    }

    /// The number of classes: the width of the last linear layer, if there is one.
    public var classCount: Int? {
        layers.last(where: { $0.layer is Linear }).map { ($0.layer as! Linear).outputFeatures }
    }

    /// The same network with `count` outputs in its last linear layer.
    public func withClassCount(_ count: Int) throws -> Network {
        guard let index = layers.lastIndex(where: { $0.layer is Linear }) else {
            throw NetworkError.noClassifier(network: name)
        }
        var copy = self
        var last = layers[index].layer as! Linear
        last.outputFeatures = count
        copy.layers[index].layer = last
        return copy
    }

    /// Every layer with its input and output shapes, its parameters and where they live in the
    /// flat buffers. Throws `NetworkError.shape` naming the first layer that cannot work.
    public func resolved() throws -> ResolvedNetwork {
        var seen = Set<String>()
        for named in layers {
            guard !named.name.isEmpty, seen.insert(named.name).inserted else {
                throw NetworkError.duplicateName(named.name)
            }
        }
        guard !layers.isEmpty else { throw NetworkError.empty(network: name) }
        var resolvedLayers: [ResolvedLayer] = []
        var shape = inputShape
        var layout = ParameterLayout()
        _ = try Self.checkedCount(inputShape.dimensions, "the input \(inputShape)")
        for (index, named) in layers.enumerated() {
            let output: Shape
            do {
                output = try named.layer.outputShape(for: shape)
            } catch {
                throw NetworkError.shape(layer: named.name, index: index, kind: named.kind,
                                         input: shape, reason: error.message)
            }
            // Sizes are checked before any layer multiplies them (a typo such as out=1e17
            // must be an error, not an arithmetic trap).
            let outputs = try Self.checkedCount(output.dimensions, "the output of layer '\(named.name)' (\(output))")
            let specs = named.layer.parameters(for: shape)
            var parameterCount = 0
            for spec in specs {
                parameterCount += try Self.checkedCount(spec.shape, "parameter '\(named.name).\(spec.name)' \(spec.shape)")
            }
            // A layer's multiply-accumulates are at most outputs x parameters; once that cannot
            // overflow, its own count is safe to take, and is bounded so that sums stay exact.
            let (_, overflow) = outputs.multipliedReportingOverflow(by: max(parameterCount, 1))
            guard !overflow, named.layer.multiplyAccumulates(for: shape) <= 1 << 50 else {
                throw NetworkError.tooLarge("layer '\(named.name)'")
            }
            let slots = specs.map { layout.append($0, layer: index, layerName: named.name) }
            resolvedLayers.append(ResolvedLayer(
                index: index, name: named.name, layer: named.layer, inputShape: shape,
                outputShape: output, parameters: specs, slots: slots,
                multiplyAccumulates: named.layer.multiplyAccumulates(for: shape)))
            shape = output
        }
        return ResolvedNetwork(network: self, layers: resolvedLayers, layout: layout)
    }

    /// The product of `dimensions`, or an error naming `what` past 2^40 values.
    static func checkedCount(_ dimensions: [Int], _ what: @autoclosure () -> String) throws -> Int {
        var total = 1
        for dimension in dimensions {
            let (product, overflow) = total.multipliedReportingOverflow(by: max(dimension, 0))
            guard !overflow, product <= 1 << 40 else { throw NetworkError.tooLarge(what()) }
            total = product
        }
        return total
    }
}

/// A layer placed in its network.
public struct ResolvedLayer: Sendable {
    public var index: Int
    public var name: String
    public var layer: any Layer
    public var inputShape: Shape
    public var outputShape: Shape
    public var parameters: [ParameterSpec]
    /// Where each of `parameters` lives in the flat buffers, in the same order.
    public var slots: [ParameterSlot]
    public var multiplyAccumulates: Int

    public var kind: String { type(of: layer).kind }
    public var parameterCount: Int { parameters.filter(\.isTrainable).reduce(0) { $0 + $1.count } }
}

/// A network whose shapes all work.
public struct ResolvedNetwork: Sendable {
    public var network: Network
    public var layers: [ResolvedLayer]
    public var layout: ParameterLayout
    /// Layers whose parameters training leaves alone (fine-tuning's frozen layers, by name):
    /// training plans compute no gradient for their parameters (cpu, reference), and backward
    /// stops below the first layer that still trains. Set before making a plan.
    public var frozenLayers: Set<String> = []

    /// The lowest layer whose parameters train (those of no other layer below it need a
    /// gradient, so backward need not go further down); nil when none trains.
    public var firstTrainedLayer: Int? {
        layers.first { $0.parameterCount > 0 && !frozenLayers.contains($0.name) }?.index
    }

    /// Whether `layer` runs in evaluation mode in training passes too: a frozen batch norm
    /// normalises with its running statistics and leaves them alone, as Keras's frozen layers
    /// do, so fine-tuning on a few new images cannot shift statistics learned on many.
    public func evaluatesInTraining(_ layer: ResolvedLayer) -> Bool {
        layer.layer is BatchNorm && frozenLayers.contains(layer.name)
    }

    public var inputShape: Shape { network.inputShape }
    public var outputShape: Shape { layers.last!.outputShape }
    /// Trainable parameters (what papers and `model.parameters()` count).
    public var parameterCount: Int { layers.reduce(0) { $0 + $1.parameterCount } }
    public var multiplyAccumulates: Int { layers.reduce(0) { $0 + $1.multiplyAccumulates } }
}

/// Errors in a network's structure. Each names the layer at fault.
public enum NetworkError: Error, Equatable, CustomStringConvertible {
    case shape(layer: String, index: Int, kind: String, input: Shape, reason: String)
    case duplicateName(String)
    case empty(network: String)
    case noClassifier(network: String)
    case tooLarge(String)
    case unknownLayer(String, network: String, layers: [String])
    case noHiddenLayer(network: String)

    public var description: String {
        switch self {
        case let .shape(layer, index, kind, input, reason):
            return "layer \(index) '\(layer)' (\(kind)) cannot take its \(input) input: \(reason)"
        case let .duplicateName(name):
            return name.isEmpty ? "a layer has an empty name" : "two layers are named '\(name)'"
        case let .empty(network):
            return "network '\(network)' has no layers"
        case let .noClassifier(network):
            return "network '\(network)' has no linear layer whose outputs could be the classes"
        case let .tooLarge(what):
            return "\(what) is too large for any machine (more than 2^40 values, or 2^50 multiply-accumulates)"
        case let .unknownLayer(name, network, layers):
            return "network '\(network)' has no layer '\(name)'; its layers are \(layers.joined(separator: ", "))"
        case let .noHiddenLayer(network):
            return "network '\(network)' has no hidden linear layer before its classifier: name the layer to use"
        }
    }
}
