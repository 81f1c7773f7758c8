import AlexNetCore
import AlexNetNetwork
import Dispatch

/// A 3x3, stride-1, ungrouped convolution (padding 0 or 1) by Winograd's minimal filtering F(2x2, 3x3)
/// (Lavin and Gray, "Fast Algorithms for Convolutional Neural Networks", 2016), for CPUs where
/// oneDNN has no Winograd kernel (oneDNN 2.6's is AVX-512 only).
///
/// The output is cut into 2x2 tiles, each computed from the 4x4 input patch around it: the patch
/// transformed (`V = Bᵀ d B`), multiplied element by element with the transformed kernel
/// (`U = G g Gᵀ`), summed over input channels, transformed back (`Y = Aᵀ M A`). For each of the
/// 16 positions ξ of a transformed tile, the sum over channels of all tiles at once is one matrix
/// product, `M[ξ] (tiles x K) = V[ξ] (tiles x C) · U[ξ] (C x K)`, run by oneDNN's sgemm: 16
/// products of 16 multiplications per 4 outputs where the direct convolution does 36, 2.25x
/// fewer (less the tiles that overhang an odd-sized map: 13x13 runs as 14x14).
///
/// Training runs the adjoints of the same steps: the output gradient taken back through `A`
/// (`dM`), the kernel gradient `dU[ξ] = V[ξ]ᵀ · dM[ξ]` taken back through `G`, the input gradient
/// `dV[ξ] = dM[ξ] · U[ξ]ᵀ` taken back through `B` and added into the overlapping patches. `V` is
/// computed again in backward from the input rather than kept. The transforms are Swift loops
/// over 8 channels at a time, on the channel-blocked layout (nChw8c/nChw16c) the activations keep
/// between oneDNN's layers, split among the plan's threads; the transformed tiles live in one
/// scratch buffer shared by every such layer of the plan (`PlanBuilder.reserveHostScratch`).
final class WinogradConvolution: CPUOperation {
    private let builder: PlanBuilder
    /// The input's map, and the output's (`height + 2 * padding - 2` by `width + 2 * padding - 2`).
    private let channels: Int, outputs: Int, height: Int, width: Int
    private let padding: Int, outputHeight: Int, outputWidth: Int
    private let tileRows: Int, tileColumns: Int, tiles: Int
    /// Channels per block in the activations' layout (8 or 16).
    private let block: Int
    private let relu: Bool
    private let weightSlot: ParameterSlot, biasSlot: ParameterSlot?
    /// The transformed kernel `U[ξ][c][k]`, and its gradient.
    private let transformedWeights: FloatBuffer, transformedWeightGradient: FloatBuffer
    private var outputParity = 0, inputParity: Int?
    private var diffOutput: UnsafeMutablePointer<Float>?, diffInput: UnsafeMutablePointer<Float>?

    /// Whether the layer can run here: 3x3, stride 1, padding 0 or 1, ungrouped, channels in
    /// whole blocks of the activations' layout.
    static func applies(_ layer: ResolvedLayer) -> Bool {
        guard let conv = layer.layer as? Convolution, conv.kernelSize == 3, conv.stride == 1, conv.padding <= 1,
              conv.groups == 1, let input = layer.inputShape.image, let output = layer.outputShape.image else { return false }
        let block = MemoryDescriptor.channelBlock
        return block % 8 == 0 && input.0 % block == 0 && output.0 % block == 0
    }

    /// Whether the plan runs `layer` with it instead of `direct`, what oneDNN chose: where the
    /// plan's rule asks for Winograd (`ConvolutionOperation.algorithms`: maps from 7x7) and
    /// oneDNN gave none. Where oneDNN has no f32 Winograd at all (AVX2: 8-channel blocks), maps
    /// of 5x5 too, in batches of 8 or more: CIFAR-10's conv3-5 (384 channels on 5x5 maps, 3x3
    /// tiles covering 6x6) trained 10-17% faster per layer on a Zen 3 at batch 128, but at batch
    /// 1 (9 tiles a layer) the transforms' overhead made CIFAR-10's latency 2.4 ms instead of 2.1.
    static func replaces(_ direct: ConvolutionOperation, _ conv: Convolution, layer: ResolvedLayer, builder: PlanBuilder) -> Bool {
        guard applies(layer), !direct.forwardImplementation.contains("wino") else { return false }
        if ConvolutionOperation.algorithms(conv, output: layer.outputShape, builder: builder).count > 1 { return true }
        let (_, height, width) = layer.outputShape.image!
        return builder.winograd == .whereFaster && MemoryDescriptor.channelBlock == 8 && height >= 5 && width >= 5
            && builder.batchSize >= 8
    }

    init(_ layer: ResolvedLayer, fusedReLU: String?, input: Activation, builder: PlanBuilder) throws {
        precondition(Self.applies(layer))
        let conv = layer.layer as! Convolution
        (channels, height, width) = layer.inputShape.image!
        (outputs, outputHeight, outputWidth) = layer.outputShape.image!
        padding = conv.padding
        block = MemoryDescriptor.channelBlock
        let blocked = try MemoryDescriptor.channelBlocked(input.shape)
        precondition(input.descriptor == blocked, "Winograd reads channel-blocked input")
        (tileRows, tileColumns) = ((outputHeight + 1) / 2, (outputWidth + 1) / 2)
        tiles = builder.batchSize * tileRows * tileColumns
        relu = fusedReLU != nil
        weightSlot = layer.slots[0]
        biasSlot = conv.hasBias ? layer.slots[1] : nil
        transformedWeights = FloatBuffer(count: 16 * channels * outputs)
        transformedWeightGradient = FloatBuffer(count: builder.isTraining ? 16 * channels * outputs : 0)
        self.builder = builder
        builder.reserveHostScratch(4 * 16 * tiles * (channels + outputs))
        let output = try Activation(try MemoryDescriptor.channelBlocked([builder.batchSize, outputs, outputHeight, outputWidth]),
                                    engine: builder.engine)
        super.init(name: [layer.name, fusedReLU].compactMap { $0 }.joined(separator: "+"), input: input, output: output)
    }

    override var implementation: String { "winograd F(2x2,3x3): swift transforms + onednn sgemm" }

    // MARK: Scratch

    /// `V` (or `dV`), 16 x tiles x C, then `M` (or `dM`), 16 x tiles x K.
    private var transformedInput: UnsafeMutablePointer<Float> { builder.hostScratchPointer }
    private var products: UnsafeMutablePointer<Float> { builder.hostScratchPointer + 16 * tiles * channels }

    // MARK: Passes

    override func parametersChanged() {
        if !builder.isTraining { transformWeights() }
    }

    override func forward(_ context: StepContext) {
        builder.engine.wait()
        if builder.isTraining { transformWeights() }
        transformInput()
        let (v, m, u) = (transformedInput, products, transformedWeights.baseAddress)
        for xi in 0..<16 {
            MatrixMultiply.sgemm(m: tiles, n: outputs, k: channels, v + xi * tiles * channels, lda: channels,
                                 u + xi * channels * outputs, ldb: outputs, m + xi * tiles * outputs, ldc: outputs)
        }
        transformOutput()
    }

    override func prepareBackward(outputParity: Int, inputParity: Int?) throws {
        self.outputParity = outputParity
        self.inputParity = inputParity
        builder.reserveGradientBytes(output.descriptor.byteCount)
        builder.reserveGradientBytes(input.descriptor.byteCount)
    }

    override func bind(gradientBuffers: [RawStorage]) {
        diffOutput = gradientBuffers[outputParity].pointer.assumingMemoryBound(to: Float.self)
        diffInput = inputParity.map { gradientBuffers[$0].pointer.assumingMemoryBound(to: Float.self) }
    }

    override func backward(_ context: StepContext) {
        guard let diffOutput else { return }
        builder.engine.wait()
        maskAndSumOutputGradient(diffOutput)
        transformOutputGradient(diffOutput)
        let (v, dm, u) = (transformedInput, products, transformedWeights.baseAddress)
        if computesParameterGradients {
            transformInput()
            let du = transformedWeightGradient.baseAddress
            for xi in 0..<16 {
                MatrixMultiply.sgemm(transposeA: true, m: channels, n: outputs, k: tiles, v + xi * tiles * channels, lda: channels,
                                     dm + xi * tiles * outputs, ldb: outputs, du + xi * channels * outputs, ldc: outputs)
            }
            foldWeightGradient()
        }
        if needsInputGradient, let diffInput {
            for xi in 0..<16 {
                MatrixMultiply.sgemm(transposeB: true, m: tiles, n: channels, k: outputs, dm + xi * tiles * outputs, lda: outputs,
                                     u + xi * channels * outputs, ldb: outputs, v + xi * tiles * channels, ldc: channels)
            }
            scatterInputGradient(diffInput)
        }
    }

    // MARK: Transforms

    /// Runs `body(part, parts)` on up to the plan's thread count of parts.
    private func parallel(_ count: Int, _ body: @escaping (Range<Int>) -> Void) {
        let parts = max(1, min(builder.threads, count))
        // Each part works on its own tiles (or images, or channels): shared pointers, never shared bytes.
        nonisolated(unsafe) let work = body
        DispatchQueue.concurrentPerform(iterations: parts) { part in work((part * count / parts)..<((part + 1) * count / parts)) }
    }

    /// Calls `body(tile, image, y, x, c0)` for every tile, whose output's top-left pixel is
    /// `(y, x)`, and every first channel `c0` of a group of 8 of `count`, the tiles split among
    /// the plan's threads.
    private func forEachTile(channels count: Int, _ body: @escaping (Int, Int, Int, Int, Int) -> Void) {
        let (columns, perImage) = (tileColumns, tileRows * tileColumns)
        parallel(tiles) { range in
            for tile in range {
                let (image, position) = tile.quotientAndRemainder(dividingBy: perImage)
                let (y, x) = (2 * (position / columns), 2 * (position % columns))
                for c0 in stride(from: 0, to: count, by: 8) { body(tile, image, y, x, c0) }
            }
        }
    }

    /// Where channel `c0` (a multiple of 8) of `image` starts in a channel-blocked tensor of
    /// `count` channels on maps of `pixels`: the 8 channels from `c0` at pixel `(y, x)` of a map
    /// `w` wide are at `+ (y * w + x) * block`.
    @inline(__always)
    private func plane(_ base: UnsafeMutablePointer<Float>, image: Int, channel c0: Int, count: Int, pixels: Int) -> UnsafeMutablePointer<Float> {
        base + ((image * (count / block) + c0 / block) * pixels) * block + c0 % block
    }

    /// `U[ξ][c][k] = (G g Gᵀ)[ξ]` for every kernel `g = weights[k][c]`.
    private func transformWeights() {
        let weights = UnsafePointer(builder.parameters.baseAddress + weightSlot.offset)
        let u = transformedWeights.baseAddress
        let (c, k) = (channels, outputs)
        /// G applied to three values: the four rows (or columns) of the transformed kernel.
        @inline(__always) func g4(_ a: Float, _ b: Float, _ d: Float) -> (Float, Float, Float, Float) {
            (a, 0.5 * (a + b + d), 0.5 * (a - b + d), d)
        }
        for i in 0..<c {
            for o in 0..<k {
                let g = weights + (o * c + i) * 9
                // G down each column of g, then along each of the four rows.
                let (c0, c1, c2) = (g4(g[0], g[3], g[6]), g4(g[1], g[4], g[7]), g4(g[2], g[5], g[8]))
                func row(_ r: Int, _ a: Float, _ b: Float, _ d: Float) {
                    let (u0, u1, u2, u3) = g4(a, b, d)
                    u[((4 * r + 0) * c + i) * k + o] = u0
                    u[((4 * r + 1) * c + i) * k + o] = u1
                    u[((4 * r + 2) * c + i) * k + o] = u2
                    u[((4 * r + 3) * c + i) * k + o] = u3
                }
                row(0, c0.0, c1.0, c2.0)
                row(1, c0.1, c1.1, c2.1)
                row(2, c0.2, c1.2, c2.2)
                row(3, c0.3, c1.3, c2.3)
            }
        }
    }

    /// The kernel gradient from `dU`: `dg = Gᵀ dU G`, written over the layer's gradient slot.
    private func foldWeightGradient() {
        let gradient = builder.gradients.baseAddress + weightSlot.offset
        let du = UnsafePointer(transformedWeightGradient.baseAddress)
        let (c, k) = (channels, outputs)
        /// Gᵀ applied to four values: three rows (or columns) of the kernel gradient.
        @inline(__always) func gT(_ a: Float, _ b: Float, _ d: Float, _ e: Float) -> (Float, Float, Float) {
            (a + 0.5 * (b + d), 0.5 * (b - d), 0.5 * (b + d) + e)
        }
        for o in 0..<k {
            for i in 0..<c {
                @inline(__always) func du4(_ r: Int) -> (Float, Float, Float) {
                    gT(du[((4 * r) * c + i) * k + o], du[((4 * r + 1) * c + i) * k + o],
                       du[((4 * r + 2) * c + i) * k + o], du[((4 * r + 3) * c + i) * k + o])
                }
                // Gᵀ along each row of dU, then down each of the three columns.
                let (r0, r1, r2, r3) = (du4(0), du4(1), du4(2), du4(3))
                let g = gradient + (o * c + i) * 9
                (g[0], g[3], g[6]) = gT(r0.0, r1.0, r2.0, r3.0)
                (g[1], g[4], g[7]) = gT(r0.1, r1.1, r2.1, r3.1)
                (g[2], g[5], g[8]) = gT(r0.2, r1.2, r2.2, r3.2)
            }
        }
    }

    /// `V[ξ][t][c] = (Bᵀ d B)[ξ]` for the 4x4 input patch `d` of every tile `t` (zero outside the image).
    private func transformInput() {
        nonisolated(unsafe) let (x, v) = (input.storage.pointer.assumingMemoryBound(to: Float.self), transformedInput)
        let (c, h, w, t, pad) = (channels, height, width, tiles, padding)
        forEachTile(channels: c) { [self] tile, image, oy, ox, c0 in
            // The 4x4 patch starts `padding` pixels above and left of the tile's output.
            let (y0, x0) = (oy - pad, ox - pad)
            let p = plane(x, image: image, channel: c0, count: c, pixels: h * w)
            @inline(__always) func at(_ y: Int, _ x: Int) -> SIMD8<Float> {
                y >= 0 && y < h && x >= 0 && x < w ? load8(p + (y * w + x) * block) : .zero
            }
            // Bᵀ down each column s, then along each row r.
            @inline(__always) func column(_ s: Int) -> (SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>) {
                let (d0, d1, d2, d3) = (at(y0, x0 + s), at(y0 + 1, x0 + s), at(y0 + 2, x0 + s), at(y0 + 3, x0 + s))
                return (d0 - d2, d1 + d2, d2 - d1, d1 - d3)
            }
            let target = v + tile * c + c0
            func row(_ r: Int, _ e0: SIMD8<Float>, _ e1: SIMD8<Float>, _ e2: SIMD8<Float>, _ e3: SIMD8<Float>) {
                store8(e0 - e2, target + (4 * r + 0) * t * c)
                store8(e1 + e2, target + (4 * r + 1) * t * c)
                store8(e2 - e1, target + (4 * r + 2) * t * c)
                store8(e1 - e3, target + (4 * r + 3) * t * c)
            }
            let (a, b, cc, d) = (column(0), column(1), column(2), column(3))
            row(0, a.0, b.0, cc.0, d.0)
            row(1, a.1, b.1, cc.1, d.1)
            row(2, a.2, b.2, cc.2, d.2)
            row(3, a.3, b.3, cc.3, d.3)
        }
    }

    /// `Y = Aᵀ M A` for every tile, plus the bias, through the fused ReLU, into `output`.
    private func transformOutput() {
        nonisolated(unsafe) let (y, m) = (output.storage.pointer.assumingMemoryBound(to: Float.self), products)
        nonisolated(unsafe) let bias = biasSlot.map { UnsafePointer(builder.parameters.baseAddress + $0.offset) }
        let (k, h, w, t, relu) = (outputs, outputHeight, outputWidth, tiles, relu)
        forEachTile(channels: k) { [self] tile, image, oy, ox, k0 in
            let source = m + tile * k + k0
            @inline(__always) func at(_ xi: Int) -> SIMD8<Float> { load8(source + xi * t * k) }
            // Aᵀ down each column: rows 0 and 1 of the half-transformed tile.
            let (m00, m01, m02, m03) = (at(0), at(1), at(2), at(3))
            let (m10, m11, m12, m13) = (at(4), at(5), at(6), at(7))
            let (m20, m21, m22, m23) = (at(8), at(9), at(10), at(11))
            let (m30, m31, m32, m33) = (at(12), at(13), at(14), at(15))
            let (a00, a01, a02, a03) = (m00 + m10 + m20, m01 + m11 + m21, m02 + m12 + m22, m03 + m13 + m23)
            let (a10, a11, a12, a13) = (m10 - m20 - m30, m11 - m21 - m31, m12 - m22 - m32, m13 - m23 - m33)
            let b = bias.map { load8($0 + k0) } ?? .zero
            var out = (a00 + a01 + a02 + b, a01 - a02 - a03 + b, a10 + a11 + a12 + b, a11 - a12 - a13 + b)
            if relu {
                out = (out.0.replacing(with: 0, where: out.0 .< 0), out.1.replacing(with: 0, where: out.1 .< 0),
                       out.2.replacing(with: 0, where: out.2 .< 0), out.3.replacing(with: 0, where: out.3 .< 0))
            }
            let p = plane(y, image: image, channel: k0, count: k, pixels: h * w)
            store8(out.0, p + (oy * w + ox) * block)
            if ox + 1 < w { store8(out.1, p + (oy * w + ox + 1) * block) }
            if oy + 1 < h {
                store8(out.2, p + ((oy + 1) * w + ox) * block)
                if ox + 1 < w { store8(out.3, p + ((oy + 1) * w + ox + 1) * block) }
            }
        }
    }

    /// The output gradient through the fused ReLU (zero where the output is), in place, and the
    /// bias gradient (its sum over images and pixels), split among threads by channel block.
    private func maskAndSumOutputGradient(_ dy: UnsafeMutablePointer<Float>) {
        nonisolated(unsafe) let (dy, y) = (dy, output.storage.pointer.assumingMemoryBound(to: Float.self))
        nonisolated(unsafe) let biasGradient = biasSlot.map { builder.gradients.baseAddress + $0.offset }
        let sumsBias = biasGradient != nil && computesParameterGradients
        let (k, b, pixels, n, relu) = (outputs, block, outputHeight * outputWidth, builder.batchSize, relu)
        guard relu || sumsBias else { return }
        parallel(k / 8) { range in
            for group in range {
                let k0 = group * 8
                var sum = SIMD8<Float>.zero
                for image in 0..<n {
                    let offset = ((image * (k / b) + k0 / b) * pixels) * b + k0 % b
                    for pixel in 0..<pixels {
                        let at = offset + pixel * b
                        var g = load8(dy + at)
                        if relu {
                            g.replace(with: 0, where: load8(y + at) .<= 0)
                            store8(g, dy + at)
                        }
                        sum += g
                    }
                }
                if sumsBias, let biasGradient { store8(sum, biasGradient + k0) }
            }
        }
    }

    /// `dM = A dY Aᵀ` for every tile (the 2x2 output gradient, zero past the map's edge).
    private func transformOutputGradient(_ dy: UnsafeMutablePointer<Float>) {
        nonisolated(unsafe) let (dy, dm) = (dy, products)
        let (k, h, w, t) = (outputs, outputHeight, outputWidth, tiles)
        forEachTile(channels: k) { [self] tile, image, oy, ox, k0 in
            let p = plane(dy, image: image, channel: k0, count: k, pixels: h * w)
            @inline(__always) func at(_ y: Int, _ x: Int) -> SIMD8<Float> {
                y < h && x < w ? load8(p + (y * w + x) * block) : .zero
            }
            let (g00, g01, g10, g11) = (at(oy, ox), at(oy, ox + 1), at(oy + 1, ox), at(oy + 1, ox + 1))
            // A down the columns: 4 rows from 2; then along each row.
            let column0 = (g00, g00 + g10, g00 - g10, -g10)
            let column1 = (g01, g01 + g11, g01 - g11, -g11)
            let target = dm + tile * k + k0
            func row(_ r: Int, _ a: SIMD8<Float>, _ b: SIMD8<Float>) {
                store8(a, target + (4 * r + 0) * t * k)
                store8(a + b, target + (4 * r + 1) * t * k)
                store8(a - b, target + (4 * r + 2) * t * k)
                store8(-b, target + (4 * r + 3) * t * k)
            }
            row(0, column0.0, column1.0)
            row(1, column0.1, column1.1)
            row(2, column0.2, column1.2)
            row(3, column0.3, column1.3)
        }
    }

    /// The input gradient from `dV`: `B dV Bᵀ` of every tile added into its 4x4 patch (patches
    /// overlap by two pixels), split among threads by image so no two write the same pixel.
    private func scatterInputGradient(_ dx: UnsafeMutablePointer<Float>) {
        nonisolated(unsafe) let (dx, dv) = (dx, transformedInput)
        let (c, h, w, rows, columns, t, pad) = (channels, height, width, tileRows, tileColumns, tiles, padding)
        let perImage = rows * columns
        dx.update(repeating: 0, count: builder.batchSize * c * h * w)
        parallel(builder.batchSize) { [self] images in
            for image in images {
                for position in 0..<perImage {
                    let tile = image * perImage + position
                    let (y0, x0) = (2 * (position / columns) - pad, 2 * (position % columns) - pad)
                    for c0 in stride(from: 0, to: c, by: 8) {
                        let source = dv + tile * c + c0
                        @inline(__always) func at(_ xi: Int) -> SIMD8<Float> { load8(source + xi * t * c) }
                        // Bᵀ's adjoint along each row r (4 columns from the 4 of dV's row) ...
                        @inline(__always) func row(_ r: Int) -> (SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>) {
                            let (d0, d1, d2, d3) = (at(4 * r), at(4 * r + 1), at(4 * r + 2), at(4 * r + 3))
                            return (d0, d1 - d2 + d3, d1 + d2 - d0, -d3)
                        }
                        let f = (row(0), row(1), row(2), row(3))
                        // ... then down each column, added into the patch where it lies in the image.
                        let p = plane(dx, image: image, channel: c0, count: c, pixels: h * w)
                        func add(_ y: Int, _ x: Int, _ value: SIMD8<Float>) {
                            guard y >= 0 && y < h && x >= 0 && x < w else { return }
                            let q = p + (y * w + x) * block
                            store8(load8(q) + value, q)
                        }
                        func column(_ s: Int, _ e0: SIMD8<Float>, _ e1: SIMD8<Float>, _ e2: SIMD8<Float>, _ e3: SIMD8<Float>) {
                            add(y0, x0 + s, e0)
                            add(y0 + 1, x0 + s, e1 - e2 + e3)
                            add(y0 + 2, x0 + s, e1 + e2 - e0)
                            add(y0 + 3, x0 + s, -e3)
                        }
                        column(0, f.0.0, f.1.0, f.2.0, f.3.0)
                        column(1, f.0.1, f.1.1, f.2.1, f.3.1)
                        column(2, f.0.2, f.1.2, f.2.2, f.3.2)
                        column(3, f.0.3, f.1.3, f.2.3, f.3.3)
                    }
                }
            }
        }
    }
}

@inline(__always)
private func load8(_ p: UnsafePointer<Float>) -> SIMD8<Float> { UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self) }

@inline(__always)
private func load8(_ p: UnsafeMutablePointer<Float>) -> SIMD8<Float> { UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self) }

@inline(__always)
private func store8(_ value: SIMD8<Float>, _ p: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: value, as: SIMD8<Float>.self)
}
