import AlexNetCore
import AlexNetNetwork
import CDNNL

/// Batch normalization on oneDNN (2-D feature maps in their blocked layout, or plain `[N, F]`).
/// Training normalises with the batch statistics, which oneDNN returns, and then updates the
/// running statistics in the state buffer as PyTorch does (unbiased variance); evaluation uses
/// the running statistics through a second primitive. In `evaluation` mode (attribution plans,
/// a frozen batch norm in training) it always normalises with the running statistics, leaves
/// them alone, and backward gives only the input's gradient, `dx = gamma dy / sqrt(var + eps)`.
final class BatchNormOperation: CPUOperation {
    private let builder: PlanBuilder
    private let batchNorm: BatchNorm
    private let channels: Int
    private let valuesPerChannel: Int
    private let trainingPD: PrimitiveDescriptor?
    private let inferencePD: PrimitiveDescriptor
    private let evaluation: Bool
    private var trainingForward: BoundPrimitive?
    private var inferenceForward: BoundPrimitive!
    private var backwardPrimitive: BoundPrimitive?
    private let mean: Activation, variance: Activation
    private let runningMean: UnsafeMutablePointer<Float>, runningVariance: UnsafeMutablePointer<Float>
    private let layer: ResolvedLayer
    private var ownInputGradient: Activation?
    /// Where evaluation mode's backward writes the scale gradient nobody reads.
    private var unusedScaleGradient: Activation?

    init(_ layer: ResolvedLayer, input: Activation, builder: PlanBuilder, evaluation: Bool = false) throws {
        batchNorm = layer.layer as! BatchNorm
        self.builder = builder
        self.layer = layer
        channels = layer.inputShape.dimensions[0]
        valuesPerChannel = builder.batchSize * layer.inputShape.elementCount / channels
        let engine = builder.engine
        let statistics = try MemoryDescriptor.plain([channels])
        mean = try Activation(statistics, engine: engine)
        variance = try Activation(statistics, engine: engine)
        runningMean = builder.state.baseAddress + layer.slots[2].offset
        runningVariance = builder.state.baseAddress + layer.slots[3].offset
        let scale = try builder.memory(statistics, on: builder.parameters, offset: layer.slots[0].offset)
        let shift = try builder.memory(statistics, on: builder.parameters, offset: layer.slots[1].offset)

        let flags = dnnl_use_scale.rawValue | dnnl_use_shift.rawValue
        var data = input.descriptor.raw
        var inferenceDesc = dnnl_batch_normalization_desc_t()
        try check(dnnl_batch_normalization_forward_desc_init(&inferenceDesc, dnnl_forward_inference, &data, batchNorm.epsilon,
                                                             flags | dnnl_use_global_stats.rawValue), "describing '\(layer.name)'")
        inferencePD = try PrimitiveDescriptor(&inferenceDesc, attributes: try Attributes(), engine: engine, what: "'\(layer.name)'")
        self.evaluation = evaluation
        if builder.isTraining && !evaluation {
            var trainingDesc = dnnl_batch_normalization_desc_t()
            try check(dnnl_batch_normalization_forward_desc_init(&trainingDesc, dnnl_forward_training, &data, batchNorm.epsilon, flags),
                      "describing '\(layer.name)'")
            trainingPD = try PrimitiveDescriptor(&trainingDesc, attributes: try Attributes(), engine: engine, what: "'\(layer.name)'")
        } else {
            trainingPD = nil
        }
        super.init(name: layer.name, input: input, output: try Activation(inferencePD.destination, engine: engine))
        let runningMeanMemory = try builder.memory(statistics, on: builder.state, offset: layer.slots[2].offset)
        let runningVarianceMemory = try builder.memory(statistics, on: builder.state, offset: layer.slots[3].offset)
        inferenceForward = try builder.primitive(inferencePD, name: layer.name, [
            (CDNNL_ARG_SRC, input.memory), (CDNNL_ARG_DST, output.memory), (CDNNL_ARG_SCALE, scale), (CDNNL_ARG_SHIFT, shift),
            (CDNNL_ARG_MEAN, runningMeanMemory), (CDNNL_ARG_VARIANCE, runningVarianceMemory)])
        if let trainingPD {
            trainingForward = try builder.primitive(trainingPD, name: layer.name, [
                (CDNNL_ARG_SRC, input.memory), (CDNNL_ARG_DST, output.memory), (CDNNL_ARG_SCALE, scale), (CDNNL_ARG_SHIFT, shift),
                (CDNNL_ARG_MEAN, mean.memory), (CDNNL_ARG_VARIANCE, variance.memory)])
        }
    }

    override func prepareBackward(outputParity: Int, inputParity: Int?) throws {
        if evaluation { return try prepareEvaluationBackward(outputParity: outputParity, inputParity: inputParity) }
        guard let trainingPD else { return }
        let engine = builder.engine
        let diffOutput = try builder.gradient(output.descriptor, parity: outputParity)
        let diffInput: Memory
        if let inputParity {
            diffInput = try builder.gradient(input.descriptor, parity: inputParity)
        } else {
            let own = try Activation(input.descriptor, engine: engine)
            ownInputGradient = own
            diffInput = own.memory
        }
        var data = input.descriptor.raw, diff = input.descriptor.raw
        var desc = dnnl_batch_normalization_desc_t()
        try check(dnnl_batch_normalization_backward_desc_init(&desc, dnnl_backward, &diff, &data, batchNorm.epsilon,
                                                              dnnl_use_scale.rawValue | dnnl_use_shift.rawValue),
                  "describing the backward of '\(name)'")
        let pd = try PrimitiveDescriptor(&desc, attributes: try Attributes(), engine: engine, hint: trainingPD, what: "backward of '\(name)'")
        let statistics = try MemoryDescriptor.plain([channels])
        backwardPrimitive = try builder.primitive(pd, name: "\(name) backward", [
            (CDNNL_ARG_SRC, input.memory), (CDNNL_ARG_MEAN, mean.memory), (CDNNL_ARG_VARIANCE, variance.memory),
            (CDNNL_ARG_DIFF_DST, diffOutput), (CDNNL_ARG_SCALE, try builder.memory(statistics, on: builder.parameters, offset: layer.slots[0].offset)),
            (CDNNL_ARG_SHIFT, try builder.memory(statistics, on: builder.parameters, offset: layer.slots[1].offset)),
            (CDNNL_ARG_DIFF_SRC, diffInput),
            (CDNNL_ARG_DIFF_SCALE, try builder.memory(statistics, on: builder.gradients, offset: layer.slots[0].offset)),
            (CDNNL_ARG_DIFF_SHIFT, try builder.memory(statistics, on: builder.gradients, offset: layer.slots[1].offset))])
    }

    /// Backward with the running statistics (oneDNN's `use_global_stats`): the input's
    /// gradient only (none when nothing below needs it).
    private func prepareEvaluationBackward(outputParity: Int, inputParity: Int?) throws {
        guard let inputParity else { return }
        let statistics = try MemoryDescriptor.plain([channels])
        let unusedScaleGradient = try Activation(statistics, engine: builder.engine)
        self.unusedScaleGradient = unusedScaleGradient
        var data = input.descriptor.raw, diff = input.descriptor.raw
        var desc = dnnl_batch_normalization_desc_t()
        // oneDNN 2.6 has no `backward_data` kernel with a scale: the full backward runs, its
        // scale gradient going to a scratch vector of the operation's own.
        try check(dnnl_batch_normalization_backward_desc_init(&desc, dnnl_backward, &diff, &data, batchNorm.epsilon,
                                                              dnnl_use_scale.rawValue | dnnl_use_global_stats.rawValue),
                  "describing the backward of '\(name)' in evaluation mode")
        let pd = try PrimitiveDescriptor(&desc, attributes: try Attributes(), engine: builder.engine, hint: inferencePD,
                                         what: "backward of '\(name)' in evaluation mode")
        backwardPrimitive = try builder.primitive(pd, name: "\(name) backward", [
            (CDNNL_ARG_SRC, input.memory),
            (CDNNL_ARG_MEAN, try builder.memory(statistics, on: builder.state, offset: layer.slots[2].offset)),
            (CDNNL_ARG_VARIANCE, try builder.memory(statistics, on: builder.state, offset: layer.slots[3].offset)),
            (CDNNL_ARG_DIFF_DST, try builder.gradient(output.descriptor, parity: outputParity)),
            (CDNNL_ARG_SCALE, try builder.memory(statistics, on: builder.parameters, offset: layer.slots[0].offset)),
            (CDNNL_ARG_DIFF_SRC, try builder.gradient(input.descriptor, parity: inputParity)),
            (CDNNL_ARG_DIFF_SCALE, unusedScaleGradient.memory)])
    }

    override func forward(_ context: StepContext) {
        guard context.isTraining, let trainingForward else {
            inferenceForward.execute(builder.engine)
            return
        }
        trainingForward.execute(builder.engine)
        builder.engine.wait()
        let m = batchNorm.momentum, count = Float(valuesPerChannel)
        let batchMean = mean.floats, batchVariance = variance.floats
        for c in 0..<channels {
            runningMean[c] = (1 - m) * runningMean[c] + m * batchMean[c]
            let unbiased = count > 1 ? batchVariance[c] * count / (count - 1) : batchVariance[c]
            runningVariance[c] = (1 - m) * runningVariance[c] + m * unbiased
        }
    }

    override func backward(_ context: StepContext) { backwardPrimitive?.execute(builder.engine) }
    override var implementation: String { (trainingPD ?? inferencePD).implementation }
}
