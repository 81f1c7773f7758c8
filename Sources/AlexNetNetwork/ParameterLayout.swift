import AlexNetCore

/// Where one tensor lives in the network's flat buffers.
public struct ParameterSlot: Sendable, Equatable {
    /// The full name, `layer.tensor` (`conv1.weight`, `features.0.bias`), as in a PyTorch
    /// state dict.
    public var name: String
    public var layerIndex: Int
    public var spec: ParameterSpec
    /// False for state such as batch norm's running statistics: those live in the separate
    /// `stateCount` buffer, which the optimizer never touches.
    public var isTrainable: Bool { spec.isTrainable }
    /// Offset in scalars inside its buffer (trainable or state).
    public var offset: Int
    public var count: Int { spec.count }
}

/// The flat buffer layout of a network: every trainable tensor in one buffer (its gradients
/// in a mirror of it), every state tensor in another. Each tensor starts on a 64-byte boundary
/// (16 floats) so that libraries get aligned pointers; the gaps are zeros and stay zeros.
public struct ParameterLayout: Sendable, Equatable {
    public static let alignment = 16

    public private(set) var slots: [ParameterSlot] = []
    /// Scalars in the trainable buffer, gaps included.
    public private(set) var trainableCount = 0
    /// Scalars in the state buffer, gaps included.
    public private(set) var stateCount = 0

    public init() {}

    mutating func append(_ spec: ParameterSpec, layer: Int, layerName: String) -> ParameterSlot {
        func place(_ end: inout Int) -> Int {
            let offset = (end + Self.alignment - 1) / Self.alignment * Self.alignment
            end = offset + spec.count
            return offset
        }
        let offset = spec.isTrainable ? place(&trainableCount) : place(&stateCount)
        let slot = ParameterSlot(name: "\(layerName).\(spec.name)", layerIndex: layer, spec: spec, offset: offset)
        slots.append(slot)
        return slot
    }

    public func slot(named name: String) -> ParameterSlot? { slots.first { $0.name == name } }

    /// Where the trainable tensors of layers `layer` and later begin in the flat buffer (its
    /// end when they have none): layers are laid out in order, so once backward has passed
    /// layer `layer`, every gradient from here on is final.
    public func trainableStart(fromLayer layer: Int) -> Int {
        slots.first { $0.isTrainable && $0.layerIndex >= layer }?.offset ?? trainableCount
    }
}
