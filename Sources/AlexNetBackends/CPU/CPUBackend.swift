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
    /// When 3x3 stride-1 convolutions use oneDNN's Winograd kernels (AVX-512 only in oneDNN
    /// 2.6), which need about 2.25x fewer multiplications (conv3-5 of AlexNet ~1.6x faster in
    /// training on a Cascade Lake) at the price of slightly larger rounding error (parity tests
    /// bound it). `.never` runs every convolution direct, as PyTorch and TensorFlow do on CPUs.
    public var winograd: Winograd
    /// When the first convolution runs as a stride-1 convolution over a space-to-depth view of
    /// its input (`SpaceToDepthConvolution`).
    public var spaceToDepth: SpaceToDepth

    /// When to rewrite the first convolution with space-to-depth.
    public enum SpaceToDepth: Sendable {
        /// Where oneDNN has no fast kernel for the original and has a jit one for the rewrite:
        /// its forward would be gemm-based or a reference kernel (AlexNet's conv1 on AVX2), or,
        /// in training, its weight gradient would need the source reordered first (the `quick`
        /// preset's one-channel conv1 on AVX2: 42 ms a step at batch 128, 8.5 ms rewritten).
        case whereFaster
        /// Whenever the rewrite applies (strided, ungrouped, kernel wider than the stride): tests.
        case always
        case never
    }

    /// When to use Winograd convolutions (see `ConvolutionOperation.algorithms`).
    public enum Winograd: Sendable {
        /// On maps of at least 7x7, where it measured faster; in inference only with weights
        /// transformed once, whenever the parameters change. Where oneDNN has no Winograd kernel
        /// (it has one for AVX-512 only), the backend's own F(2x2, 3x3) on 3x3 convolutions
        /// (`WinogradConvolution`).
        case whereFaster
        /// Wherever oneDNN has a Winograd kernel for the convolution (in inference, one that
        /// reads transformed weights), whatever the map size, and the backend's own elsewhere: tests.
        case always
        /// The backend's own F(2x2, 3x3) on every 3x3 convolution it runs, even where oneDNN has a
        /// Winograd kernel: tests.
        case own
        case never
    }

    public init(threads: Int? = nil, winograd: Winograd = .whereFaster, spaceToDepth: SpaceToDepth = .whereFaster) {
        self.threads = threads
        self.winograd = winograd
        self.spaceToDepth = spaceToDepth
    }

    public var description: String {
        let count = threads ?? Self.coreCount
        return "cpu, \(count) thread\(count == 1 ? "" : "s")"
    }

    /// Every online core.
    public static var coreCount: Int { max(1, sysconf(Int32(_SC_NPROCESSORS_ONLN))) }

    public func makePlan(for network: ResolvedNetwork, batchSize: Int, mode: PlanMode, seed: UInt64) throws -> any Plan {
        try CPUPlan(network: network, batchSize: batchSize, seed: seed, mode: mode, threads: threads, winograd: winograd,
                    spaceToDepth: spaceToDepth)
    }
}

/// A network compiled for one batch size on the CPU backend.
public final class CPUPlan: ProfilingPlan {
    public let network: ResolvedNetwork
    public let batchSize: Int
    public let parameters: FloatBuffer
    public let gradients: FloatBuffer
    public let state: FloatBuffer
    public let optimizerState = OptimizerState()
    public var labelSmoothing: Float = 0
    public let seed: UInt64
    public let mode: PlanMode
    /// Whether the plan has backward passes (training and attribution plans).
    private var isTraining: Bool { mode != .inference }
    public let threads: Int
    /// When true, forward and backward record the time of every operation.
    public var isProfiling = false

    private let engine: DNNLEngine
    private let input: Activation
    private let operations: [CPUOperation]
    private let sharedBuffers: [RawStorage]
    /// The first operation backward runs (those below it hold only layers that do not train).
    private let backwardStart: Int
    /// Logits `[N, classes]` in plain layout.
    private var logits: Activation { operations.last?.output ?? input }

    init(network: ResolvedNetwork, batchSize: Int, seed: UInt64, mode: PlanMode, threads: Int?, winograd: CPUBackend.Winograd,
         spaceToDepth: CPUBackend.SpaceToDepth = .whereFaster) throws {
        guard batchSize > 0 else { throw PlanError.batchSize(batchSize) }
        try MemoryBudget.check(network, batchSize: batchSize, mode: mode)
        self.network = network
        self.batchSize = batchSize
        self.seed = seed
        self.mode = mode
        let isTraining = mode != .inference
        self.threads = threads ?? CPUBackend.coreCount
        DNNLThreads.set(self.threads)
        engine = try DNNLEngine()
        parameters = FloatBuffer(count: network.layout.trainableCount)
        gradients = FloatBuffer(count: network.layout.trainableCount)
        state = FloatBuffer(count: network.layout.stateCount)
        let builder = PlanBuilder(engine: engine, batchSize: batchSize, isTraining: isTraining, winograd: winograd,
                                  parameters: parameters, gradients: gradients, state: state)
        builder.threads = self.threads
        builder.spaceToDepth = spaceToDepth
        input = try Activation(try MemoryDescriptor.plain([batchSize] + network.inputShape.dimensions), engine: engine)
        operations = try Self.lower(network, input: input, builder: builder, inputGradient: mode == .attribution)
        // Backward runs down to the operation holding the lowest layer that trains (all of
        // them in attribution plans, which want the input's gradient); that one computes no
        // input gradient. Frozen layers above it pass gradients on but compute none of their own.
        // (Attribution plans start at operation 0 itself: a layout reorder in front of a first
        // pooling holds no layer of its own, and the rule would skip it.)
        let lowest = mode == .training ? network.firstTrainedLayer ?? network.layers.count : 0
        let lowered = operations
        let backwardStart = mode == .attribution ? 0 : lowered.indices.first { k in
            (k + 1 < lowered.count ? lowered[k + 1].firstLayer : network.layers.count) > lowest
        } ?? lowered.count
        self.backwardStart = backwardStart
        if isTraining {
            // The first operation's input gradient goes to buffer 0 in attribution plans only.
            for (k, operation) in operations.enumerated() where k >= backwardStart {
                operation.computesParameterGradients = !network.layers.indices.contains(operation.firstLayer)
                    || !network.frozenLayers.contains(network.layers[operation.firstLayer].name)
                try operation.prepareBackward(outputParity: (k + 1) % 2,
                                              inputParity: k == backwardStart && mode != .attribution ? nil : k % 2)
            }
            builder.reserveGradientBytes((operations.last?.output ?? input).descriptor.byteCount)
        }
        sharedBuffers = try builder.bindSharedBuffers()
        if isTraining {
            let gradientBuffers = Array(sharedBuffers[1...2])
            for operation in operations { operation.bind(gradientBuffers: gradientBuffers) }
        }
        initialize(seed: seed)
    }

    /// Maps the layers onto operations, fusing each ReLU that follows a convolution or a linear
    /// layer, and ending with the logits in plain layout.
    private static func lower(_ network: ResolvedNetwork, input: Activation, builder: PlanBuilder,
                              inputGradient: Bool) throws -> [CPUOperation] {
        var operations: [CPUOperation] = []
        var current = input
        var index = 0
        let layers = network.layers
        /// `current` in the channel-blocked layout, through a `LayoutOperation` when it is plain.
        func blocked(_ current: Activation) throws -> Activation {
            guard current.shape.count == 4, current.descriptor == (try MemoryDescriptor.plain(current.shape)) else { return current }
            let layout = try LayoutOperation(name: "\(layers[index].name) layout", input: current,
                                             to: try MemoryDescriptor.channelBlocked(current.shape), builder: builder)
            layout.firstLayer = layers[index].index
            operations.append(layout)
            return layout.output
        }
        /// The first convolution, as a `SpaceToDepthConvolution` where `builder.spaceToDepth` asks
        /// for it (see `CPUBackend.SpaceToDepth.whereFaster`).
        func firstConvolution(_ conv: Convolution, fusedReLU: String?) throws -> CPUOperation {
            let layer = layers[index]
            func original() throws -> ConvolutionOperation {
                try ConvolutionOperation(layer, fusedReLU: fusedReLU, input: current, builder: builder, isFirst: true)
            }
            guard builder.spaceToDepth != .never, SpaceToDepthConvolution.applies(to: conv) else { return try original() }
            func isSlow(_ implementation: String) -> Bool { implementation.contains("gemm") || implementation.hasPrefix("ref") }
            if builder.spaceToDepth == .always {
                return try SpaceToDepthConvolution(layer, fusedReLU: fusedReLU, input: current, builder: builder)
            }
            let plain = try original()
            guard isSlow(plain.forwardImplementation) || plain.reordersSourceForWeightGradient else { return plain }
            let rewrite = try SpaceToDepthConvolution(layer, fusedReLU: fusedReLU, input: current, builder: builder)
            return isSlow(rewrite.forwardImplementation) ? plain : rewrite
        }
        while index < layers.count {
            let layer = layers[index]
            let nextIsReLU = index + 1 < layers.count && layers[index + 1].layer is ReLU
            let fusedName = nextIsReLU ? layers[index + 1].name : nil
            let plainCurrent = try MemoryDescriptor.plain(current.shape)
            let isPlain = current.descriptor == plainCurrent
            let operation: CPUOperation?
            switch layer.layer {
            case let conv as Convolution:
                if operations.isEmpty && !inputGradient {
                    operation = try firstConvolution(conv, fusedReLU: fusedName)
                } else if builder.winograd == .own && WinogradConvolution.applies(layer) {
                    operation = try WinogradConvolution(layer, fusedReLU: fusedName, input: try blocked(current), builder: builder)
                } else {
                    let direct = try ConvolutionOperation(layer, fusedReLU: fusedName, input: current, builder: builder, isFirst: false)
                    if WinogradConvolution.replaces(direct, conv, layer: layer, builder: builder) {
                        operation = try WinogradConvolution(layer, fusedReLU: fusedName, input: try blocked(current), builder: builder)
                    } else {
                        operation = direct
                    }
                }
                if nextIsReLU { index += 1 }
            case is Linear where isPlain:
                operation = try LinearOperation(layer, fusedReLU: fusedName, input: current, builder: builder)
                if nextIsReLU { index += 1 }
            case is ReLU, is Tanh, is Sigmoid:
                operation = try EltwiseOperation(layer, input: current, builder: builder)
            case let lrn as LocalResponseNorm where LRNOperation.supports(lrn):
                operation = try LRNOperation(layer, input: try blocked(current), builder: builder)
            case is MaxPool, is AveragePool:
                operation = try PoolingOperation(layer, input: try blocked(current), builder: builder)
            case is AdaptiveAveragePool where layer.inputShape == layer.outputShape:
                operation = nil  // the identity
            case let pool as AdaptiveAveragePool where PoolingOperation.supports(pool, input: layer.inputShape):
                operation = try PoolingOperation(layer, input: current, builder: builder)
            case is BatchNorm:
                operation = try BatchNormOperation(layer, input: current, builder: builder,
                                                   evaluation: inputGradient || network.evaluatesInTraining(layer))
            case is Dropout where inputGradient:
                operation = nil  // attribution plans run in evaluation mode: the identity
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
                operation.firstLayer = layer.index
                operations.append(operation)
                current = operation.output
            }
            index += 1
        }
        let flat = [builder.batchSize, current.shape.dropFirst().reduce(1, *)]
        let plainCurrent = try MemoryDescriptor.plain(current.shape)
        let isPlainFlat = current.shape.count == 2 && current.descriptor == plainCurrent
        if !isPlainFlat {
            let reorder = try ReorderOperation(name: "output", outputShape: flat, input: current, builder: builder)
            reorder.firstLayer = layers.count
            operations.append(reorder)
        }
        return operations
    }

    // MARK: Passes

    /// Runs every operation forward on the loaded input.
    private func forward(isTraining: Bool, step: Int, firstRow: Int = 0) {
        // libgomp keeps the thread count per calling thread: set it on whichever thread runs us.
        DNNLThreads.set(threads)
        let context = StepContext(isTraining: isTraining, step: UInt64(step), seed: seed, firstRow: firstRow)
        for operation in operations { timed(&operation.forwardSeconds) { operation.forward(context) } }
    }

    /// Runs every operation backward; tells `gradientsReady` each time the gradients from some
    /// offset to the end of the buffer are final (after waiting for the engine), 0 last.
    private func backward(step: Int, firstRow: Int, gradientsReady: ((Int) -> Void)?) {
        DNNLThreads.set(threads)
        let context = StepContext(isTraining: true, step: UInt64(step), seed: seed, firstRow: firstRow)
        var ready = network.layout.trainableCount
        for operation in operations[backwardStart...].reversed() {
            timed(&operation.backwardSeconds) { operation.backward(context) }
            guard let gradientsReady else { continue }
            let start = network.layout.trainableStart(fromLayer: operation.firstLayer)
            if start < ready, start > 0 {
                engine.wait()
                ready = start
                gradientsReady(start)
            }
        }
        engine.wait()
        gradientsReady?(0)
    }

    /// Runs `body`, adding its duration to `seconds` when profiling.
    private func timed(_ seconds: inout Double, _ body: () -> Void) {
        guard isProfiling else { return body() }
        let start = DispatchTime.now().uptimeNanoseconds
        body()
        seconds += Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    }

    /// The logits of the last forward pass as a tensor.
    private func logitsTensor() -> Tensor {
        engine.wait()
        return Tensor(shape: [batchSize] + network.outputShape.dimensions, scalars: Array(logits.floats))
    }

    // The host is where this plan's tensors live.
    public func copyToHost() {}
    /// Parameters live on the host already; an inference plan refreshes its blocked copies of
    /// the convolution weights here (training plans do it every forward).
    public func copyFromHost() {
        DNNLThreads.set(threads)
        for operation in operations { operation.parametersChanged() }
    }
    public func withHostGradients(_ body: (FloatBuffer) throws -> Void) rethrows { try body(gradients) }

    public func infer(_ tensor: Tensor) throws -> Tensor {
        try check(input: tensor)
        _ = input.floats.update(fromContentsOf: tensor.scalars)
        forward(isTraining: false, step: 0)
        return logitsTensor()
    }

    public func computeGradients(input tensor: Tensor, labels: [Int], step: Int, firstRow: Int,
                                 gradientsReady: ((Int) -> Void)?) throws -> StepOutput {
        guard isTraining else { throw PlanError.wrongMode("compute gradients", mode) }
        try check(input: tensor, labels: labels)
        _ = input.floats.update(fromContentsOf: tensor.scalars)
        forward(isTraining: true, step: step, firstRow: firstRow)
        engine.wait()
        // dL/dlogits goes where the last operation's backward reads its output gradient.
        let dz = sharedBuffers[1 + operations.count % 2].pointer.assumingMemoryBound(to: Float.self)
        let loss = SoftmaxCrossEntropy.lossAndGradient(logits: UnsafeBufferPointer(logits.floats), labels: labels,
                                                       classes: network.outputShape.elementCount,
                                                       labelSmoothing: labelSmoothing, gradient: dz)
        let output = StepOutput(loss: loss, logits: logitsTensor())
        backward(step: step, firstRow: firstRow, gradientsReady: gradientsReady)
        return output
    }

    public func inputGradient(input tensor: Tensor, outputGradient: Tensor) throws -> Tensor {
        try checkAttribution(input: tensor, outputGradient: outputGradient)
        _ = input.floats.update(fromContentsOf: tensor.scalars)
        forward(isTraining: true, step: 0)
        engine.wait()
        let dz = sharedBuffers[1 + operations.count % 2].pointer.assumingMemoryBound(to: Float.self)
        dz.update(from: outputGradient.scalars, count: outputGradient.scalars.count)
        backward(step: 0, firstRow: 0, gradientsReady: nil)
        // The first operation wrote the input gradient, in the input's plain layout, to buffer 0.
        let dx = sharedBuffers[1].pointer.assumingMemoryBound(to: Float.self)
        return Tensor(shape: tensor.shape, scalars: Array(UnsafeBufferPointer(start: dx, count: tensor.scalars.count)))
    }

    /// The optimizer over the flat buffers, split across threads.
    public func update(with optimizer: Optimizer, learningRate: Float, step: Int) throws {
        guard isTraining else { throw PlanError.wrongMode("update its parameters", mode) }
        let state = optimizerState.buffers(for: optimizer, count: parameters.count)
        optimizer.update(learningRate: learningRate, step: step, parameters: parameters, gradients: gradients, state: state,
                         layout: network.layout, chunks: threads)
    }

    // MARK: Profiling

    public var timings: [OperationTiming] {
        operations.map { OperationTiming(name: $0.name, implementation: $0.implementation,
                                         multiplyAccumulates: $0.multiplyAccumulates, forwardSeconds: $0.forwardSeconds, backwardSeconds: $0.backwardSeconds) }
    }

    public func resetTimings() {
        for operation in operations { operation.forwardSeconds = 0; operation.backwardSeconds = 0 }
    }
}
