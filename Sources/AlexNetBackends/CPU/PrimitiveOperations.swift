import AlexNetCore
import AlexNetNetwork
import CDNNL

/// Element-wise activations (ReLU, tanh, sigmoid) on oneDNN, in the previous layer's layout.
/// Backward works from the output (`*_use_dst_for_bwd`), so the input need not be kept.
final class EltwiseOperation: CPUOperation {
    private let builder: PlanBuilder
    private let algorithm: dnnl_alg_kind_t
    private let forwardPD: PrimitiveDescriptor
    private var forwardPrimitive: BoundPrimitive!
    private var backwardPrimitive: BoundPrimitive?

    init(_ layer: ResolvedLayer, input: Activation, builder: PlanBuilder) throws {
        switch layer.layer {
        case is ReLU: algorithm = dnnl_eltwise_relu_use_dst_for_bwd
        case is Tanh: algorithm = dnnl_eltwise_tanh_use_dst_for_bwd
        default: algorithm = dnnl_eltwise_logistic_use_dst_for_bwd
        }
        var data = input.descriptor.raw
        var desc = dnnl_eltwise_desc_t()
        try check(dnnl_eltwise_forward_desc_init(&desc, builder.isTraining ? dnnl_forward_training : dnnl_forward_inference,
                                                 algorithm, &data, 0, 0), "describing '\(layer.name)'")
        forwardPD = try PrimitiveDescriptor(&desc, attributes: try Attributes(), engine: builder.engine, what: "'\(layer.name)'")
        self.builder = builder
        super.init(name: layer.name, input: input, output: try Activation(forwardPD.destination, engine: builder.engine))
        forwardPrimitive = try builder.primitive(forwardPD, name: layer.name, [(CDNNL_ARG_SRC, input.memory), (CDNNL_ARG_DST, output.memory)])
    }

    override func prepareBackward(outputParity: Int, inputParity: Int?) throws {
        guard let inputParity else { return }
        let diffOutput = try builder.gradient(output.descriptor, parity: outputParity)
        let diffInput = try builder.gradient(input.descriptor, parity: inputParity)
        var data = output.descriptor.raw, diff = input.descriptor.raw
        var desc = dnnl_eltwise_desc_t()
        try check(dnnl_eltwise_backward_desc_init(&desc, algorithm, &diff, &data, 0, 0), "describing the backward of '\(name)'")
        let pd = try PrimitiveDescriptor(&desc, attributes: try Attributes(), engine: builder.engine, hint: forwardPD, what: "backward of '\(name)'")
        backwardPrimitive = try builder.primitive(pd, name: "\(name) backward", [
            (CDNNL_ARG_DST, output.memory), (CDNNL_ARG_DIFF_DST, diffOutput), (CDNNL_ARG_DIFF_SRC, diffInput)])
    }

    override func forward(_ context: StepContext) { forwardPrimitive.execute(builder.engine) }
    override func backward(_ context: StepContext) { backwardPrimitive?.execute(builder.engine) }
    override var implementation: String { forwardPD.implementation }
}

/// Local response normalization across channels on oneDNN, which uses the alpha / size
/// convention: the paper's alpha is passed as alpha * size. oneDNN's window is symmetric, so
/// only odd sizes come here (even sizes run on the reference math).
final class LRNOperation: CPUOperation {
    private let builder: PlanBuilder
    private let lrn: LocalResponseNorm
    private let forwardPD: PrimitiveDescriptor
    private var forwardPrimitive: BoundPrimitive!
    private var backwardPrimitive: BoundPrimitive?
    private var workspace: Activation?

    static func supports(_ lrn: LocalResponseNorm) -> Bool { lrn.size % 2 == 1 }

    /// oneDNN multiplies the sum by alpha / size: the paper's alpha becomes alpha * size.
    static func libraryAlpha(_ lrn: LocalResponseNorm) -> Float {
        lrn.convention == .paper ? lrn.alpha * Float(lrn.size) : lrn.alpha
    }

    init(_ layer: ResolvedLayer, input: Activation, builder: PlanBuilder) throws {
        lrn = layer.layer as! LocalResponseNorm
        self.builder = builder
        var data = input.descriptor.raw
        var desc = dnnl_lrn_desc_t()
        let alpha = Self.libraryAlpha(lrn)
        try check(dnnl_lrn_forward_desc_init(&desc, builder.isTraining ? dnnl_forward_training : dnnl_forward_inference,
                                             dnnl_lrn_across_channels, &data, dnnl_dim_t(lrn.size), alpha, lrn.beta, lrn.k),
                  "describing '\(layer.name)'")
        forwardPD = try PrimitiveDescriptor(&desc, attributes: try Attributes(), engine: builder.engine, what: "'\(layer.name)'")
        super.init(name: layer.name, input: input, output: try Activation(forwardPD.destination, engine: builder.engine))
        workspace = try builder.workspace(for: forwardPD)
        forwardPrimitive = try builder.primitive(forwardPD, name: layer.name, [(CDNNL_ARG_SRC, input.memory), (CDNNL_ARG_DST, output.memory)]
            + (workspace.map { [(CDNNL_ARG_WORKSPACE, $0.memory)] } ?? []))
    }

    override func prepareBackward(outputParity: Int, inputParity: Int?) throws {
        guard let inputParity else { return }
        let diffOutput = try builder.gradient(output.descriptor, parity: outputParity)
        let diffInput = try builder.gradient(input.descriptor, parity: inputParity)
        var data = input.descriptor.raw, diff = input.descriptor.raw
        var desc = dnnl_lrn_desc_t()
        try check(dnnl_lrn_backward_desc_init(&desc, dnnl_lrn_across_channels, &diff, &data, dnnl_dim_t(lrn.size),
                                              Self.libraryAlpha(lrn), lrn.beta, lrn.k), "describing the backward of '\(name)'")
        let pd = try PrimitiveDescriptor(&desc, attributes: try Attributes(), engine: builder.engine, hint: forwardPD, what: "backward of '\(name)'")
        var arguments: [(Int32, Memory)] = [(CDNNL_ARG_SRC, input.memory), (CDNNL_ARG_DIFF_DST, diffOutput), (CDNNL_ARG_DIFF_SRC, diffInput)]
        if let workspace { arguments.append((CDNNL_ARG_WORKSPACE, workspace.memory)) }
        backwardPrimitive = try builder.primitive(pd, name: "\(name) backward", arguments)
    }

    override func forward(_ context: StepContext) { forwardPrimitive.execute(builder.engine) }
    override func backward(_ context: StepContext) { backwardPrimitive?.execute(builder.engine) }
    override var implementation: String { forwardPD.implementation }
}

/// Max and average pooling on oneDNN. Max pooling keeps oneDNN's workspace (the argmax) for
/// backward. Right padding is given as the left padding, which with floor division reproduces
/// PyTorch's output size and its clipping of average windows.
final class PoolingOperation: CPUOperation {
    private let builder: PlanBuilder
    private let forwardPD: PrimitiveDescriptor
    private let algorithm: dnnl_alg_kind_t
    private let geometry: (strides: [dnnl_dim_t], kernel: [dnnl_dim_t], padding: [dnnl_dim_t])
    private var forwardPrimitive: BoundPrimitive!
    private var backwardPrimitive: BoundPrimitive?
    private var workspace: Activation?

    init(_ layer: ResolvedLayer, input: Activation, builder: PlanBuilder) throws {
        let (kernel, stride, padding): (Int, Int, Int)
        if let pool = layer.layer as? MaxPool {
            (kernel, stride, padding) = (pool.kernelSize, pool.stride, pool.padding)
            algorithm = dnnl_pooling_max
        } else if let pool = layer.layer as? AveragePool {
            (kernel, stride, padding) = (pool.kernelSize, pool.stride, pool.padding)
            algorithm = pool.includePadding ? dnnl_pooling_avg_include_padding : dnnl_pooling_avg_exclude_padding
        } else {
            // Adaptive average pooling whose bins are all equal: a plain average pooling.
            let pool = layer.layer as! AdaptiveAveragePool
            let size = layer.inputShape.dimensions[1] / pool.outputSize
            (kernel, stride, padding) = (size, size, 0)
            algorithm = dnnl_pooling_avg_include_padding
        }
        geometry = (dims([stride, stride]), dims([kernel, kernel]), dims([padding, padding]))
        self.builder = builder
        var source = input.descriptor.raw
        var destination = try MemoryDescriptor.any([builder.batchSize] + layer.outputShape.dimensions).raw
        var desc = dnnl_pooling_desc_t()
        try check(dnnl_pooling_forward_desc_init(&desc, builder.isTraining ? dnnl_forward_training : dnnl_forward_inference,
                                                 algorithm, &source, &destination, geometry.strides, geometry.kernel, geometry.padding, geometry.padding),
                  "describing '\(layer.name)'")
        forwardPD = try PrimitiveDescriptor(&desc, attributes: try Attributes(), engine: builder.engine, what: "'\(layer.name)'")
        super.init(name: layer.name, input: input, output: try Activation(forwardPD.destination, engine: builder.engine))
        workspace = try builder.workspace(for: forwardPD)
        forwardPrimitive = try builder.primitive(forwardPD, name: layer.name, [(CDNNL_ARG_SRC, input.memory), (CDNNL_ARG_DST, output.memory)]
            + (workspace.map { [(CDNNL_ARG_WORKSPACE, $0.memory)] } ?? []))
    }

    /// Adaptive average pooling maps onto oneDNN when every bin has the same size.
    static func supports(_ pool: AdaptiveAveragePool, input: Shape) -> Bool {
        let (_, h, w) = input.image!
        return h == w && h % pool.outputSize == 0
    }

    override func prepareBackward(outputParity: Int, inputParity: Int?) throws {
        guard let inputParity else { return }
        let diffOutput = try builder.gradient(output.descriptor, parity: outputParity)
        let diffInput = try builder.gradient(input.descriptor, parity: inputParity)
        var diffSource = input.descriptor.raw, diffDestination = output.descriptor.raw
        var desc = dnnl_pooling_desc_t()
        try check(dnnl_pooling_backward_desc_init(&desc, algorithm, &diffSource, &diffDestination, geometry.strides, geometry.kernel,
                                                  geometry.padding, geometry.padding), "describing the backward of '\(name)'")
        let pd = try PrimitiveDescriptor(&desc, attributes: try Attributes(), engine: builder.engine, hint: forwardPD, what: "backward of '\(name)'")
        var arguments: [(Int32, Memory)] = [(CDNNL_ARG_DIFF_DST, diffOutput), (CDNNL_ARG_DIFF_SRC, diffInput)]
        if let workspace { arguments.append((CDNNL_ARG_WORKSPACE, workspace.memory)) }
        backwardPrimitive = try builder.primitive(pd, name: "\(name) backward", arguments)
    }

    override func forward(_ context: StepContext) { forwardPrimitive.execute(builder.engine) }
    override func backward(_ context: StepContext) { backwardPrimitive?.execute(builder.engine) }
    override var implementation: String { forwardPD.implementation }
}

/// Moves activations from plain NCHW into oneDNN's channel-blocked layout (and their gradients
/// back) where an operation that chose plain (a gemm-based convolution: conv1 on AVX2, whose
/// 3 input channels and stride 4 its jit kernels do not take) feeds pooling or LRN, which run
/// 10-20x slower on plain NCHW than blocked (AlexNet's pool1: 36 of 338 ms at batch 16 in
/// inference; d2l's pool1 in training on a Zen 3: 335 ms forward and 102 backward of a 5.8 s
/// step, on oneDNN's `simple_nchw` kernel).
final class LayoutOperation: CPUOperation {
    private let builder: PlanBuilder
    private let forwardPrimitive: BoundPrimitive
    private var backwardPrimitive: BoundPrimitive?

    init(name: String, input: Activation, to descriptor: MemoryDescriptor, builder: PlanBuilder) throws {
        self.builder = builder
        let output = try Activation(descriptor, engine: builder.engine)
        forwardPrimitive = try builder.reorder(from: input.memory, to: output.memory, name: name)
        super.init(name: name, input: input, output: output)
    }

    override func prepareBackward(outputParity: Int, inputParity: Int?) throws {
        guard let inputParity else { return }
        let diffOutput = try builder.gradient(output.descriptor, parity: outputParity)
        let diffInput = try builder.gradient(input.descriptor, parity: inputParity)
        backwardPrimitive = try builder.reorder(from: diffOutput, to: diffInput, name: "\(name) backward")
    }

    override func forward(_ context: StepContext) { forwardPrimitive.execute(builder.engine) }
    override func backward(_ context: StepContext) { backwardPrimitive?.execute(builder.engine) }
    override var implementation: String { "reorder" }
}

/// A layout change: blocked feature maps to the plain row-major layout (`flatten`, and the
/// network's output edge), and back for the gradient.
final class ReorderOperation: CPUOperation {
    private let builder: PlanBuilder
    private let forwardPrimitive: BoundPrimitive
    private var backwardPrimitive: BoundPrimitive?
    /// The output storage seen with the input's dimensions in plain layout.
    private let plainView: Memory

    init(name: String, outputShape: [Int], input: Activation, builder: PlanBuilder) throws {
        self.builder = builder
        let output = try Activation(try MemoryDescriptor.plain(outputShape), engine: builder.engine)
        plainView = try Memory(try MemoryDescriptor.plain(input.shape), engine: builder.engine, pointer: output.storage.pointer)
        forwardPrimitive = try builder.reorder(from: input.memory, to: plainView, name: name)
        super.init(name: name, input: input, output: output)
    }

    override func prepareBackward(outputParity: Int, inputParity: Int?) throws {
        guard let inputParity else { return }
        let diffInput = try builder.gradient(input.descriptor, parity: inputParity)
        // The output gradient seen with the input's dimensions in plain layout.
        let plainDiff = try builder.gradient(try MemoryDescriptor.plain(input.shape), parity: outputParity)
        backwardPrimitive = try builder.reorder(from: plainDiff, to: diffInput, name: "\(name) backward")
    }

    override func forward(_ context: StepContext) { forwardPrimitive.execute(builder.engine) }
    override func backward(_ context: StepContext) { backwardPrimitive?.execute(builder.engine) }
    override var implementation: String { "reorder" }
}
