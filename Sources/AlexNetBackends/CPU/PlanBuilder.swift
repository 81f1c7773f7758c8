import AlexNetCore
import AlexNetNetwork
import CDNNL

/// Collects what operations need while the plan is built, then binds the shared buffers
/// (scratchpad, the two gradient buffers) once their sizes are known.
final class PlanBuilder {
    let engine: DNNLEngine
    let batchSize: Int
    let isTraining: Bool
    /// When 3x3 stride-1 convolutions use Winograd.
    let winograd: CPUBackend.Winograd
    /// Threads for work the plan does itself (`SpaceToDepthConvolution`'s rearranging).
    var threads = 1
    /// When the first convolution is rewritten with space-to-depth.
    var spaceToDepth = CPUBackend.SpaceToDepth.whereFaster
    let parameters: FloatBuffer
    let gradients: FloatBuffer
    let state: FloatBuffer
    private var scratchpadMemories: [Memory] = []
    private var scratchpadBytes = 0
    private var gradientMemories: [(Memory, parity: Int)] = []
    private var gradientBytes = 0
    private var hostScratchBytes = 0
    private var hostScratch: RawStorage?

    init(engine: DNNLEngine, batchSize: Int, isTraining: Bool, winograd: CPUBackend.Winograd, parameters: FloatBuffer,
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

    /// Makes sure the host scratch buffer has at least `bytes`: one buffer for every host
    /// operation's temporaries (`WinogradConvolution`'s transformed tiles), since operations run
    /// one at a time.
    func reserveHostScratch(_ bytes: Int) { hostScratchBytes = max(hostScratchBytes, bytes) }

    /// The host scratch buffer, once `bindSharedBuffers()` has allocated it.
    var hostScratchPointer: UnsafeMutablePointer<Float> { hostScratch!.pointer.assumingMemoryBound(to: Float.self) }

    /// A memory over `count` floats of a flat buffer, with layout `descriptor`.
    func memory(_ descriptor: MemoryDescriptor, on buffer: FloatBuffer, offset: Int) throws -> Memory {
        try Memory(descriptor, engine: engine, pointer: UnsafeMutableRawPointer(buffer.baseAddress + offset))
    }

    /// Allocates the shared buffers and points every deferred memory at them: the scratchpad,
    /// the two gradient buffers, the host scratch, in that order.
    func bindSharedBuffers() throws -> [RawStorage] {
        let scratchpad = RawStorage(byteCount: scratchpadBytes)
        for memory in scratchpadMemories {
            try check(dnnl_memory_set_data_handle(memory.raw, scratchpad.pointer), "binding the scratchpad")
        }
        let gradientBuffers = [RawStorage(byteCount: gradientBytes), RawStorage(byteCount: gradientBytes)]
        for (memory, parity) in gradientMemories {
            try check(dnnl_memory_set_data_handle(memory.raw, gradientBuffers[parity].pointer), "binding a gradient buffer")
        }
        let host = RawStorage(byteCount: hostScratchBytes)
        hostScratch = host
        return [scratchpad] + gradientBuffers + [host]
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
