import AlexNetCore
import AlexNetNetwork
import CDNNL
import Dispatch

#if canImport(Glibc)
import Glibc
#endif

/// The CPU backend: oneDNN for convolution, pooling, LRN, activations and batch norm (in its
/// blocked layouts, reordered only at the network's edges), oneDNN's sgemm for the fully
/// connected layers, and plain loops for dropout, the loss and the optimizer.
public struct CPUBackend: Backend {
    public let name = "cpu"
    /// Threads for oneDNN; nil uses every core.
    public var threads: Int?
    /// Lets 3x3 stride-1 convolutions use oneDNN's Winograd F(4x4, 3x3) kernels, which need
    /// about 2.25x fewer multiplications (conv3-5 of AlexNet run ~1.6x faster) at the price of
    /// slightly larger rounding error (parity tests bound it). False runs every convolution
    /// direct, as PyTorch and TensorFlow do on CPUs.
    public var winograd: Bool

    public init(threads: Int? = nil, winograd: Bool = true) {
        self.threads = threads
        self.winograd = winograd
    }

    /// Every online core.
    public static var coreCount: Int { max(1, sysconf(Int32(_SC_NPROCESSORS_ONLN))) }

    public func makePlan(for network: ResolvedNetwork, batchSize: Int, seed: UInt64) throws -> any Plan {
        try CPUPlan(network: network, batchSize: batchSize, seed: seed, isTraining: true, threads: threads, winograd: winograd)
    }

    /// A plan for evaluation only: no backward primitives, no training workspaces.
    public func makeInferencePlan(for network: ResolvedNetwork, batchSize: Int, seed: UInt64) throws -> CPUPlan {
        try CPUPlan(network: network, batchSize: batchSize, seed: seed, isTraining: false, threads: threads, winograd: winograd)
    }
}

/// Time spent in one operation of a plan, summed over the steps since the last reset.
public struct OperationTiming: Sendable {
    public var name: String
    public var implementation: String
    /// Multiply-accumulates per example.
    public var multiplyAccumulates: Int
    public var forwardSeconds: Double
    public var backwardSeconds: Double
}

/// A network compiled for one batch size on the CPU backend.
public final class CPUPlan: Plan {
    public let network: ResolvedNetwork
    public let batchSize: Int
    public let parameters: FloatBuffer
    public let gradients: FloatBuffer
    public let state: FloatBuffer
    public let optimizerState = OptimizerState()
    public let seed: UInt64
    public let isTraining: Bool
    public let threads: Int
    /// When true, forward and backward record the time of every operation.
    public var isProfiling = false

    private let engine: DNNLEngine
    private let input: Activation
    private let operations: [CPUOperation]
    private let sharedBuffers: [RawStorage]
    /// Logits `[N, classes]` in plain layout.
    private var logits: Activation { operations.last?.output ?? input }

    init(network: ResolvedNetwork, batchSize: Int, seed: UInt64, isTraining: Bool, threads: Int?, winograd: Bool) throws {
        precondition(batchSize > 0, "CPUPlan: batch size must be positive")
        self.network = network
        self.batchSize = batchSize
        self.seed = seed
        self.isTraining = isTraining
        self.threads = threads ?? CPUBackend.coreCount
        DNNLThreads.set(self.threads)
        engine = try DNNLEngine()
        parameters = FloatBuffer(count: network.layout.trainableCount)
        gradients = FloatBuffer(count: network.layout.trainableCount)
        state = FloatBuffer(count: network.layout.stateCount)
        let builder = PlanBuilder(engine: engine, batchSize: batchSize, isTraining: isTraining, winograd: winograd,
                                  parameters: parameters, gradients: gradients, state: state)
        input = try Activation(try MemoryDescriptor.plain([batchSize] + network.inputShape.dimensions), engine: engine)
        operations = try Self.lower(network, input: input, builder: builder)
        if isTraining {
            for (k, operation) in operations.enumerated() {
                try operation.prepareBackward(outputParity: (k + 1) % 2, inputParity: k == 0 ? nil : k % 2)
            }
            builder.reserveGradientBytes((operations.last?.output ?? input).descriptor.byteCount)
        }
        sharedBuffers = try builder.bindSharedBuffers()
        if isTraining {
            let gradientBuffers = Array(sharedBuffers[1...])
            for operation in operations { operation.bind(gradientBuffers: gradientBuffers) }
        }
        initialize(seed: seed)
    }

    /// Maps the layers onto operations, fusing each ReLU that follows a convolution or a linear
    /// layer, and ending with the logits in plain layout.
    private static func lower(_ network: ResolvedNetwork, input: Activation, builder: PlanBuilder) throws -> [CPUOperation] {
        var operations: [CPUOperation] = []
        var current = input
        var index = 0
        let layers = network.layers
        while index < layers.count {
            let layer = layers[index]
            let nextIsReLU = index + 1 < layers.count && layers[index + 1].layer is ReLU
            let fusedName = nextIsReLU ? layers[index + 1].name : nil
            let plainCurrent = try MemoryDescriptor.plain(current.shape)
            let isPlain = current.descriptor == plainCurrent
            let operation: CPUOperation?
            switch layer.layer {
            case is Convolution:
                operation = try ConvolutionOperation(layer, fusedReLU: fusedName, input: current, builder: builder,
                                                     isFirst: operations.isEmpty)
                if nextIsReLU { index += 1 }
            case is Linear where isPlain:
                operation = try LinearOperation(layer, fusedReLU: fusedName, input: current, builder: builder)
                if nextIsReLU { index += 1 }
            case is ReLU, is Tanh, is Sigmoid:
                operation = try EltwiseOperation(layer, input: current, builder: builder)
            case let lrn as LocalResponseNorm where LRNOperation.supports(lrn):
                operation = try LRNOperation(layer, input: current, builder: builder)
            case is MaxPool, is AveragePool:
                operation = try PoolingOperation(layer, input: current, builder: builder)
            case is AdaptiveAveragePool where layer.inputShape == layer.outputShape:
                operation = nil  // the identity
            case let pool as AdaptiveAveragePool where PoolingOperation.supports(pool, input: layer.inputShape):
                operation = try PoolingOperation(layer, input: current, builder: builder)
            case is BatchNorm:
                operation = try BatchNormOperation(layer, input: current, builder: builder)
            case is Dropout where isPlain:
                operation = try DropoutOperation(layer, input: current, builder: builder)
            case is Flatten:
                operation = try ReorderOperation(name: layer.name, outputShape: [builder.batchSize, layer.outputShape.elementCount],
                                                 input: current, builder: builder)
            default:
                operation = try ReferenceOperation(layer, input: current, builder: builder)
            }
            if let operation {
                operation.multiplyAccumulates = layer.multiplyAccumulates
                operations.append(operation)
                current = operation.output
            }
            index += 1
        }
        let flat = [builder.batchSize, current.shape.dropFirst().reduce(1, *)]
        let plainCurrent = try MemoryDescriptor.plain(current.shape)
        let isPlainFlat = current.shape.count == 2 && current.descriptor == plainCurrent
        if !isPlainFlat {
            operations.append(try ReorderOperation(name: "output", outputShape: flat, input: current, builder: builder))
        }
        return operations
    }

    // MARK: Passes

    private func load(_ tensor: Tensor) {
        precondition(tensor.shape == input.shape, "CPUPlan: input \(tensor.shape) does not match the plan's \(input.shape)")
        _ = input.floats.update(fromContentsOf: tensor.scalars)
    }

    /// Runs every operation forward on the loaded input.
    public func forward(isTraining: Bool, step: UInt64) {
        precondition(self.isTraining || !isTraining, "CPUPlan: an inference plan cannot run a training pass")
        // libgomp keeps the thread count per calling thread: set it on whichever thread runs us.
        DNNLThreads.set(threads)
        let context = StepContext(isTraining: isTraining, step: step, seed: seed)
        for operation in operations { timed(&operation.forwardSeconds) { operation.forward(context) } }
    }

    /// Runs `body`, adding its duration to `seconds` when profiling.
    private func timed(_ seconds: inout Double, _ body: () -> Void) {
        guard isProfiling else { return body() }
        let start = DispatchTime.now().uptimeNanoseconds
        body()
        seconds += Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    }

    /// Softmax cross-entropy on the logits: writes dL/dlogits into the last gradient buffer and
    /// returns the mean loss. Labels must be in 0..<classes.
    private func lossAndGradient(labels: [Int]) -> Float {
        precondition(isTraining, "CPUPlan: an inference plan has no gradient buffers")
        engine.wait()
        let classes = logits.shape.dropFirst().reduce(1, *)
        precondition(labels.count == batchSize, "CPUPlan: \(labels.count) labels for a batch of \(batchSize)")
        let z = logits.floats
        let dz = sharedBuffers[1 + operations.count % 2].pointer.assumingMemoryBound(to: Float.self)
        var total: Double = 0
        let scale = 1 / Float(batchSize)
        for row in 0..<batchSize {
            let label = labels[row]
            precondition(label >= 0 && label < classes, "CPUPlan: label \(label) outside 0..<\(classes)")
            let base = row * classes
            var top = -Float.infinity
            for j in 0..<classes { top = max(top, z[base + j]) }
            var sum: Double = 0
            for j in 0..<classes { sum += Double(expf(z[base + j] - top)) }
            total += log(sum) - Double(z[base + label] - top)
            let inverse = Float(1 / sum)
            for j in 0..<classes { dz[base + j] = expf(z[base + j] - top) * inverse * scale }
            dz[base + label] -= scale
        }
        return Float(total / Double(batchSize))
    }

    public func backward(step: UInt64) {
        precondition(isTraining, "CPUPlan: an inference plan has no backward pass")
        DNNLThreads.set(threads)
        let context = StepContext(isTraining: true, step: step, seed: seed)
        for operation in operations.reversed() { timed(&operation.backwardSeconds) { operation.backward(context) } }
    }

    public func infer(_ tensor: Tensor) -> Tensor {
        load(tensor)
        forward(isTraining: false, step: 0)
        return lastLogits
    }

    public var lastLogits: Tensor {
        engine.wait()
        return Tensor(shape: [batchSize] + network.outputShape.dimensions, scalars: Array(logits.floats))
    }

    public func computeGradients(input tensor: Tensor, labels: [Int], step: UInt64) -> Float {
        precondition(isTraining, "CPUPlan: an inference plan cannot compute gradients")
        load(tensor)
        forward(isTraining: true, step: step)
        let loss = lossAndGradient(labels: labels)
        backward(step: step)
        return loss
    }

    /// The optimizer over the flat buffers, split across threads.
    public func update(with optimizer: any Optimizer, step: Int) {
        precondition(isTraining, "CPUPlan: an inference plan has no optimizer state")
        let chunks = threads
        let (parameters, gradients) = (self.parameters, self.gradients)
        let state = optimizerState.buffers(for: optimizer, count: parameters.count)
        let count = parameters.count
        let chunkSize = (count + chunks - 1) / chunks
        DispatchQueue.concurrentPerform(iterations: chunks) { chunk in
            let start = chunk * chunkSize, end = min(count, start + chunkSize)
            guard start < end else { return }
            optimizer.apply(parameters: parameters.view(offset: start, count: end - start),
                            gradients: gradients.view(offset: start, count: end - start),
                            state: state.map { $0.view(offset: start, count: end - start) }, step: step)
        }
    }

    /// One training step on an input already loaded (for benchmarks, whose input is synthetic).
    public func benchmarkTrainingStep(labels: [Int], step: UInt64, optimizer: any Optimizer) -> Float {
        forward(isTraining: true, step: step)
        let loss = lossAndGradient(labels: labels)
        backward(step: step)
        update(with: optimizer, step: Int(step) + 1)
        return loss
    }

    /// Copies `tensor` into the plan's input buffer.
    public func loadInput(_ tensor: Tensor) { load(tensor) }

    /// Per-operation times since the last `resetTimings()`.
    public var timings: [OperationTiming] {
        operations.map { OperationTiming(name: $0.name, implementation: $0.implementation,
                                         multiplyAccumulates: $0.multiplyAccumulates, forwardSeconds: $0.forwardSeconds, backwardSeconds: $0.backwardSeconds) }
    }

    public func resetTimings() {
        for operation in operations { operation.forwardSeconds = 0; operation.backwardSeconds = 0 }
    }
}
