import AlexNetCore

/// 2-D convolution (cross-correlation, as every framework computes it), square kernels.
///
///     y[n, o, i, j] = b[o] + sum over c in group(o), u, v of
///                     w[o, c, u, v] * x[n, g(o)*Cg + c, i*s - p + u, j*s - p + v]
///
/// with zero padding `p`, stride `s`, and `groups` G: the input channels are split into G
/// equal groups of Cg = C/G, and output channel `o` sees only group g(o) = o / (O/G). The
/// paper's two-GPU towers are groups = 2. Output size: floor((H + 2p - k) / s) + 1.
/// Weights are `[O, C/G, k, k]` (PyTorch's OIHW), bias `[O]`.
public struct Convolution: Layer {
    public static let kind = "conv"

    public var outputChannels: Int
    public var kernelSize: Int
    public var stride: Int
    public var padding: Int
    public var groups: Int
    public var hasBias: Bool

    public init(outputChannels: Int, kernelSize: Int, stride: Int = 1, padding: Int = 0,
                groups: Int = 1, hasBias: Bool = true) {
        self.outputChannels = outputChannels
        self.kernelSize = kernelSize
        self.stride = stride
        self.padding = padding
        self.groups = groups
        self.hasBias = hasBias
    }

    public init(attributes a: inout Attributes) throws {
        self.init(outputChannels: try a.int("out"), kernelSize: try a.int("kernel"),
                  stride: try a.int("stride", default: 1), padding: try a.int("pad", default: 0),
                  groups: try a.int("groups", default: 1), hasBias: try a.bool("bias", default: true))
    }

    public var attributes: [(key: String, value: String)] {
        var list = [("out", "\(outputChannels)"), ("kernel", "\(kernelSize)")]
        if stride != 1 { list.append(("stride", "\(stride)")) }
        if padding != 0 { list.append(("pad", "\(padding)")) }
        if groups != 1 { list.append(("groups", "\(groups)")) }
        if !hasBias { list.append(("bias", "false")) }
        return list.map { (key: $0.0, value: $0.1) }
    }

    public var configuration: String {
        "\(kernelSize)x\(kernelSize)/\(stride) p\(padding)" + (groups > 1 ? " g\(groups)" : "")
    }

    public func outputShape(for input: Shape) throws(ShapeError) -> Shape {
        guard let (c, h, w) = input.image else {
            throw ShapeError("needs a CxHxW input, got \(input)")
        }
        guard outputChannels > 0, kernelSize > 0, stride > 0, padding >= 0, groups > 0 else {
            throw ShapeError("out, kernel, stride and groups must be positive and pad not negative")
        }
        guard c % groups == 0, outputChannels % groups == 0 else {
            throw ShapeError("groups=\(groups) must divide both the \(c) input and the \(outputChannels) output channels")
        }
        guard h + 2 * padding >= kernelSize, w + 2 * padding >= kernelSize else {
            throw ShapeError("a \(kernelSize)x\(kernelSize) kernel does not fit a \(h)x\(w) input with padding \(padding)")
        }
        return Shape(channels: outputChannels,
                     height: (h + 2 * padding - kernelSize) / stride + 1,
                     width: (w + 2 * padding - kernelSize) / stride + 1)
    }

    public func parameters(for input: Shape) -> [ParameterSpec] {
        let inputsPerGroup = input.dimensions[0] / groups
        let area = kernelSize * kernelSize
        var specs = [ParameterSpec(name: "weight", shape: [outputChannels, inputsPerGroup, kernelSize, kernelSize],
                                   role: .weight, fanIn: inputsPerGroup * area, fanOut: outputChannels * area)]
        if hasBias {
            specs.append(ParameterSpec(name: "bias", shape: [outputChannels], role: .bias,
                                       fanIn: inputsPerGroup * area, fanOut: outputChannels * area))
        }
        return specs
    }

    public func multiplyAccumulates(for input: Shape) -> Int {
        guard let output = try? outputShape(for: input) else { return 0 }
        return output.elementCount * (input.dimensions[0] / groups) * kernelSize * kernelSize
    }

    /// Sizes of one call, and the one loop nest both passes share: it visits every
    /// (example, output position, input tap) pair that lies inside the unpadded input.
    private struct Geometry {
        let n, c, h, w, o, oh, ow, k, s, p, groups: Int
        var cg: Int { c / groups }
        var og: Int { o / groups }

        /// Calls `body(xIndex, wIndex, yIndex)` for every in-bounds multiply-accumulate.
        func forEachTap(_ body: (Int, Int, Int) -> Void) {
            for b in 0..<n {
                for oc in 0..<o {
                    let g = oc / og
                    for i in 0..<oh {
                        for j in 0..<ow {
                            let yIndex = ((b * o + oc) * oh + i) * ow + j
                            for ic in 0..<cg {
                                let channel = g * cg + ic
                                for u in 0..<k {
                                    let row = i * s - p + u
                                    if row < 0 || row >= h { continue }
                                    for v in 0..<k {
                                        let col = j * s - p + v
                                        if col < 0 || col >= w { continue }
                                        body(((b * c + channel) * h + row) * w + col,
                                             ((oc * cg + ic) * k + u) * k + v, yIndex)
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    private func geometry(_ x: Tensor) -> Geometry {
        let out = try! outputShape(for: Shape(Array(x.shape.dropFirst())))
        return Geometry(n: x.shape[0], c: x.shape[1], h: x.shape[2], w: x.shape[3],
                        o: outputChannels, oh: out.dimensions[1], ow: out.dimensions[2],
                        k: kernelSize, s: stride, p: padding, groups: groups)
    }

    /// Sums are accumulated in Double so the oracle is more precise than what it checks.
    public func forward(_ x: Tensor, parameters: LayerParameters, context: PassContext) -> Tensor {
        let g = geometry(x)
        let weight = parameters.values[0]
        var sums = [Double](repeating: 0, count: g.n * g.o * g.oh * g.ow)
        x.scalars.withUnsafeBufferPointer { x in
            sums.withUnsafeMutableBufferPointer { y in
                g.forEachTap { xi, wi, yi in y[yi] += Double(weight[wi]) * Double(x[xi]) }
                if hasBias {
                    let bias = parameters.values[1]
                    for index in 0..<y.count { y[index] += Double(bias[(index / (g.oh * g.ow)) % g.o]) }
                }
            }
        }
        return Tensor(shape: [g.n, g.o, g.oh, g.ow], scalars: sums.map { Float($0) })
    }

    /// dx[x tap] += w * dy;  dw[w tap] += x * dy;  db[o] += sum of dy over n, i, j
    /// (summed in Double, then added to the gradients).
    public func backward(input x: Tensor, output y: Tensor, outputGradient dy: Tensor,
                         parameters: LayerParameters, context: PassContext) -> Tensor {
        let g = geometry(x)
        let weight = parameters.values[0], weightGradient = parameters.gradients[0]
        var dx = [Double](repeating: 0, count: x.count)
        var dw = [Double](repeating: 0, count: weightGradient.count)
        var db = [Double](repeating: 0, count: g.o)
        x.scalars.withUnsafeBufferPointer { x in
            dy.scalars.withUnsafeBufferPointer { dy in
                dx.withUnsafeMutableBufferPointer { dx in
                    dw.withUnsafeMutableBufferPointer { dw in
                        g.forEachTap { xi, wi, yi in
                            dx[xi] += Double(weight[wi]) * Double(dy[yi])
                            dw[wi] += Double(x[xi]) * Double(dy[yi])
                        }
                    }
                }
                for index in 0..<dy.count { db[(index / (g.oh * g.ow)) % g.o] += Double(dy[index]) }
            }
        }
        for i in 0..<dw.count { weightGradient[i] += Float(dw[i]) }
        if hasBias { for o in 0..<g.o { parameters.gradients[1][o] += Float(db[o]) } }
        return Tensor(shape: x.shape, scalars: dx.map { Float($0) })
    }
}
