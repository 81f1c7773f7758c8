import AlexNetCore

/// How a fresh network's parameters are drawn. Every scheme is a pure function of the seed:
/// tensor `t` draws from its own `Philox` stream, element `i` from counter `i`, so the result
/// does not depend on thread count, order or backend.
///
/// Batch norm always starts at scale 1, shift 0, running mean 0, running variance 1.
public enum Initialization: String, Sendable, CaseIterable, Codable {
    /// The paper's (section 5): weights from N(0, 0.01^2); biases 1 in the 2nd, 4th and 5th
    /// convolutions and in every linear layer but the last (conv2, conv4, conv5, fc6, fc7 in
    /// AlexNet), so that their ReLUs start with positive inputs; all other biases 0.
    case paper
    /// Xavier/Glorot uniform (d2l's `init_cnn`, Keras's `glorot_uniform`): weights from
    /// U(-a, a) with a = sqrt(6 / (fan_in + fan_out)); biases 0 (Keras's default; d2l leaves
    /// PyTorch's default biases, a difference of a few thousandths at the start).
    case xavier
    /// PyTorch's default for `nn.Conv2d` and `nn.Linear` (Kaiming uniform with a = sqrt(5)):
    /// weights and biases from U(-b, b) with b = 1 / sqrt(fan_in).
    case pytorch

    public var summary: String {
        switch self {
        case .paper: return "N(0, 0.01^2) weights; biases 1 in conv2/4/5 and hidden linear layers, else 0"
        case .xavier: return "Xavier-uniform weights, zero biases"
        case .pytorch: return "PyTorch default: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) weights and biases"
        }
    }

    /// Fills `parameters` (trainable, `layout.trainableCount` scalars) and `state`
    /// (`layout.stateCount` scalars) for `network`.
    public func initialize(_ network: ResolvedNetwork, parameters: UnsafeMutableBufferPointer<Float>,
                           state: UnsafeMutableBufferPointer<Float>, seed: UInt64) {
        precondition(parameters.count >= network.layout.trainableCount && state.count >= network.layout.stateCount)
        let convolutions = network.layers.filter { $0.layer is Convolution }.map(\.index)
        let linears = network.layers.filter { $0.layer is Linear }.map(\.index)
        for (tensor, slot) in network.layout.slots.enumerated() {
            let buffer = slot.isTrainable ? parameters : state
            let view = UnsafeMutableBufferPointer(rebasing: buffer[slot.offset..<(slot.offset + slot.count)])
            let rng = Philox(seed: seed, stream: RandomStream.initialization(tensor: tensor))
            switch slot.spec.role {
            case .scale, .runningVariance: view.update(repeating: 1)
            case .shift, .runningMean: view.update(repeating: 0)
            case .weight:
                switch self {
                case .paper:
                    for i in view.indices { view[i] = 0.01 * rng.normal(at: UInt64(i)) }
                case .xavier:
                    let bound = (6 / Float(slot.spec.fanIn + slot.spec.fanOut)).squareRoot()
                    for i in view.indices { view[i] = bound * (2 * rng.uniform(at: UInt64(i)) - 1) }
                case .pytorch:
                    let bound = 1 / Float(slot.spec.fanIn).squareRoot()
                    for i in view.indices { view[i] = bound * (2 * rng.uniform(at: UInt64(i)) - 1) }
                }
            case .bias:
                switch self {
                case .paper:
                    let convolutionOrdinal = convolutions.firstIndex(of: slot.layerIndex).map { $0 + 1 }
                    let isHiddenLinear = linears.contains(slot.layerIndex) && slot.layerIndex != linears.last
                    let one = isHiddenLinear || [2, 4, 5].contains(convolutionOrdinal ?? 0)
                    view.update(repeating: one ? 1 : 0)
                case .xavier:
                    view.update(repeating: 0)
                case .pytorch:
                    let bound = 1 / Float(slot.spec.fanIn).squareRoot()
                    for i in view.indices { view[i] = bound * (2 * rng.uniform(at: UInt64(i)) - 1) }
                }
            }
        }
    }
}
