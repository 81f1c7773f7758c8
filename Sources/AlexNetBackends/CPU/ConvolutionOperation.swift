import AlexNetCore
import AlexNetNetwork
import CDNNL

/// A convolution (grouped too) on oneDNN, with the following ReLU fused as a post-op.
///
/// Weights live in the flat buffer in PyTorch's OIHW (GOIHW for groups); oneDNN's kernels want
/// a blocked layout, so each training forward reorders them into a private copy (an inference
/// plan does it once, whenever the host wrote new parameters) and each backward reorders the
/// weight gradient back into the flat gradient buffer. Those tensors are small
/// (2.3 M scalars in AlexNet) next to the activations, which stay blocked between layers.
final class ConvolutionOperation: CPUOperation {
    private let builder: PlanBuilder
    private let forwardPD: PrimitiveDescriptor
    private var forwardPrimitive: BoundPrimitive!
    private var weightsReorder: BoundPrimitive?
    private var sourceReorder: BoundPrimitive?
    private var reluBackward: BoundPrimitive?
    private var backwardWeights: BoundPrimitive?
    private var weightGradientReorder: BoundPrimitive?
    private var weightGradientSourceReorder: BoundPrimitive?
    private var backwardData: BoundPrimitive?
    private var dataWeightsReorder: BoundPrimitive?
    private var diffSourceReorder: BoundPrimitive?
    private var implementations: [String] = []
    private var keep: [AnyObject] = []

    /// `ownWeights`: read the (plain OIHW) weights from, and write their gradient to, these
    /// buffers from offset 0 instead of the layer's slot in the plan's flat buffers (a
    /// `SpaceToDepthConvolution` keeps its rearranged weights there); the bias stays in its slot.
    init(_ layer: ResolvedLayer, fusedReLU: String?, input: Activation, builder: PlanBuilder, isFirst: Bool,
         ownWeights: (values: FloatBuffer, gradient: FloatBuffer)? = nil) throws {
        let conv = layer.layer as! Convolution
        let engine = builder.engine
        let n = builder.batchSize
        let (c, h, w) = layer.inputShape.image!
        let (o, oh, ow) = layer.outputShape.image!
        let k = conv.kernelSize, g = conv.groups
        let weightShape = g == 1 ? [o, c, k, k] : [g, o / g, c / g, k, k]
        let plainWeights = try MemoryDescriptor(weightShape, g == 1 ? dnnl_oihw : dnnl_goihw)
        let biasDescriptor = try MemoryDescriptor.plain([o])
        let strides = dims([conv.stride, conv.stride]), padding = dims([conv.padding, conv.padding])

        var sourceAny = try MemoryDescriptor.any([n, c, h, w]).raw
        var weightsAny = try MemoryDescriptor.any(weightShape).raw
        let bias = biasDescriptor.raw
        var destinationAny = try MemoryDescriptor.any([n, o, oh, ow]).raw
        // A stable pointer to the bias descriptor, or nil for a convolution without bias.
        let biasStorage = UnsafeMutablePointer<dnnl_memory_desc_t>.allocate(capacity: 1)
        biasStorage.initialize(to: bias)
        defer { biasStorage.deallocate() }
        let biasPointer = conv.hasBias ? biasStorage : nil
        // Each candidate algorithm must give all three passes (oneDNN's Winograd searches its
        // blocking separately for each), or the next candidate is tried.
        func descriptors(_ algorithm: dnnl_alg_kind_t) throws
            -> (forward: PrimitiveDescriptor, weights: PrimitiveDescriptor?, data: PrimitiveDescriptor?)
        {
            var desc = dnnl_convolution_desc_t()
            try check(dnnl_convolution_forward_desc_init(
                &desc, builder.isTraining ? dnnl_forward_training : dnnl_forward_inference, algorithm,
                &sourceAny, &weightsAny, biasPointer, &destinationAny, strides, padding, padding),
                "describing convolution '\(layer.name)'")
            let forward = try PrimitiveDescriptor(&desc, attributes: try Attributes(fusedReLU: fusedReLU != nil),
                                                  engine: engine, what: "convolution '\(layer.name)'")
            guard builder.isTraining else { return (forward, nil, nil) }
            var destination = forward.destination.raw
            // The weight gradient reads the forward's source as it is. Where no fast kernel
            // takes that layout (oneDNN 2.6 on AVX2 has no jit weight gradient for a plain
            // 1-channel first layer: its reference kernel took 91% of a quick training step on
            // a Zen 3), the source layout is left to oneDNN and the source reordered for it in
            // backward.
            func weightGradient(source: dnnl_memory_desc_t) throws -> PrimitiveDescriptor {
                var source = source
                var weightsGradientAny = try MemoryDescriptor.any(weightShape).raw
                var weightsDesc = dnnl_convolution_desc_t()
                try check(dnnl_convolution_backward_weights_desc_init(
                    &weightsDesc, algorithm, &source, &weightsGradientAny, biasPointer, &destination, strides, padding, padding),
                    "describing the weight gradient of '\(layer.name)'")
                return try PrimitiveDescriptor(&weightsDesc, attributes: try Attributes(), engine: engine, hint: forward,
                                               what: "weight gradient of '\(layer.name)'")
            }
            var weights = try weightGradient(source: forward.source.raw)
            if weights.implementation.hasPrefix("ref"), let other = try? weightGradient(source: sourceAny),
               !other.implementation.hasPrefix("ref") {
                weights = other
            }
            guard !isFirst else { return (forward, weights, nil) }
            var diffSourceAny = try MemoryDescriptor.any([n, c, h, w]).raw
            var weightsForDataAny = try MemoryDescriptor.any(weightShape).raw
            var dataDesc = dnnl_convolution_desc_t()
            try check(dnnl_convolution_backward_data_desc_init(
                &dataDesc, algorithm, &diffSourceAny, &weightsForDataAny, &destination, strides, padding, padding),
                "describing the input gradient of '\(layer.name)'")
            let data = try PrimitiveDescriptor(&dataDesc, attributes: try Attributes(), engine: engine, hint: forward,
                                               what: "input gradient of '\(layer.name)'")
            return (forward, weights, data)
        }
        let candidates = Self.algorithms(conv, output: layer.outputShape, builder: builder)
        var found: (forward: PrimitiveDescriptor, weights: PrimitiveDescriptor?, data: PrimitiveDescriptor?)?
        for (index, algorithm) in candidates.enumerated() {
            do {
                let described = try descriptors(algorithm)
                // In inference only a kernel that reads weights transformed ahead (see `algorithms`).
                if algorithm == dnnl_convolution_winograd, !builder.isTraining, !described.forward.weights.isWinogradLayout {
                    continue
                }
                found = described
                break
            } catch where index < candidates.count - 1 {
                continue  // e.g. no Winograd kernel for these shapes: try direct
            }
        }
        let chosen = found!
        forwardPD = chosen.forward
        backwardWeightsPD = chosen.weights
        backwardDataPD = chosen.data
        self.builder = builder
        let output = try Activation(forwardPD.destination, engine: engine)
        super.init(name: [layer.name, fusedReLU].compactMap { $0 }.joined(separator: "+"), input: input, output: output)
        needsInputGradient = !isFirst
        implementations.append(forwardPD.implementation)

        // Source: reorder when oneDNN wants another layout than the previous layer left.
        var source = input.memory
        if forwardPD.source != input.descriptor {
            let reordered = try Activation(forwardPD.source, engine: engine)
            keep.append(reordered)
            sourceReorder = try builder.reorder(from: input.memory, to: reordered.memory, name: "\(name) source reorder")
            source = reordered.memory
        }

        // Weights: the flat OIHW tensor, or a blocked copy refreshed before each forward.
        let weightSlot = layer.slots[0]
        let flatWeights = try builder.memory(plainWeights, on: ownWeights?.values ?? builder.parameters,
                                             offset: ownWeights == nil ? weightSlot.offset : 0)
        var weights = flatWeights
        if forwardPD.weights != plainWeights {
            let blocked = try Activation(forwardPD.weights, engine: engine)
            keep.append(blocked)
            weightsReorder = try builder.reorder(from: flatWeights, to: blocked.memory, name: "\(name) weights reorder")
            weights = blocked.memory
        }
        var arguments: [(Int32, Memory)] = [(CDNNL_ARG_SRC, source), (CDNNL_ARG_WEIGHTS, weights), (CDNNL_ARG_DST, output.memory)]
        if conv.hasBias {
            arguments.append((CDNNL_ARG_BIAS, try builder.memory(biasDescriptor, on: builder.parameters, offset: layer.slots[1].offset)))
        }
        forwardPrimitive = try builder.primitive(forwardPD, name: "convolution '\(layer.name)'", arguments)
        guard builder.isTraining else { return }

        // Backward: ReLU (from its output), then weights and bias, then data.
        var destination = output.descriptor.raw
        if fusedReLU != nil {
            var reluDesc = dnnl_eltwise_desc_t()
            try check(dnnl_eltwise_backward_desc_init(&reluDesc, dnnl_eltwise_relu_use_dst_for_bwd, &destination, &destination, 0, 0),
                      "describing the fused ReLU's backward")
            let reluForwardHint = try Self.reluForwardHint(output.descriptor, engine: engine)
            let pd = try PrimitiveDescriptor(&reluDesc, engine: engine, hint: reluForwardHint, what: "ReLU backward of '\(layer.name)'")
            keep.append(reluForwardHint)
            reluBackwardPD = pd
        }

        implementations.append(backwardWeightsPD!.implementation)
        self.source = source
        if backwardWeightsPD!.source != forwardPD.source {
            let reordered = try Activation(backwardWeightsPD!.source, engine: engine)
            keep.append(reordered)
            weightGradientSourceReorder = try builder.reorder(from: source, to: reordered.memory, name: "\(name) source reorder for the weight gradient")
            self.source = reordered.memory
        }

        if let dataPD = backwardDataPD {
            // The data gradient's kernels want the weights in their own blocked layout
            // (transposed blocks), so they get a second copy, refreshed each backward.
            implementations.append(dataPD.implementation)
            if dataPD.weights == forwardPD.weights {
                weightsForData = weights
            } else if dataPD.weights == plainWeights {
                weightsForData = flatWeights
            } else {
                let blocked = try Activation(dataPD.weights, engine: engine)
                keep.append(blocked)
                dataWeightsReorder = try builder.reorder(from: flatWeights, to: blocked.memory, name: "\(name) weights reorder for the input gradient")
                weightsForData = blocked.memory
            }
        }
        self.flatWeightsDescriptor = plainWeights
        self.layer = layer
        self.ownWeightGradient = ownWeights?.gradient
    }

    // Backward primitives are created in `prepareBackward`, once the plan has given us our gradient memories.
    private var reluBackwardPD: PrimitiveDescriptor?
    private var backwardWeightsPD: PrimitiveDescriptor?
    private var backwardDataPD: PrimitiveDescriptor?
    private var source: Memory?
    private var weightsForData: Memory?
    private var flatWeightsDescriptor: MemoryDescriptor?
    private var layer: ResolvedLayer?
    private var ownWeightGradient: FloatBuffer?

    /// The algorithms to try, best first: Winograd where it pays, then direct. oneDNN 2.6 has
    /// f32 Winograd only on AVX-512 (AVX2 machines always get direct), for 3x3 stride-1
    /// ungrouped convolutions. Measured: it pays on maps of at least 7x7 (AlexNet's 13x13,
    /// d2l's 12x12; the `quick` preset's 7x7 made its training step 8-21% faster on a Zen 4),
    /// not on CIFAR's 5x5 maps (4x4 output tiles waste most of their work).
    /// Training runs F(4x4, 3x3), transforming the weights each step (conv3-5 ~1.6x faster on a
    /// Cascade Lake). Inference takes Winograd only where oneDNN's kernel reads the weights in
    /// its `wino` layout, so they are transformed once, when the parameters change (the
    /// F(2x2, 3x3) and F(4x4, 3x3) inference kernels do): on a Zen 4 that made batch 64 2-27%
    /// faster on every preset, batch 1 the same within noise; a kernel that transformed the
    /// weights on every call had taken batch-1 latency from 16 to 45 ms on a Cascade Lake.
    static func algorithms(_ conv: Convolution, output: Shape, builder: PlanBuilder) -> [dnnl_alg_kind_t] {
        let (_, height, width) = output.image!
        let pays = switch builder.winograd {
        case .never: false
        case .always, .own: true
        case .whereFaster: height >= 7 && width >= 7
        }
        let eligible = conv.kernelSize == 3 && conv.stride == 1 && conv.groups == 1
        return pays && eligible ? [dnnl_convolution_winograd, dnnl_convolution_direct] : [dnnl_convolution_direct]
    }

    /// A forward ReLU primitive descriptor, which oneDNN needs as the hint for the backward one.
    static func reluForwardHint(_ descriptor: MemoryDescriptor, engine: DNNLEngine) throws -> PrimitiveDescriptor {
        var data = descriptor.raw
        var desc = dnnl_eltwise_desc_t()
        try check(dnnl_eltwise_forward_desc_init(&desc, dnnl_forward_training, dnnl_eltwise_relu_use_dst_for_bwd, &data, 0, 0),
                  "describing a ReLU")
        return try PrimitiveDescriptor(&desc, engine: engine, what: "ReLU")
    }

    override func prepareBackward(outputParity: Int, inputParity: Int?) throws {
        guard let layer, let backwardWeightsPD, let source, let flatWeightsDescriptor else { return }
        let diffOutput = try builder.gradient(output.descriptor, parity: outputParity)
        let diffInput = try inputParity.map { try builder.gradient(input.descriptor, parity: $0) }
        let engine = builder.engine
        if let reluBackwardPD {
            reluBackward = try builder.primitive(reluBackwardPD, name: "\(name) ReLU backward", [
                (CDNNL_ARG_DST, output.memory), (CDNNL_ARG_DIFF_DST, diffOutput), (CDNNL_ARG_DIFF_SRC, diffOutput)])
        }
        let flatGradient = try builder.memory(flatWeightsDescriptor, on: ownWeightGradient ?? builder.gradients,
                                              offset: ownWeightGradient == nil ? layer.slots[0].offset : 0)
        var weightGradient = flatGradient
        if backwardWeightsPD.diffWeights != flatWeightsDescriptor {
            let blocked = try Activation(backwardWeightsPD.diffWeights, engine: engine)
            keep.append(blocked)
            weightGradientReorder = try builder.reorder(from: blocked.memory, to: flatGradient, name: "\(name) weight gradient reorder")
            weightGradient = blocked.memory
        }
        var arguments: [(Int32, Memory)] = [(CDNNL_ARG_SRC, source), (CDNNL_ARG_DIFF_DST, diffOutput), (CDNNL_ARG_DIFF_WEIGHTS, weightGradient)]
        if layer.slots.count > 1 {
            arguments.append((CDNNL_ARG_DIFF_BIAS, try builder.memory(try MemoryDescriptor.plain([layer.slots[1].count]),
                                                                     on: builder.gradients, offset: layer.slots[1].offset)))
        }
        backwardWeights = try builder.primitive(backwardWeightsPD, name: "\(name) weight gradient", arguments)

        if let backwardDataPD, let weightsForData, let diffInput {
            if backwardDataPD.diffSource == input.descriptor {
                backwardData = try builder.primitive(backwardDataPD, name: "\(name) input gradient", [
                    (CDNNL_ARG_DIFF_DST, diffOutput), (CDNNL_ARG_WEIGHTS, weightsForData), (CDNNL_ARG_DIFF_SRC, diffInput)])
            } else {
                let own = try Activation(backwardDataPD.diffSource, engine: engine)
                keep.append(own)
                backwardData = try builder.primitive(backwardDataPD, name: "\(name) input gradient", [
                    (CDNNL_ARG_DIFF_DST, diffOutput), (CDNNL_ARG_WEIGHTS, weightsForData), (CDNNL_ARG_DIFF_SRC, own.memory)])
                diffSourceReorder = try builder.reorder(from: own.memory, to: diffInput, name: "\(name) input gradient reorder")
            }
        }
    }

    override func forward(_ context: StepContext) {
        let engine = builder.engine
        sourceReorder?.execute(engine)
        if builder.isTraining { weightsReorder?.execute(engine) }
        forwardPrimitive.execute(engine)
    }

    override func parametersChanged() {
        if !builder.isTraining { weightsReorder?.execute(builder.engine) }
    }

    override func backward(_ context: StepContext) {
        let engine = builder.engine
        reluBackward?.execute(engine)
        if computesParameterGradients {
            weightGradientSourceReorder?.execute(engine)
            backwardWeights?.execute(engine)
            weightGradientReorder?.execute(engine)
        }
        dataWeightsReorder?.execute(engine)
        backwardData?.execute(engine)
        diffSourceReorder?.execute(engine)
    }

    override var implementation: String { implementations.joined(separator: " / ") }
    /// The forward kernel oneDNN chose (`jit:avx2`, `gemm:jit`, ...).
    var forwardImplementation: String { forwardPD.implementation }
    /// Whether the weight gradient needs its source reordered first (no fast kernel took the
    /// forward's layout: a one-channel first layer on AVX2).
    var reordersSourceForWeightGradient: Bool { weightGradientSourceReorder != nil }
}
