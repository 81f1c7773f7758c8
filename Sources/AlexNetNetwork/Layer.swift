import AlexNetCore

/// One kind of layer: its hyperparameters, how it maps an input shape to an output shape, the
/// parameters it owns, its cost, and its math in plain Swift.
///
/// Each kind lives in one file under `Layers/`, which is the documentation of its formula. The
/// reference math works on batched NCHW (or `[N, F]`) float32 tensors. It is written to be
/// read, not to be fast: fast backends map the same kinds onto library primitives and are
/// tested against it.
///
/// Shapes here exclude the batch: `outputShape(for: [3, 227, 227])` is `[96, 55, 55]` for the
/// paper's conv1.
public protocol Layer: Sendable, Equatable {
    /// The word for this kind in network files and summaries (`conv`, `lrn`, `maxpool`, ...).
    static var kind: String { get }

    /// Reads the hyperparameters from a network file's `key=value` attributes.
    init(attributes: inout Attributes) throws

    /// The hyperparameters as `key=value` attributes, the inverse of `init(attributes:)`.
    var attributes: [(key: String, value: String)] { get }

    /// A short human form of the hyperparameters for the summary (`11x11/4 p0 g2`).
    var configuration: String { get }

    /// The output shape for one example, or a `ShapeError` saying why this input cannot work.
    func outputShape(for input: Shape) throws(ShapeError) -> Shape

    /// The tensors this layer owns, in order: trainable parameters and non-trainable state.
    func parameters(for input: Shape) -> [ParameterSpec]

    /// Multiply-accumulates for one example (convolution and linear layers; 0 for the others).
    func multiplyAccumulates(for input: Shape) -> Int

    /// Reference forward pass. `x` is `[N] + input`; returns `[N] + output`.
    func forward(_ x: Tensor, parameters: LayerParameters, context: PassContext) -> Tensor

    /// Reference backward pass: given the forward's input `x`, its output `y` and the gradient
    /// of the loss with respect to `y`, returns the gradient with respect to `x` and *adds* the
    /// parameter gradients into `parameters.gradients` (so they can accumulate over calls).
    func backward(
        input x: Tensor, output y: Tensor, outputGradient dy: Tensor,
        parameters: LayerParameters, context: PassContext
    ) -> Tensor
}

extension Layer {
    public func parameters(for input: Shape) -> [ParameterSpec] { [] }
    public func multiplyAccumulates(for input: Shape) -> Int { 0 }
    public var attributes: [(key: String, value: String)] { [] }
    public var configuration: String { "" }

    /// True when `other` is the same kind with the same hyperparameters.
    public func isEqual(to other: any Layer) -> Bool {
        guard let other = other as? Self else { return false }
        return self == other
    }
}

/// Why a layer cannot take the shape it is given. The network adds the layer's name.
public struct ShapeError: Error, Equatable, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// A tensor a layer owns. Trainable tensors go to the network's flat parameter buffer (and
/// have a gradient); state tensors (batch norm's running statistics) go to a separate flat
/// buffer that the optimizer never touches.
public struct ParameterSpec: Equatable, Sendable {
    public enum Role: String, Sendable, Codable {
        case weight, bias, scale, shift, runningMean, runningVariance
    }

    /// The name inside the layer, following PyTorch: `weight`, `bias`, `running_mean`, ...
    public var name: String
    public var shape: [Int]
    public var role: Role
    public var isTrainable: Bool
    /// Fan-in and fan-out of a weight, as PyTorch computes them, for the initialisers.
    public var fanIn: Int
    public var fanOut: Int

    public init(name: String, shape: [Int], role: Role, isTrainable: Bool = true,
                fanIn: Int = 0, fanOut: Int = 0) {
        self.name = name
        self.shape = shape
        self.role = role
        self.isTrainable = isTrainable
        self.fanIn = fanIn
        self.fanOut = fanOut
    }

    public var count: Int { shape.reduce(1, *) }
}

/// Where one layer's tensors live inside the network's flat buffers, in the order of its
/// `parameters(for:)`: trainable ones in `values`/`gradients`, state in `state`.
public struct LayerParameters {
    public var values: [UnsafeMutableBufferPointer<Float>]
    public var gradients: [UnsafeMutableBufferPointer<Float>]
    public var state: [UnsafeMutableBufferPointer<Float>]

    public init(values: [UnsafeMutableBufferPointer<Float>] = [],
                gradients: [UnsafeMutableBufferPointer<Float>] = [],
                state: [UnsafeMutableBufferPointer<Float>] = []) {
        self.values = values
        self.gradients = gradients
        self.state = state
    }

    /// The views of one placed layer's tensors into a network's flat buffers.
    public init(slots: [ParameterSlot], parameters parameterBuffer: FloatBuffer, gradients gradientBuffer: FloatBuffer,
                state stateBuffer: FloatBuffer) {
        self.init()
        for slot in slots {
            if slot.isTrainable {
                values.append(parameterBuffer.view(offset: slot.offset, count: slot.count))
                gradients.append(gradientBuffer.view(offset: slot.offset, count: slot.count))
            } else {
                state.append(stateBuffer.view(offset: slot.offset, count: slot.count))
            }
        }
    }

    /// For layers without parameters.
    public static var none: LayerParameters { LayerParameters() }
}

/// What a pass needs to know beyond its tensors.
public struct PassContext: Sendable, Equatable {
    /// Training mode: dropout drops, batch norm uses (and updates) batch statistics.
    public var isTraining: Bool
    /// The run's seed; random layers draw from `Philox(seed:stream:)` streams derived from it.
    public var seed: UInt64
    /// The optimizer step, so that every step draws fresh dropout masks, reproducibly.
    public var step: UInt64
    /// The layer's position in the network, so that two dropout layers draw different masks.
    public var layerIndex: Int
    /// The global position of the batch's first row: in data-parallel training each process
    /// holds a slice of the global batch, and its rows draw the dropout masks that the same
    /// rows of a single process's batch would (0 for a whole batch).
    public var firstRow: Int

    public init(isTraining: Bool, seed: UInt64 = 0, step: UInt64 = 0, layerIndex: Int = 0, firstRow: Int = 0) {
        self.isTraining = isTraining
        self.seed = seed
        self.step = step
        self.layerIndex = layerIndex
        self.firstRow = firstRow
    }

    public static let inference = PassContext(isTraining: false)
    public static let training = PassContext(isTraining: true)
}
