import AlexNetCore
import AlexNetNetwork
import CDNNL
import Dispatch

/// A fully connected layer on oneDNN's sgemm, with bias and the following ReLU fused into one
/// pass over the output. Input and output are plain `[N, I]` and `[N, O]`.
///
/// Why not OpenBLAS: Debian's OpenBLAS 0.3.21 identifies this machine's AVX-512 Xeon as
/// "Prescott" and runs SSE3 kernels (about 64 GFLOP/s on 2 cores) unless OPENBLAS_CORETYPE is set
/// before the process starts; oneDNN's JIT sgemm reaches about 250 here, and shares oneDNN's
/// OpenMP threads instead of competing with them.
///
///     forward:  y = x W^T + b (then max(0, y))
///     backward: dy *= (y > 0);  db = sum over n of dy;  dW = dy^T x;  dx = dy W
final class LinearOperation: CPUOperation {
    private let inputs: Int, outputs: Int, batch: Int
    private let weights: UnsafeMutablePointer<Float>
    private let bias: UnsafeMutablePointer<Float>?
    private let weightGradient: UnsafeMutablePointer<Float>
    private let biasGradient: UnsafeMutablePointer<Float>?
    private let fusedReLU: Bool
    private var diffOutput: UnsafeMutablePointer<Float>?
    private var diffInput: UnsafeMutablePointer<Float>?
    private let builder: PlanBuilder

    init(_ layer: ResolvedLayer, fusedReLU: String?, input: Activation, builder: PlanBuilder) throws {
        self.builder = builder
        let n = builder.batchSize
        inputs = layer.inputShape.elementCount
        outputs = layer.outputShape.elementCount
        batch = n
        weights = builder.parameters.baseAddress + layer.slots[0].offset
        weightGradient = builder.gradients.baseAddress + layer.slots[0].offset
        bias = layer.slots.count > 1 ? builder.parameters.baseAddress + layer.slots[1].offset : nil
        biasGradient = layer.slots.count > 1 ? builder.gradients.baseAddress + layer.slots[1].offset : nil
        self.fusedReLU = fusedReLU != nil
        // (Computed before super.init: Swift 6.3's optimizer crashes on a throwing argument there.)
        let output = try Activation(try MemoryDescriptor.plain([n, layer.outputShape.elementCount]), engine: builder.engine)
        let name = fusedReLU.map { "\(layer.name)+\($0)" } ?? layer.name
        super.init(name: name, input: input, output: output)
    }

    private var outputParity = 0, inputParity: Int?

    override func prepareBackward(outputParity: Int, inputParity: Int?) throws {
        self.outputParity = outputParity
        self.inputParity = inputParity
        builder.reserveGradientBytes(4 * batch * max(inputs, outputs))
    }

    override func bind(gradientBuffers: [RawStorage]) {
        diffOutput = gradientBuffers[outputParity].pointer.assumingMemoryBound(to: Float.self)
        diffInput = inputParity.map { gradientBuffers[$0].pointer.assumingMemoryBound(to: Float.self) }
    }

    override func forward(_ context: StepContext) {
        builder.engine.wait()
        let x = input.floats.baseAddress!, y = output.floats.baseAddress!
        gemm(false, true, batch, outputs, inputs, x, inputs, weights, inputs, y, outputs)
        for row in 0..<batch {
            let out = y + row * outputs
            if let bias {
                if fusedReLU {
                    for o in 0..<outputs { out[o] = max(out[o] + bias[o], 0) }
                } else {
                    for o in 0..<outputs { out[o] += bias[o] }
                }
            } else if fusedReLU {
                for o in 0..<outputs { out[o] = max(out[o], 0) }
            }
        }
    }

    override func backward(_ context: StepContext) {
        guard let dy = diffOutput else { return }
        builder.engine.wait()
        let x = input.floats.baseAddress!, y = output.floats.baseAddress!
        let count = batch * outputs
        if fusedReLU { for i in 0..<count where y[i] <= 0 { dy[i] = 0 } }
        if computesParameterGradients, let biasGradient {
            for o in 0..<outputs { biasGradient[o] = 0 }
            for row in 0..<batch {
                let line = dy + row * outputs
                for o in 0..<outputs { biasGradient[o] += line[o] }
            }
        }
        if computesParameterGradients { gemm(true, false, outputs, inputs, batch, dy, outputs, x, inputs, weightGradient, inputs) }
        if let dx = diffInput {
            gemm(false, false, batch, inputs, outputs, dy, outputs, weights, inputs, dx, inputs)
        }
    }

    /// C = op(A) op(B), row-major, C is m x n.
    private func gemm(_ transposeA: Bool, _ transposeB: Bool, _ m: Int, _ n: Int, _ k: Int,
                      _ a: UnsafePointer<Float>, _ lda: Int, _ b: UnsafePointer<Float>, _ ldb: Int,
                      _ c: UnsafeMutablePointer<Float>, _ ldc: Int) {
        MatrixMultiply.sgemm(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, a, lda: lda, b, ldb: ldb, c, ldc: ldc)
    }

    override var implementation: String { "onednn sgemm" + (fusedReLU ? " + bias/ReLU" : " + bias") }
}

/// Dropout on plain `[N, F]` activations, with the reference's Philox mask (so both backends
/// drop the same units), kept for backward.
final class DropoutOperation: CPUOperation {
    private let dropout: Dropout
    private let layerIndex: Int
    private let mask: RawStorage
    private let count: Int
    private let builder: PlanBuilder
    private var outputParity = 0, inputParity: Int?
    private var diffOutput: UnsafeMutablePointer<Float>?
    private var diffInput: UnsafeMutablePointer<Float>?

    init(_ layer: ResolvedLayer, input: Activation, builder: PlanBuilder) throws {
        dropout = layer.layer as! Dropout
        layerIndex = layer.index
        count = input.shape.reduce(1, *)
        mask = RawStorage(byteCount: count * 4)
        self.builder = builder
        let output = try Activation(input.descriptor, engine: builder.engine)
        super.init(name: layer.name, input: input, output: output)
    }

    override func prepareBackward(outputParity: Int, inputParity: Int?) throws {
        self.outputParity = outputParity
        self.inputParity = inputParity
        builder.reserveGradientBytes(4 * count)
    }

    override func bind(gradientBuffers: [RawStorage]) {
        diffOutput = gradientBuffers[outputParity].pointer.assumingMemoryBound(to: Float.self)
        diffInput = inputParity.map { gradientBuffers[$0].pointer.assumingMemoryBound(to: Float.self) }
    }

    override func forward(_ context: StepContext) {
        builder.engine.wait()
        let x = input.floats, y = output.floats
        guard context.isTraining, dropout.probability > 0 else {
            _ = y.update(fromContentsOf: x)
            return
        }
        let m = mask.floats(count)
        dropout.fillMask(m, rowLength: count / builder.batchSize,
                         context: PassContext(isTraining: true, seed: context.seed, step: context.step, layerIndex: layerIndex,
                                              firstRow: context.firstRow))
        for i in 0..<count { y[i] = x[i] * m[i] }
    }

    override func backward(_ context: StepContext) {
        guard let dy = diffOutput, let dx = diffInput else { return }
        builder.engine.wait()
        if dropout.probability > 0 {
            let m = mask.floats(count)
            for i in 0..<count { dx[i] = dy[i] * m[i] }
        } else {
            dx.update(from: dy, count: count)
        }
    }

    override var implementation: String { "philox mask" }
}
