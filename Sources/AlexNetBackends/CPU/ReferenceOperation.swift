import AlexNetCore
import AlexNetNetwork
import CDNNL

/// Any layer the library path does not cover (an even LRN size, adaptive pooling with unequal
/// bins, dropout on feature maps) runs on the reference math over plain NCHW copies. Correct
/// and slow; the per-layer report shows it as `reference`.
final class ReferenceOperation: CPUOperation {
    private let builder: PlanBuilder
    private let layer: ResolvedLayer
    private let parameters: LayerParameters
    private let plainInput: Activation
    private let inputReorder: BoundPrimitive?
    private var inputGradientReorder: BoundPrimitive?
    private var plainInputGradient: Activation?
    private var outputParity = 0
    private var diffOutput: UnsafeMutablePointer<Float>?

    init(_ layer: ResolvedLayer, input: Activation, builder: PlanBuilder) throws {
        self.builder = builder
        self.layer = layer
        let n = builder.batchSize
        let plain = try MemoryDescriptor.plain(input.shape)
        if plain == input.descriptor {
            plainInput = input
            inputReorder = nil
        } else {
            plainInput = try Activation(plain, engine: builder.engine)
            inputReorder = try builder.reorder(from: input.memory, to: plainInput.memory, name: "\(layer.name) input reorder")
        }
        parameters = LayerParameters(slots: layer.slots, parameters: builder.parameters, gradients: builder.gradients,
                                     state: builder.state)
        super.init(name: layer.name, input: input,
                   output: try Activation(try MemoryDescriptor.plain([n] + layer.outputShape.dimensions), engine: builder.engine))
    }

    override func prepareBackward(outputParity: Int, inputParity: Int?) throws {
        self.outputParity = outputParity
        builder.reserveGradientBytes(4 * output.shape.reduce(1, *))
        guard let inputParity else { return }
        let own = try Activation(try MemoryDescriptor.plain(input.shape), engine: builder.engine)
        plainInputGradient = own
        inputGradientReorder = try builder.reorder(from: own.memory, to: try builder.gradient(input.descriptor, parity: inputParity),
                                                   name: "\(name) input gradient reorder")
    }

    override func bind(gradientBuffers: [RawStorage]) {
        diffOutput = gradientBuffers[outputParity].pointer.assumingMemoryBound(to: Float.self)
    }

    private func tensor(_ activation: Activation) -> Tensor {
        Tensor(shape: activation.shape, scalars: Array(activation.floats))
    }

    private func context(_ step: StepContext) -> PassContext {
        PassContext(isTraining: step.isTraining, seed: step.seed, step: step.step, layerIndex: layer.index, firstRow: step.firstRow)
    }

    override func forward(_ step: StepContext) {
        inputReorder?.execute(builder.engine)
        builder.engine.wait()
        let y = layer.layer.forward(tensor(plainInput), parameters: parameters, context: context(step))
        _ = output.floats.update(fromContentsOf: y.scalars)
    }

    override func backward(_ step: StepContext) {
        guard let diffOutput else { return }
        builder.engine.wait()
        for gradient in parameters.gradients { gradient.update(repeating: 0) }
        let dy = Tensor(shape: output.shape, scalars: Array(UnsafeBufferPointer(start: diffOutput, count: output.shape.reduce(1, *))))
        let dx = layer.layer.backward(input: tensor(plainInput), output: tensor(output), outputGradient: dy,
                                      parameters: parameters, context: context(step))
        if let plainInputGradient {
            _ = plainInputGradient.floats.update(fromContentsOf: dx.scalars)
            inputGradientReorder?.execute(builder.engine)
        }
    }

    override var implementation: String { "reference (plain Swift)" }
}
