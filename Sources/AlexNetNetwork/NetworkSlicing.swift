import AlexNetCore

/// Parts of a network: its first layers up to a named one (a feature extractor) and the layers
/// after it (what turns those features into logits). Both keep the layers' names, so their
/// parameters are the whole network's tensors of the same names.
extension Network {
    /// The index of the layer called `name`; the error lists the layers there are.
    public func layerIndex(named name: String) throws(NetworkError) -> Int {
        guard let index = layers.firstIndex(where: { $0.name == name }) else {
            throw .unknownLayer(name, network: self.name, layers: layers.map(\.name))
        }
        return index
    }

    /// The layer whose output is the network's image features: `name` (nil: the last hidden
    /// layer, the linear layer before the classifier), extended over the batch norm and the
    /// activation that follow it (`fc7` -> `relu7`; CIFAR-10's `conv1` -> `bn1` -> `relu1`),
    /// since features are taken after the nonlinearity.
    /// Returns the index of the last layer to keep.
    public func featureLayerIndex(named name: String?) throws(NetworkError) -> Int {
        var index: Int
        if let name {
            index = try layerIndex(named: name)
        } else {
            let linears = layers.indices.filter { layers[$0].layer is Linear }
            guard linears.count >= 2 else { throw .noHiddenLayer(network: self.name) }
            index = linears[linears.count - 2]
        }
        while index + 1 < layers.count, [BatchNorm.kind, ReLU.kind, Tanh.kind, Sigmoid.kind].contains(layers[index + 1].kind) {
            index += 1
        }
        return index
    }

    /// The layers `0...index`: its output is layer `index`'s output.
    public func prefix(through index: Int) -> Network {
        var copy = self
        copy.name = "\(name) through \(layers[index].name)"
        copy.layers = Array(layers[...index])
        return copy
    }

    /// The layers after `index`, taking layer `index`'s output (`inputShape`, from
    /// `resolved()`) as their input. Dropout layers are left out when `evaluation` is true:
    /// in evaluation mode they are the identity (inverted dropout), so the part runs the same in
    /// a training plan, whose backward pass it then has.
    public func suffix(after index: Int, inputShape: Shape, evaluation: Bool = false) -> Network {
        var copy = self
        copy.name = "\(name) after \(layers[index].name)"
        copy.inputShape = inputShape
        copy.layers = layers[(index + 1)...].filter { !(evaluation && $0.layer is Dropout) }
        return copy
    }
}
