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

    /// The scalars of a plain (row-major) activation.
    var floats: UnsafeMutableBufferPointer<Float> { storage.floats(shape.reduce(1, *)) }
}

/// What each operation's forward and backward need to know about the step.
struct StepContext {
    var isTraining: Bool
    var step: UInt64
    var seed: UInt64
}

/// One or more network layers lowered onto library primitives.
class CPUOperation {
    /// The layer(s) this operation runs, for the per-layer report (`conv1+relu1`).
    let name: String
    let input: Activation
    let output: Activation
    /// Whether backward must produce the input gradient (false for the first layer).
    var needsInputGradient = true
    var forwardSeconds = 0.0
    var backwardSeconds = 0.0
    /// Multiply-accumulates per example of the layers this operation runs (for GFLOP/s).
    var multiplyAccumulates = 0

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

    /// Host operations (plain loops, BLAS) receive the gradient buffers themselves once they exist.
    func bind(gradientBuffers: [RawStorage]) {}

    func forward(_ context: StepContext) { fatalError("\(type(of: self)) must override forward") }
    func backward(_ context: StepContext) { fatalError("\(type(of: self)) must override backward") }

    /// A description of the implementations in use, for the per-layer report.
    var implementation: String { "" }
}

/// Collects what operations need while the plan is built, then binds the shared buffers
/// (scratchpad, the two gradient buffers) once their sizes are known.
final class PlanBuilder {
    let engine: DNNLEngine
    let batchSize: Int
    let isTraining: Bool
    /// Whether 3x3 stride-1 convolutions may use Winograd.
    let winograd: Bool
    let parameters: FloatBuffer
    let gradients: FloatBuffer
    let state: FloatBuffer
    private var scratchpadMemories: [Memory] = []
    private var scratchpadBytes = 0
    private var gradientMemories: [(Memory, parity: Int)] = []
    private var gradientBytes = 0

    init(engine: DNNLEngine, batchSize: Int, isTraining: Bool, winograd: Bool, parameters: FloatBuffer,
         gradients: FloatBuffer, state: FloatBuffer) {
        self.engine = engine
        self.winograd = winograd
        self.batchSize = batchSize
        self.isTraining = isTraining
        self.parameters = parameters
        self.gradients = gradients
        self.state = state
    }

    /// A scratchpad memory for `pd`, bound later to the one shared scratchpad buffer.
    func scratchpad(for pd: PrimitiveDescriptor) throws -> Memory {
        let md = pd.scratchpad
        scratchpadBytes = max(scratchpadBytes, md.byteCount)
        let memory = try Memory(md, engine: engine, pointer: UnsafeMutableRawPointer(bitPattern: 64)!)
        scratchpadMemories.append(memory)
        return memory
    }

    /// A gradient memory with layout `descriptor`, bound later to gradient buffer `parity`.
    func gradient(_ descriptor: MemoryDescriptor, parity: Int) throws -> Memory {
        gradientBytes = max(gradientBytes, descriptor.byteCount)
        let memory = try Memory(descriptor, engine: engine, pointer: UnsafeMutableRawPointer(bitPattern: 64)!)
        gradientMemories.append((memory, parity))
        return memory
    }

    /// Makes sure each gradient buffer has at least `bytes`, for operations that use it directly.
    func reserveGradientBytes(_ bytes: Int) { gradientBytes = max(gradientBytes, bytes) }

    /// A memory over `count` floats of a flat buffer, with layout `descriptor`.
    func memory(_ descriptor: MemoryDescriptor, on buffer: FloatBuffer, offset: Int) throws -> Memory {
        try Memory(descriptor, engine: engine, pointer: UnsafeMutableRawPointer(buffer.baseAddress + offset))
    }

    /// Allocates the shared buffers and points every deferred memory at them.
    func bindSharedBuffers() throws -> [RawStorage] {
        let scratchpad = RawStorage(byteCount: scratchpadBytes)
        for memory in scratchpadMemories {
            try check(dnnl_memory_set_data_handle(memory.raw, scratchpad.pointer), "binding the scratchpad")
        }
        let gradientBuffers = [RawStorage(byteCount: gradientBytes), RawStorage(byteCount: gradientBytes)]
        for (memory, parity) in gradientMemories {
            try check(dnnl_memory_set_data_handle(memory.raw, gradientBuffers[parity].pointer), "binding a gradient buffer")
        }
        return [scratchpad] + gradientBuffers
    }

    /// A bound primitive with the scratchpad argument added.
    func primitive(_ pd: PrimitiveDescriptor, name: String, _ arguments: [(Int32, Memory)]) throws -> BoundPrimitive {
        try BoundPrimitive(pd, name: name, arguments: arguments + [(CDNNL_ARG_SCRATCHPAD, try scratchpad(for: pd))])
    }

    /// The workspace a training forward pass leaves for its backward (max pooling's argmax,
    /// LRN's denominators), or nil when there is none or the plan does not train.
    func workspace(for pd: PrimitiveDescriptor) throws -> Activation? {
        guard isTraining && pd.workspace.byteCount > 0 else { return nil }
        return try Activation(pd.workspace, engine: engine)
    }

    /// A reorder from `source` to `destination` memory.
    func reorder(from source: Memory, to destination: Memory, name: String) throws -> BoundPrimitive {
        let pd = try PrimitiveDescriptor(reorderFrom: source.descriptor, to: destination.descriptor, engine: engine)
        return try primitive(pd, name: name, [(CDNNL_ARG_FROM, source), (CDNNL_ARG_TO, destination)])
    }
}
