import AlexNetCore
import AlexNetNetwork
import Dispatch

/// The first convolution of a network, rewritten as a stride-1 convolution over a space-to-depth
/// view of its input, for CPUs where oneDNN has no jit kernel for the original.
///
/// oneDNN 2.6 on AVX2 runs AlexNet's conv1 (3 or 1 input channels, 11x11, stride 4) as an
/// im2col + sgemm convolution at ~50 GFLOP/s, a third of its jit kernels' speed, and leaves the
/// output in plain NCHW. With stride `s`, every output pixel reads whole `s x s` blocks of the
/// padded input, so the input rearranged into `C * s * s` channels of blocks (channel
/// `c * s * s + dy * s + dx` of block `(by, bx)` is input pixel `(s * by + dy - p, s * bx + dx - p)`,
/// zero outside the image) convolved with a `ceil(k / s)`-square kernel at stride 1 and no
/// padding gives the same output. The kernel is the original one cut into the same blocks, with
/// zeros where a block reaches past `k` (11 = 3 blocks of 4 minus one row and column: 19% more
/// multiplications than the original; torchvision's conv1 forward still went from 44-55 to 98
/// GFLOP/s of the original's work on a Zen 3, BENCHMARKS.md "Training on AVX2").
///
/// Each training forward rearranges the weights into a private buffer (an inference plan does
/// it when the parameters change); backward computes the rearranged weight gradient and folds it
/// back into the layer's slot. The input gradient is never needed: this is the first layer.
final class SpaceToDepthConvolution: CPUOperation {
    private let convolution: ConvolutionOperation
    private let builder: PlanBuilder
    private let stride: Int, kernel: Int, padding: Int, blocks: Int
    private let channels: Int, height: Int, width: Int, outputChannels: Int
    /// The rearranged input's block grid and its layout: channels in groups of `channelBlock`
    /// (oneDNN's nChw8c or nChw16c, `MemoryDescriptor.channelBlocked`).
    private let blockHeight: Int, blockWidth: Int, channelBlock: Int
    private let rearranged: Activation
    private let weights: FloatBuffer, weightGradient: FloatBuffer
    private let weightSlot: ParameterSlot

    /// Whether `conv` can be rewritten: ungrouped, strided, a kernel wider than its stride.
    static func applies(to conv: Convolution) -> Bool {
        conv.groups == 1 && conv.stride > 1 && conv.kernelSize > conv.stride
    }

    init(_ layer: ResolvedLayer, fusedReLU: String?, input: Activation, builder: PlanBuilder) throws {
        let conv = layer.layer as! Convolution
        precondition(Self.applies(to: conv))
        let n = builder.batchSize
        (channels, height, width) = layer.inputShape.image!
        let (o, outputHeight, outputWidth) = layer.outputShape.image!
        outputChannels = o
        (stride, kernel, padding) = (conv.stride, conv.kernelSize, conv.padding)
        blocks = (kernel + stride - 1) / stride
        (blockHeight, blockWidth) = (outputHeight + blocks - 1, outputWidth + blocks - 1)
        let depth = channels * stride * stride

        var inner = layer
        inner.layer = Convolution(outputChannels: o, kernelSize: blocks, stride: 1, padding: 0, groups: 1, hasBias: conv.hasBias)
        inner.inputShape = Shape(channels: depth, height: blockHeight, width: blockWidth)
        let shape = [n, depth, blockHeight, blockWidth]
        channelBlock = MemoryDescriptor.channelBlock
        rearranged = try Activation(try MemoryDescriptor.channelBlocked(shape), engine: builder.engine)
        weights = FloatBuffer(count: o * depth * blocks * blocks)
        weightGradient = FloatBuffer(count: weights.count)
        weightSlot = layer.slots[0]
        convolution = try ConvolutionOperation(inner, fusedReLU: fusedReLU, input: rearranged, builder: builder, isFirst: true,
                                               ownWeights: (weights, weightGradient))
        self.builder = builder
        super.init(name: convolution.name, input: input, output: convolution.output)
        needsInputGradient = false
    }

    /// The forward kernel oneDNN chose for the rewritten convolution.
    var forwardImplementation: String { convolution.forwardImplementation }

    // MARK: Rearranging

    /// Input `[N, C, H, W]` (plain) into the block grid, in `rearranged`'s layout. Positions
    /// outside the image are never written and stay zero.
    private func rearrangeInput() {
        // Each part writes its own images: the pointers are shared, the bytes are not.
        nonisolated(unsafe) let source = UnsafePointer(input.floats.baseAddress!)
        nonisolated(unsafe) let target = rearranged.storage.pointer.assumingMemoryBound(to: Float.self)
        let (s, p, c, h, w) = (stride, padding, channels, height, width)
        let (bh, bw, b) = (blockHeight, blockWidth, channelBlock)
        let depth = c * s * s
        let channelGroups = (depth + b - 1) / b
        let (images, parts) = (builder.batchSize, max(1, min(builder.threads, builder.batchSize)))
        DispatchQueue.concurrentPerform(iterations: parts) { part in
            for image in Swift.stride(from: part, to: images, by: parts) {
                for channel in 0..<c {
                    let plane = source + (image * c + channel) * h * w
                    for dy in 0..<s {
                        for dx in 0..<s {
                            let k = (channel * s + dy) * s + dx
                            let base = target + (image * channelGroups + k / b) * bh * bw * b + k % b
                            // Block columns whose pixel s * bx + dx - p lies inside the image.
                            let firstColumn = max(0, (p - dx + s - 1) / s)
                            let lastColumn = min(bw - 1, (w - 1 + p - dx) / s)
                            guard firstColumn <= lastColumn else { continue }
                            for by in 0..<bh {
                                let y = s * by + dy - p
                                guard y >= 0 && y < h else { continue }
                                let row = plane + y * w
                                let out = base + by * bw * b
                                for bx in firstColumn...lastColumn {
                                    out[bx * b] = row[s * bx + dx - p]
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// The layer's `[O, C, k, k]` weights into `[O, C * s * s, blocks, blocks]`, zero past `k`.
    private func rearrangeWeights() {
        let original = UnsafePointer(builder.parameters.baseAddress + weightSlot.offset)
        let target = weights.baseAddress
        forEachTap { from, to in target[to] = original[from] }
    }

    /// The rearranged weight gradient back into the layer's slot (the zero taps past `k` drop).
    private func foldWeightGradient() {
        let original = builder.gradients.baseAddress + weightSlot.offset
        let source = UnsafePointer(weightGradient.baseAddress)
        forEachTap { from, to in original[from] = source[to] }
    }

    /// Calls `body(original index, rearranged index)` for every tap of the original kernel.
    private func forEachTap(_ body: (Int, Int) -> Void) {
        let (s, k, c, kb) = (stride, kernel, channels, blocks)
        let depth = c * s * s
        for o in 0..<outputChannels {
            for channel in 0..<c {
                for i in 0..<k {
                    for j in 0..<k {
                        let from = ((o * c + channel) * k + i) * k + j
                        let to = ((o * depth + (channel * s + i % s) * s + j % s) * kb + i / s) * kb + j / s
                        body(from, to)
                    }
                }
            }
        }
    }

    // MARK: Passes

    override func prepareBackward(outputParity: Int, inputParity: Int?) throws {
        try convolution.prepareBackward(outputParity: outputParity, inputParity: nil)
    }

    override func bind(gradientBuffers: [RawStorage]) { convolution.bind(gradientBuffers: gradientBuffers) }

    override func parametersChanged() {
        builder.engine.wait()
        rearrangeWeights()
        convolution.parametersChanged()
    }

    override func forward(_ context: StepContext) {
        builder.engine.wait()
        if builder.isTraining { rearrangeWeights() }
        rearrangeInput()
        convolution.forward(context)
    }

    override func backward(_ context: StepContext) {
        convolution.computesParameterGradients = computesParameterGradients
        convolution.backward(context)
        guard computesParameterGradients else { return }
        builder.engine.wait()
        foldWeightGradient()
    }

    override var implementation: String { "space-to-depth + " + convolution.implementation }
}
