import AlexNetCore

/// Dropout (the paper, section 4.2): in training each value is zeroed with probability `p`;
/// a dropped unit outputs zero and gets no gradient.
///
/// We use **inverted dropout**: kept values are scaled by 1 / (1 - p) while training, so
/// evaluation is the identity. The paper instead multiplies every output by 1 - p (0.5) at test
/// time; both give the same expectation.
///
/// The mask is a pure function of (seed, step, layer index, element index) through the
/// counter-based `Philox` generator: backward regenerates it instead of storing it, any
/// backend can reproduce it exactly, and a resumed run draws the same masks.
public struct Dropout: Layer {
    public static let kind = "dropout"

    public var probability: Float

    public init(probability: Float = 0.5) { self.probability = probability }

    public init(attributes a: inout Attributes) throws {
        self.init(probability: try a.float("p", default: 0.5))
    }

    public var attributes: [(key: String, value: String)] { [(key: "p", value: formatted(probability))] }
    public var configuration: String { "p \(formatted(probability))" }

    public func outputShape(for input: Shape) throws(ShapeError) -> Shape {
        guard probability >= 0, probability <= 1 else {
            throw ShapeError("p=\(probability) is not a probability")
        }
        return input
    }

    /// Writes the factor each element is multiplied by in training: 0 if dropped, 1 / (1 - p)
    /// if kept. Element i is dropped when the uniform number made of word i % 4 of Philox block
    /// i / 4 is below p. Every backend fills its masks with this function. A batch that is a
    /// slice of a larger one (`context.firstRow` > 0, rows of `rowLength` elements) continues
    /// the larger batch's numbering, so its rows get the masks they would have had there.
    public func fillMask(_ mask: UnsafeMutableBufferPointer<Float>, rowLength: Int, context: PassContext) {
        let rng = Philox(seed: context.seed,
                         stream: RandomStream.dropout(layer: context.layerIndex, step: context.step))
        let keep: Float = probability < 1 ? 1 / (1 - probability) : 0
        let threshold = probability * 16_777_216  // p scaled to 24-bit integers
        @inline(__always) func factor(_ word: UInt32) -> Float { Float(word >> 8) < threshold ? 0 : keep }
        let first = context.firstRow * rowLength
        var i = 0
        // A slice that starts inside a block: its first elements one at a time.
        while i < mask.count && (first + i) % 4 != 0 {
            let words = rng.block(at: UInt64((first + i) / 4))
            mask[i] = factor([words.0, words.1, words.2, words.3][(first + i) % 4])
            i += 1
        }
        while i < mask.count {
            let words = rng.block(at: UInt64((first + i) / 4))
            mask[i] = factor(words.0)
            if i + 1 < mask.count { mask[i + 1] = factor(words.1) }
            if i + 2 < mask.count { mask[i + 2] = factor(words.2) }
            if i + 3 < mask.count { mask[i + 3] = factor(words.3) }
            i += 4
        }
    }

    /// The mask as an array (see `fillMask`).
    public func mask(count: Int, rowLength: Int, context: PassContext) -> [Float] {
        var mask = [Float](repeating: 0, count: count)
        mask.withUnsafeMutableBufferPointer { fillMask($0, rowLength: rowLength, context: context) }
        return mask
    }

    public func forward(_ x: Tensor, parameters: LayerParameters, context: PassContext) -> Tensor {
        guard context.isTraining, probability > 0 else { return x }
        return Tensor(shape: x.shape, scalars: zip(x.scalars, mask(count: x.count, rowLength: x.count / max(x.shape[0], 1), context: context)).map(*))
    }

    public func backward(input x: Tensor, output y: Tensor, outputGradient dy: Tensor,
                         parameters: LayerParameters, context: PassContext) -> Tensor {
        guard context.isTraining, probability > 0 else { return dy }
        return Tensor(shape: x.shape, scalars: zip(dy.scalars, mask(count: x.count, rowLength: x.count / max(x.shape[0], 1), context: context)).map(*))
    }
}
