import AlexNetCore
import AlexNetNetwork
import CDNNL

/// The calibrated range of every tensor an int8 plan quantizes (`Int8Plan.quantizedTensors`).
public struct ActivationRanges: Codable, Sendable, Equatable {
    /// How the thresholds were chosen (`minmax`, `percentile`, `entropy`).
    public var method: String
    /// For each quantized tensor, named "input" for the network's input or after the layer whose
    /// output it is, the magnitude that maps to the largest integer (255 for the unsigned
    /// tensors after a ReLU, 127 for signed ones); larger values saturate.
    public var thresholds: [String: Float]

    public init(method: String, thresholds: [String: Float]) {
        self.method = method
        self.thresholds = thresholds
    }

    /// The real value of one integer step of tensor `name` (nil without a threshold).
    public func step(_ name: String, isUnsigned: Bool) -> Float? {
        thresholds[name].map { $0 / (isUnsigned ? 255 : 127) }
    }
}

/// A network an int8 plan cannot run, or ranges that do not fit it.
public enum Int8PlanError: Error, Equatable, CustomStringConvertible {
    case unsupported(layer: String, kind: String)
    case batchNormNotFolded(layer: String)
    case noClassifier
    case missingRange(String)
    case badRange(String, Float)

    public var description: String {
        switch self {
        case let .unsupported(layer, kind):
            "the int8 plan has no \(kind) (layer \(layer)): it runs convolutions, linear layers, ReLU, LRN, max pooling, "
                + "dropout and flatten"
        case let .batchNormNotFolded(layer):
            "batch norm \(layer) must be folded into the convolution before it first (QuantizedModel.foldingBatchNorm, "
                + "which `alexnet quantize` does)"
        case .noClassifier: "the int8 plan needs the network to end with a linear layer or a convolution (its logits)"
        case let .missingRange(name): "the activation ranges have no threshold for '\(name)' (calibrate this network again)"
        case let .badRange(name, value): "the threshold of '\(name)' is \(value): it must be a positive finite number"
        }
    }
}

/// Post-training static int8 inference on oneDNN: convolutions and linear layers multiply
/// u8 (or s8) activations by s8 weights quantized symmetrically per output channel, with the
/// f32 bias, the per-channel rescaling and the ReLU fused into the same primitive; batch norm is
/// folded into the convolution before it; max pooling runs on the integers; LRN (oneDNN has no
/// int8 LRN) runs in f32 between a dequantize and a quantize; the logits come out in f32.
///
/// A tensor with threshold t holds q = round(x * 255 / t) (u8, after a ReLU) or
/// round(x * 127 / t) (s8); weights hold q = round(w * 127 / max|w|) per output channel (`SymmetricInt8`). The
/// primitives are built from `parameters` at the first `infer` after `copyFromHost()`, since
/// the weights' scales are baked into them.
public final class Int8Plan: Plan {
    public let network: ResolvedNetwork
    public let batchSize: Int
    public let parameters: FloatBuffer
    public let gradients = FloatBuffer(count: 0)
    public let state: FloatBuffer
    public let optimizerState = OptimizerState()
    public var labelSmoothing: Float = 0
    public var mode: PlanMode { .inference }
    public let ranges: ActivationRanges
    public let threads: Int

    /// How linear layers run: oneDNN's inner product (its int8 gemm), or a convolution whose
    /// kernel covers the whole input.
    public enum LinearForm: String, CaseIterable, Sendable {
        case innerProduct = "inner product"
        case convolution
    }
    /// The form of every linear layer; nil (the default) times both for each layer when the
    /// plan is built and keeps the faster.
    public var linearForm: LinearForm? {
        didSet { compiled = nil }
    }
    /// The form each linear layer got in the last build, by layer name.
    public private(set) var chosenLinearForms: [String: LinearForm] = [:]

    private let engine: DNNLEngine
    private let input: Activation
    private var compiled: Compiled?

    /// The primitives of one build, with everything they point at.
    private struct Compiled {
        var primitives: [BoundPrimitive]
        var logits: Activation
        var keep: [AnyObject]
    }

    public init(network: ResolvedNetwork, batchSize: Int, ranges: ActivationRanges, threads: Int? = nil) throws {
        guard batchSize > 0 else { throw PlanError.batchSize(batchSize) }
        try MemoryBudget.check(network, batchSize: batchSize, mode: .inference)
        for (name, _) in try Self.quantizedTensors(of: network) {
            guard let t = ranges.thresholds[name] else { throw Int8PlanError.missingRange(name) }
            guard t.isFinite, t > 0 else { throw Int8PlanError.badRange(name, t) }
        }
        self.network = network
        self.batchSize = batchSize
        self.ranges = ranges
        self.threads = threads ?? CPUBackend.coreCount
        DNNLThreads.set(self.threads)
        engine = try DNNLEngine()
        parameters = FloatBuffer(count: network.layout.trainableCount)
        state = FloatBuffer(count: network.layout.stateCount)
        input = try Activation(try MemoryDescriptor.plain([batchSize] + network.inputShape.dimensions), engine: engine)
        initialize(seed: 0)
    }

    // MARK: The stages

    /// One step of the int8 plan: a convolution or linear layer with what is fused into it, or a
    /// pooling or LRN layer.
    enum Stage {
        /// A convolution or linear layer, whether a ReLU follows, the name of the tensor it
        /// produces, and whether it gives the logits.
        case product(ResolvedLayer, relu: Bool, output: String, isLast: Bool)
        case maxPool(ResolvedLayer)
        case lrn(ResolvedLayer)
    }

    /// The network as int8 stages; throws for a layer the plan cannot run.
    static func stages(of network: ResolvedNetwork) throws -> [Stage] {
        let layers = network.layers
        guard let lastProduct = layers.lastIndex(where: { $0.layer is Convolution || $0.layer is Linear }) else {
            throw Int8PlanError.noClassifier
        }
        var stages: [Stage] = []
        var index = 0
        while index < layers.count {
            let layer = layers[index]
            switch layer.layer {
            case is Convolution, is Linear:
                var output = layer.name
                let relu = index + 1 < layers.count && layers[index + 1].layer is ReLU
                if relu {
                    index += 1
                    output = layers[index].name
                }
                stages.append(.product(layer, relu: relu, output: output, isLast: layer.index == lastProduct))
            case is MaxPool:
                stages.append(.maxPool(layer))
            case let lrn as LocalResponseNorm where lrn.size % 2 == 1:
                stages.append(.lrn(layer))
            case is Dropout, is Flatten:
                break  // the identity in inference; the linear layer reads the 4-D tensor itself
            case is AdaptiveAveragePool where layer.inputShape == layer.outputShape:
                break
            case is BatchNorm:
                throw Int8PlanError.batchNormNotFolded(layer: layer.name)
            default:
                throw Int8PlanError.unsupported(layer: layer.name, kind: layer.kind)
            }
            if layer.index > lastProduct, !(layer.layer is Dropout || layer.layer is Flatten) {
                throw Int8PlanError.noClassifier  // the logits must be the last product's output
            }
            index += 1
        }
        return stages
    }

    /// The tensors whose ranges the plan needs, in the order the plan meets them: "input",
    /// each convolution or linear layer's output but the logits (named after its ReLU, or its
    /// batch norm, when they are fused), and each LRN's output. Unsigned tensors (after a ReLU)
    /// use 255 steps, signed ones 127.
    public static func quantizedTensors(of network: ResolvedNetwork) throws -> [(name: String, isUnsigned: Bool)] {
        var tensors = [(name: "input", isUnsigned: false)]
        var unsigned = false
        for stage in try stages(of: network) {
            switch stage {
            case let .product(_, relu, output, isLast):
                unsigned = relu
                if !isLast { tensors.append((output, relu)) }
            case let .lrn(layer): tensors.append((layer.name, unsigned))
            case .maxPool: break
            }
        }
        return tensors
    }

    // MARK: Building

    /// A tensor between stages: its activation, and for integers the real value of one step.
    private struct Current {
        var activation: Activation
        var scale: Float?
        var isUnsigned: Bool
    }

    private func build() throws -> Compiled {
        let builder = PlanBuilder(engine: engine, batchSize: batchSize, isTraining: false, winograd: .never,
                                  parameters: parameters, gradients: gradients, state: state)
        var primitives: [BoundPrimitive] = []
        var keep: [AnyObject] = []
        /// Runs once now (weights) rather than every pass; freed, with what only it reads (the
        /// plain s8 weights), once it has run.
        var setup: [BoundPrimitive] = []
        var setupOnly: [AnyObject] = []

        func integerType(unsigned: Bool) -> dnnl_data_type_t { unsigned ? dnnl_u8 : dnnl_s8 }
        func stepSize(_ name: String, unsigned: Bool) -> Float { ranges.step(name, isUnsigned: unsigned)! }

        /// `current` as integers in `descriptor`'s layout, quantizing f32 with `name`'s range.
        func integers(_ current: Current, as descriptor: MemoryDescriptor, name: String) throws -> (Activation, Float) {
            if let scale = current.scale, current.activation.descriptor == descriptor { return (current.activation, scale) }
            let output = try Activation(descriptor, engine: engine)
            keep.append(output)
            let scale = current.scale ?? stepSize(name, unsigned: current.isUnsigned)
            let attributes = current.scale == nil ? try Attributes(outputScales: [1 / scale]) : try Attributes()
            let pd = try PrimitiveDescriptor(reorderFrom: current.activation.descriptor, to: descriptor, attributes: attributes, engine: engine)
            primitives.append(try builder.primitive(pd, name: "quantize \(name)", [(CDNNL_ARG_FROM, current.activation.memory),
                                                                                   (CDNNL_ARG_TO, output.memory)]))
            return (output, scale)
        }

        let nhwc = { (shape: [Int], type: dnnl_data_type_t) in try MemoryDescriptor(shape, dnnl_nhwc, type: type) }
        var current = Current(activation: input, scale: nil, isUnsigned: false)
        var currentName = "input"
        var logits: Activation?
        for stage in try Self.stages(of: network) {
            switch stage {
            case let .product(layer, relu, outputName, isLast):
                let (weights, bias) = weightsAndBias(layer)
                let outputs = layer.outputShape.dimensions.first!
                let (quantized, weightScales) = SymmetricInt8.perOutputChannel(weights, outputs: outputs)
                let sourceType = integerType(unsigned: current.isUnsigned)
                let sourceScale = current.scale ?? stepSize(currentName, unsigned: current.isUnsigned)
                let outputUnsigned = relu
                let destinationScale: Float = isLast ? 1 : stepSize(outputName, unsigned: outputUnsigned)
                let outputScales = weightScales.map { sourceScale * $0 / destinationScale }
                // oneDNN 2.x adds the bias to the int32 accumulator before the output scale.
                let scaledBias = (0..<outputs).map { bias[$0] / (sourceScale * weightScales[$0]) }
                let destinationType = isLast ? dnnl_f32 : integerType(unsigned: outputUnsigned)
                let n = batchSize
                let sourceShape = current.activation.shape
                let plainWeights: MemoryDescriptor
                let pd: PrimitiveDescriptor
                var sourceAny = try MemoryDescriptor(sourceShape, dnnl_format_tag_any, type: sourceType).raw
                var biasDescriptor = try MemoryDescriptor.plain([outputs]).raw
                let attributes = try Attributes(fusedReLU: relu, outputScales: outputScales, scaleMask: 1 << 1)
                if let conv = layer.layer as? Convolution {
                    let (c, _, _) = layer.inputShape.image!
                    let (o, oh, ow) = layer.outputShape.image!
                    let k = conv.kernelSize, g = conv.groups
                    let weightShape = g == 1 ? [o, c, k, k] : [g, o / g, c / g, k, k]
                    plainWeights = try MemoryDescriptor(weightShape, g == 1 ? dnnl_oihw : dnnl_goihw, type: dnnl_s8)
                    var weightsAny = try MemoryDescriptor(weightShape, dnnl_format_tag_any, type: dnnl_s8).raw
                    var destinationAny = try MemoryDescriptor([n, o, oh, ow], dnnl_format_tag_any, type: destinationType).raw
                    var desc = dnnl_convolution_desc_t()
                    try AlexNetBackends.check(dnnl_convolution_forward_desc_init(
                        &desc, dnnl_forward_inference, dnnl_convolution_direct, &sourceAny, &weightsAny, &biasDescriptor,
                        &destinationAny, dims([conv.stride, conv.stride]), dims([conv.padding, conv.padding]),
                        dims([conv.padding, conv.padding])), "describing int8 convolution '\(layer.name)'")
                    pd = try PrimitiveDescriptor(&desc, attributes: attributes, engine: engine, what: "int8 convolution '\(layer.name)'")
                } else {
                    // Both forms described, the faster at this batch size kept: oneDNN 2.6 has
                    // no int8 gemv on AVX2, so at batch 1 its gemm repacks the weights at every
                    // call and the convolution (weights laid out once) is ~2x faster; at batch
                    // 64 the gemm is ~2x faster.
                    let sourceDescriptor = current.activation.descriptor
                    let isPlainVector = try sourceShape.count == 2 && sourceDescriptor == MemoryDescriptor(sourceShape, dnnl_ab, type: sourceDescriptor.type)
                    let sourceView = isPlainVector ? try nhwc(sourceShape + [1, 1], sourceDescriptor.type) : nil
                    let source4D = sourceView?.shape ?? sourceShape
                    let forms = sourceShape.count == 4 || isPlainVector ? LinearForm.allCases : [.innerProduct]
                    func describe(_ form: LinearForm) throws -> (PrimitiveDescriptor, MemoryDescriptor) {
                        switch form {
                        case .innerProduct:
                            let weightShape = [outputs] + Array(sourceShape.dropFirst())
                            var weightsAny = try MemoryDescriptor(weightShape, dnnl_format_tag_any, type: dnnl_s8).raw
                            var destination = isLast ? try MemoryDescriptor([n, outputs], dnnl_ab).raw
                                : try MemoryDescriptor([n, outputs], dnnl_format_tag_any, type: destinationType).raw
                            var desc = dnnl_inner_product_desc_t()
                            try AlexNetBackends.check(dnnl_inner_product_forward_desc_init(
                                &desc, dnnl_forward_inference, &sourceAny, &weightsAny, &biasDescriptor, &destination),
                                "describing int8 linear layer '\(layer.name)'")
                            return (try PrimitiveDescriptor(&desc, attributes: attributes, engine: engine, what: "int8 linear layer '\(layer.name)'"),
                                    try MemoryDescriptor(weightShape, weightShape.count == 4 ? dnnl_oihw : dnnl_ab, type: dnnl_s8))
                        case .convolution:
                            // A kernel covering the whole input; [n, outputs, 1, 1] in nhwc holds
                            // the same bytes as a plain [n, outputs].
                            var source = try MemoryDescriptor(source4D, dnnl_format_tag_any, type: sourceType).raw
                            let weightShape = [outputs] + Array(source4D.dropFirst())
                            var weightsAny = try MemoryDescriptor(weightShape, dnnl_format_tag_any, type: dnnl_s8).raw
                            var destination = try nhwc([n, outputs, 1, 1], destinationType).raw
                            var desc = dnnl_convolution_desc_t()
                            try AlexNetBackends.check(dnnl_convolution_forward_desc_init(
                                &desc, dnnl_forward_inference, dnnl_convolution_direct, &source, &weightsAny, &biasDescriptor,
                                &destination, dims([1, 1]), dims([0, 0]), dims([0, 0])),
                                "describing int8 linear layer '\(layer.name)' as a convolution")
                            return (try PrimitiveDescriptor(&desc, attributes: attributes, engine: engine,
                                                            what: "int8 linear layer '\(layer.name)' as a convolution"),
                                    try MemoryDescriptor(weightShape, dnnl_oihw, type: dnnl_s8))
                        }
                    }
                    let candidates = try (linearForm.flatMap { forms.contains($0) ? [$0] : nil } ?? forms).map { ($0, try describe($0)) }
                    let fastest = try PrimitiveDescriptor.fastest(candidates.map(\.1.0), engine: engine)
                    let (form, (chosen, weightsDescriptor)) = candidates[fastest]
                    chosenLinearForms[layer.name] = form
                    pd = chosen
                    plainWeights = weightsDescriptor
                    if form == .convolution, let sourceView {
                        current.activation = try Activation(viewing: current.activation, as: sourceView, engine: engine)
                        keep.append(current.activation)
                    }
                }
                let (source, _) = try integers(current, as: pd.source, name: currentName)
                // Weights: the quantized plain tensor, reordered once into the kernel's layout
                // (which may add oneDNN's compensation terms).
                let plainStorage = RawStorage(byteCount: quantized.count)
                quantized.withUnsafeBytes { plainStorage.pointer.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
                let plainMemory = try Memory(plainWeights, engine: engine, pointer: plainStorage.pointer)
                let kernelWeights = try Activation(pd.weights, engine: engine)
                setup.append(try builder.reorder(from: plainMemory, to: kernelWeights.memory, name: "\(layer.name) weights"))
                let biasStorage = RawStorage(byteCount: outputs * 4)
                _ = biasStorage.floats(outputs).update(fromContentsOf: scaledBias)
                let biasMemory = try Memory(try MemoryDescriptor.plain([outputs]), engine: engine, pointer: biasStorage.pointer)
                let output = try Activation(pd.destination, engine: engine)
                setupOnly += [plainStorage, plainMemory]
                keep += [kernelWeights, biasStorage, biasMemory, output]
                primitives.append(try builder.primitive(pd, name: "int8 \(layer.name)", [
                    (CDNNL_ARG_SRC, source.memory), (CDNNL_ARG_WEIGHTS, kernelWeights.memory),
                    (CDNNL_ARG_BIAS, biasMemory), (CDNNL_ARG_DST, output.memory)]))
                current = Current(activation: output, scale: isLast ? nil : destinationScale, isUnsigned: outputUnsigned)
                currentName = outputName
                if isLast { logits = output }
            case let .maxPool(layer):
                let pool = layer.layer as! MaxPool
                var source = current.activation.descriptor.raw
                let outputShape = [batchSize] + layer.outputShape.dimensions
                var destinationAny = try MemoryDescriptor(outputShape, dnnl_format_tag_any, type: current.activation.descriptor.type).raw
                var desc = dnnl_pooling_desc_t()
                try AlexNetBackends.check(dnnl_pooling_forward_desc_init(
                    &desc, dnnl_forward_inference, dnnl_pooling_max, &source, &destinationAny, dims([pool.stride, pool.stride]),
                    dims([pool.kernelSize, pool.kernelSize]), dims([pool.padding, pool.padding]), dims([pool.padding, pool.padding])),
                    "describing int8 pooling '\(layer.name)'")
                let pd = try PrimitiveDescriptor(&desc, engine: engine, what: "int8 pooling '\(layer.name)'")
                let output = try Activation(pd.destination, engine: engine)
                keep.append(output)
                primitives.append(try builder.primitive(pd, name: layer.name, [(CDNNL_ARG_SRC, current.activation.memory),
                                                                               (CDNNL_ARG_DST, output.memory)]))
                current.activation = output  // the maximum keeps the scale
            case let .lrn(layer):
                let lrn = layer.layer as! LocalResponseNorm
                let shape = current.activation.shape
                // Integers back to f32 (oneDNN has no int8 LRN), LRN, then quantized again.
                var floats = current.activation
                if let scale = current.scale {
                    floats = try Activation(try MemoryDescriptor.channelBlocked(shape), engine: engine)
                    let pd = try PrimitiveDescriptor(reorderFrom: current.activation.descriptor, to: floats.descriptor,
                                                     attributes: try Attributes(outputScales: [scale]), engine: engine)
                    primitives.append(try builder.primitive(pd, name: "dequantize \(currentName)", [
                        (CDNNL_ARG_FROM, current.activation.memory), (CDNNL_ARG_TO, floats.memory)]))
                    keep.append(floats)
                }
                var data = floats.descriptor.raw
                var desc = dnnl_lrn_desc_t()
                try AlexNetBackends.check(dnnl_lrn_forward_desc_init(&desc, dnnl_forward_inference, dnnl_lrn_across_channels, &data,
                                                     dnnl_dim_t(lrn.size), LRNOperation.libraryAlpha(lrn), lrn.beta, lrn.k), "describing '\(layer.name)'")
                let pd = try PrimitiveDescriptor(&desc, engine: engine, what: "'\(layer.name)'")
                let normalized = try Activation(pd.destination, engine: engine)
                keep.append(normalized)
                primitives.append(try builder.primitive(pd, name: layer.name, [(CDNNL_ARG_SRC, floats.memory),
                                                                               (CDNNL_ARG_DST, normalized.memory)]))
                let unsigned = current.isUnsigned
                let (quantized, scale) = try integers(Current(activation: normalized, scale: nil, isUnsigned: unsigned),
                                                      as: try nhwc(shape, integerType(unsigned: unsigned)), name: layer.name)
                current = Current(activation: quantized, scale: scale, isUnsigned: unsigned)
                currentName = layer.name
            }
        }
        keep.append(contentsOf: try builder.bindSharedBuffers() as [AnyObject])
        for primitive in setup { primitive.execute(engine) }
        engine.wait()
        withExtendedLifetime(setupOnly) {}
        return Compiled(primitives: primitives, logits: logits!, keep: keep)
    }

    /// The layer's f32 weights `[outputs, ...]` and bias (zeros without one).
    private func weightsAndBias(_ layer: ResolvedLayer) -> (weights: [Float], bias: [Float]) {
        let outputs = layer.outputShape.dimensions.first!
        let weightSlot = layer.slots[0]
        let weights = Array(UnsafeBufferPointer(start: parameters.baseAddress + weightSlot.offset, count: weightSlot.count))
        guard layer.slots.count > 1 else { return (weights, [Float](repeating: 0, count: outputs)) }
        return (weights, Array(UnsafeBufferPointer(start: parameters.baseAddress + layer.slots[1].offset, count: outputs)))
    }

    // MARK: Plan

    public func copyToHost() {}

    /// Takes the weights the host wrote: the next `infer` quantizes them and builds the
    /// primitives around their scales (so a plan loaded right after it is made builds once).
    public func copyFromHost() { compiled = nil }

    public func withHostGradients(_ body: (FloatBuffer) throws -> Void) rethrows { try body(gradients) }

    public func infer(_ tensor: Tensor) throws -> Tensor {
        try check(input: tensor)
        DNNLThreads.set(threads)
        if compiled == nil { compiled = try build() }
        guard let compiled else { throw Int8PlanError.noClassifier }
        _ = input.floats.update(fromContentsOf: tensor.scalars)
        for primitive in compiled.primitives { primitive.execute(engine) }
        engine.wait()
        return Tensor(shape: [batchSize] + network.outputShape.dimensions,
                      scalars: Array(compiled.logits.storage.floats(batchSize * network.outputShape.elementCount)))
    }

    public func computeGradients(input: Tensor, labels: [Int], step: Int, firstRow: Int,
                                 gradientsReady: ((Int) -> Void)?) throws -> StepOutput {
        throw PlanError.wrongMode("compute gradients", mode)
    }

    public func update(with optimizer: Optimizer, learningRate: Float, step: Int) throws {
        throw PlanError.wrongMode("update its parameters", mode)
    }

    public func inputGradient(input: Tensor, outputGradient: Tensor) throws -> Tensor {
        throw PlanError.wrongMode("give input gradients", mode)
    }
}
