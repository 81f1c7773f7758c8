import AlexNetCore
import AlexNetNetwork
import AlexNetTraining

/// A convolution's kernels as a picture, like the paper's Figure 3: one tile per output
/// channel, each scaled to its own range (its smallest weight black, its largest white), enlarged
/// so that small kernels are visible. Kernels over three input channels are drawn in colour
/// (channel 0 red, 1 green, 2 blue); over one, in gray; over more (a deeper layer), as the mean
/// over their input channels, in gray. Where the next convolution groups its input (the paper's
/// two towers), each group of kernels is its own block.
public struct FilterGrid {
    /// How the kernels' input channels became a tile.
    public enum Rendering: String, Sendable {
        case rgb = "colour (input channels as red, green, blue)"
        case gray = "gray (one input channel)"
        case meanOverInputs = "gray (the mean over each kernel's input channels)"
    }

    public let layer: String
    /// `[outputs, inputsPerGroup, k, k]` as the flat buffer holds them (groups folded into outputs).
    public let kernels: [Float]
    public let outputs: Int
    public let inputs: Int
    public let size: Int
    /// Blocks drawn apart: the next convolution's groups (1 when it has none).
    public let blocks: Int

    public var rendering: Rendering { inputs == 3 ? .rgb : inputs == 1 ? .gray : .meanOverInputs }

    /// The kernels of convolution `layer` (the first one when nil) of `network`, read from the
    /// host copy of `plan`'s parameters.
    public init(network: ResolvedNetwork, plan: any Plan, layer name: String? = nil) throws {
        let convolutions = network.layers.filter { $0.layer is Convolution }
        guard let layer = name.map({ name in convolutions.first { $0.name == name } }) ?? convolutions.first else {
            let names = convolutions.map(\.name).joined(separator: ", ")
            throw FileError(name ?? network.network.name, names.isEmpty
                ? "is not a convolution: \(network.network.name) has none"
                : "is not a convolution of \(network.network.name); its convolutions are \(names)")
        }
        plan.copyToHost()
        let weight = layer.slots[0]
        let shape = weight.spec.shape
        self.layer = layer.name
        kernels = Array(plan.parameters.view(offset: weight.offset, count: weight.count))
        outputs = layer.outputShape.image!.channels
        size = shape[shape.count - 1]
        inputs = shape[shape.count - 3]
        let next = network.layers.dropFirst(layer.index + 1).first { $0.layer is Convolution }
        blocks = (next?.layer as? Convolution).map { max($0.groups, 1) } ?? 1
    }

    /// Pixels per kernel element: an 11x11 kernel becomes 44x44, a 3x3 one 48x48.
    public var scale: Int { max(3, 48 / size) }

    /// The grid as a PNG.
    public func png() -> [UInt8] {
        let tile = size * scale, gap = 2, blockGap = 14, title = 16
        let perBlock = outputs / blocks
        // Rows of 12 where they come out even (the paper's 2 x 48 kernels: two blocks of 4 x 12).
        let columns = perBlock >= 24 && perBlock % 12 == 0 ? 12 : min(perBlock, Int((2 * Double(perBlock)).squareRoot().rounded(.up)))
        let rowsPerBlock = (perBlock + columns - 1) / columns
        let blockHeight = rowsPerBlock * (tile + gap)
        let width = columns * (tile + gap) + gap
        let height = title + blocks * blockHeight + (blocks - 1) * blockGap + gap
        var canvas = Canvas(width: width, height: height, background: (255, 255, 255))
        let label = "\(layer): \(outputs) kernels of \(inputs)x\(size)x\(size)" + (blocks > 1 ? " in \(blocks) towers" : "")  // (the font has no comma)
        canvas.text(label, x: gap, y: 4)
        for output in 0..<outputs {
            let (block, index) = (output / perBlock, output % perBlock)
            let x0 = gap + (index % columns) * (tile + gap)
            let y0 = title + block * (blockHeight + blockGap) + (index / columns) * (tile + gap)
            for (y, x, color) in pixels(of: output) {
                canvas.fill(x: x0 + x * scale, y: y0 + y * scale, width: scale, height: scale, color)
            }
        }
        return canvas.png
    }

    /// Kernel `output`'s pixels, scaled to its own range.
    func pixels(of output: Int) -> [(Int, Int, Canvas.Color)] {
        let plane = size * size
        let base = output * inputs * plane
        let channels = rendering == .rgb ? 3 : 1
        var values = [Float](repeating: 0, count: channels * plane)
        for p in 0..<plane {
            if channels == 3 {
                for c in 0..<3 { values[c * plane + p] = kernels[base + c * plane + p] }
            } else {
                var sum: Float = 0
                for c in 0..<inputs { sum += kernels[base + c * plane + p] }
                values[p] = sum / Float(inputs)
            }
        }
        let low = values.min() ?? 0, high = values.max() ?? 0
        let span = high > low ? high - low : 1
        func byte(_ value: Float) -> UInt8 { UInt8(max(0, min(255, ((value - low) / span * 255).rounded()))) }
        return (0..<plane).map { p in
            let color: Canvas.Color = channels == 3
                ? (byte(values[p]), byte(values[plane + p]), byte(values[2 * plane + p]))
                : (byte(values[p]), byte(values[p]), byte(values[p]))
            return (p / size, p % size, color)
        }
    }
}
