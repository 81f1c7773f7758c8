import AlexNetCore
import AlexNetNetwork
import CDNNL

/// 64-byte aligned bytes, owned.
final class RawStorage {
    let byteCount: Int
    let pointer: UnsafeMutableRawPointer

    init(byteCount: Int) {
        self.byteCount = max(byteCount, 64)
        pointer = .allocate(byteCount: self.byteCount, alignment: 64)
        pointer.initializeMemory(as: UInt8.self, repeating: 0, count: self.byteCount)
    }

    deinit { pointer.deallocate() }

    func floats(_ count: Int) -> UnsafeMutableBufferPointer<Float> {
        UnsafeMutableBufferPointer(start: pointer.assumingMemoryBound(to: Float.self), count: count)
    }
}

/// A tensor the plan keeps between layers: its layout (possibly oneDNN's blocked nChw16c) and
/// its own storage.
final class Activation {
    let descriptor: MemoryDescriptor
    let storage: RawStorage
    let memory: Memory
    /// The logical shape, batch included.
    let shape: [Int]

    init(_ descriptor: MemoryDescriptor, engine: DNNLEngine) throws {
        self.descriptor = descriptor
        storage = RawStorage(byteCount: descriptor.byteCount)
        memory = try Memory(descriptor, engine: engine, pointer: storage.pointer)
        shape = descriptor.shape
    }

    /// The same bytes as `other` under another descriptor of the same size (a plain [n, c] as
    /// [n, c, 1, 1]).
    init(viewing other: Activation, as descriptor: MemoryDescriptor, engine: DNNLEngine) throws {
        precondition(descriptor.byteCount == other.descriptor.byteCount, "a view must cover the same bytes")
        self.descriptor = descriptor
        storage = other.storage
        memory = try Memory(descriptor, engine: engine, pointer: storage.pointer)
        shape = descriptor.shape
    }

    /// The scalars of a plain (row-major) activation.
    var floats: UnsafeMutableBufferPointer<Float> { storage.floats(shape.reduce(1, *)) }
}

/// What each operation's forward and backward need to know about the step.
struct StepContext {
    var isTraining: Bool
    var step: UInt64
    var seed: UInt64
    /// The global position of the batch's first row (see `PassContext.firstRow`).
    var firstRow = 0
}

/// One or more network layers lowered onto library primitives.
class CPUOperation {
    /// The layer(s) this operation runs, for the per-layer report (`conv1+relu1`).
    let name: String
    let input: Activation
    let output: Activation
    /// Whether backward must produce the input gradient (false for the first layer).
    var needsInputGradient = true
    /// False for a frozen layer's operation: backward computes no gradient for its parameters.
    var computesParameterGradients = true
    var forwardSeconds = 0.0
    var backwardSeconds = 0.0
    /// Multiply-accumulates per example of the layers this operation runs (for GFLOP/s).
    var multiplyAccumulates = 0
    /// The index of the first network layer this operation runs (after the last layer for the
    /// final reorder): its backward finishes the gradients of that layer and later ones.
    var firstLayer = 0

    init(name: String, input: Activation, output: Activation) {
        self.name = name
        self.input = input
        self.output = output
    }

    /// Creates the backward primitives. The gradient with respect to `output` is in the plan's
    /// gradient buffer `outputParity`; the one with respect to `input` goes to buffer
    /// `inputParity` (nil for the first layer, whose input needs no gradient). Operations view
    /// those buffers with the layouts they need through `PlanBuilder.gradient(_:parity:)`.
    func prepareBackward(outputParity: Int, inputParity: Int?) throws {}

    /// The host wrote new parameters (`Plan.copyFromHost()`): refresh any private copy of them.
    func parametersChanged() {}

    /// Host operations (plain loops, BLAS) receive the gradient buffers themselves once they exist.
    func bind(gradientBuffers: [RawStorage]) {}

    func forward(_ context: StepContext) { fatalError("\(type(of: self)) must override forward") }
    func backward(_ context: StepContext) { fatalError("\(type(of: self)) must override backward") }

    /// A description of the implementations in use, for the per-layer report.
    var implementation: String { "" }
}
