import AlexNetBackends
import AlexNetCore
import AlexNetData
import AlexNetNetwork
import AlexNetTraining

/// Where the network looks: Grad-CAM (Selvaraju et al., "Grad-CAM: Visual Explanations from Deep
/// Networks via Gradient-based Localization", ICCV 2017). For a class c and the activations A
/// of a convolutional layer (after its ReLU, C maps of H x W), each map k weighs
/// α_k = mean over (i, j) of ∂y_c/∂A_kij, where y_c is the class's logit (before the softmax),
/// and the heat map is ReLU(Σ_k α_k A_k), scaled so that its largest value is 1.
///
/// The network is cut after the layer: an inference plan of the first part gives A, and an
/// attribution plan of the rest (evaluation mode: dropout left out, batch norm with its running
/// statistics) gives the logits and, from
/// backward with a one-hot output gradient, ∂y_c/∂A. Both run on the chosen backend; no math
/// is written twice.
public final class GradCAM {
    /// One image's explanation.
    public struct Map: Sendable {
        /// The class explained and its softmax probability.
        public var label: Int
        public var probability: Float
        /// The heat map, `height x width` in [0, 1], over the network's input crop.
        public var heat: [Float]
        public var width: Int
        public var height: Int
        /// The image as the network saw it (resized and centre-cropped, not normalised).
        public var crop: Image
    }

    public let model: TrainedModel
    /// The layer whose activations are weighed (the last convolution's ReLU by default).
    public let layer: String
    private let preprocessing: Preprocessing
    private let head: any Plan
    private let tail: any Plan
    private let inputShape: Shape

    /// Grad-CAM of `model` on the output of `layer` (nil: the last convolution, after its ReLU).
    public init(model: TrainedModel, layer: String? = nil, backend: any Backend = CPUBackend()) throws {
        self.model = model
        let network = model.network
        let name = try layer ?? network.layers.last(where: { $0.layer is Convolution }).map(\.name) ?? {
            throw NetworkError.unknownLayer("(a convolution)", network: network.name, layers: network.layers.map(\.name))
        }()
        let index = try network.featureLayerIndex(named: name)
        let headNetwork = try network.prefix(through: index).resolved()
        guard headNetwork.outputShape.dimensions.count == 3 else {
            throw GradCAMError("layer '\(headNetwork.layers.last!.name)' gives \(headNetwork.outputShape), not maps of C x H x W: "
                + "Grad-CAM needs a convolutional layer")
        }
        let tailNetwork = try network.suffix(after: index, inputShape: headNetwork.outputShape, evaluation: true).resolved()
        guard !tailNetwork.layers.isEmpty else { throw GradCAMError("'\(name)' is the network's last layer: nothing follows it to explain") }
        self.layer = headNetwork.layers.last!.name
        preprocessing = model.preprocessing.fitted(to: network.inputShape)
        try preprocessing.validate()
        inputShape = network.inputShape
        let (_, host) = try model.onHost()
        head = try backend.makePlan(for: headNetwork, batchSize: 1, mode: .inference, seed: 0)
        tail = try backend.makePlan(for: tailNetwork, batchSize: 1, mode: .attribution, seed: 0)
        FeatureExtractor.copyTensors(from: host, into: head)
        FeatureExtractor.copyTensors(from: host, into: tail)
    }

    /// The heat map of `image` for class `label` (nil: the most probable class).
    public func map(of image: Image, label: Int? = nil, source: String = "image") throws -> Map {
        let classes = tail.network.outputShape.elementCount
        if let label, !(0..<classes).contains(label) { throw GradCAMError("class \(label) is outside the model's 0..<\(classes)") }
        let input = try preprocessing.evaluationInput(for: image, as: inputShape, source: source)
        let activations = try head.infer(Tensor(shape: [1] + inputShape.dimensions, scalars: input))
        let logits = try tail.infer(activations)
        let probabilities = Classifier.softmax(logits.scalars, classes: classes)
        let chosen = label ?? probabilities.indices.max { probabilities[$0] < probabilities[$1] }!
        var oneHot = [Float](repeating: 0, count: classes)
        oneHot[chosen] = 1
        let gradient = try tail.inputGradient(input: activations, outputGradient: Tensor(shape: [1, classes], scalars: oneHot))
        let dims = activations.shape
        let (maps, height, width) = (dims[1], dims[2], dims[3])
        let area = height * width
        var heat = [Float](repeating: 0, count: area)
        for k in 0..<maps {
            var weight: Float = 0
            for p in 0..<area { weight += gradient.scalars[k * area + p] }
            weight /= Float(area)
            for p in 0..<area { heat[p] += weight * activations.scalars[k * area + p] }
        }
        let peak = heat.max() ?? 0
        for p in 0..<area { heat[p] = peak > 0 ? max(heat[p], 0) / peak : 0 }
        let crop = try preprocessing.geometry(image, training: false, random: Philox(seed: 0), index: 0, source: source)
        return Map(label: chosen, probability: probabilities[chosen], heat: heat, width: width, height: height, crop: crop)
    }
}

extension GradCAM.Map {
    /// Each map as a row: the crop and the crop with the heat map over it (blue cold to red hot),
    /// `size` pixels each, with the class, its probability and the image's name above; a PNG.
    public static func png(_ rows: [(map: GradCAM.Map, className: String, title: String)], layer: String, size: Int = 224) -> [UInt8] {
        let gap = 12, top = 30
        let rowHeight = size + top + gap
        var canvas = Canvas(width: 2 * size + 3 * gap, height: max(1, rows.count) * rowHeight)
        for (r, row) in rows.enumerated() {
            let map = row.map, y = r * rowHeight
            let picture = Resampler(from: (map.crop.width, map.crop.height), to: (size, size))(map.crop.withChannels(3))
            let heat = upsampled(map.heat, width: map.width, height: map.height, to: size)
            var blended = picture.pixels
            for p in 0..<(size * size) {
                let color = jet(heat[p])
                for (c, value) in [color.r, color.g, color.b].enumerated() {
                    blended[p * 3 + c] = UInt8((Float(picture.pixels[p * 3 + c]) * 0.5 + Float(value) * 0.5).rounded())
                }
            }
            canvas.text("\(row.title.suffix(30)): \(row.className) " + String(format: "%.1f%%", map.probability * 100),
                        x: canvas.width / 2, y: y + 4, anchor: .center)
            canvas.text("grad-cam on \(layer), \(map.width)x\(map.height) maps", x: canvas.width / 2, y: y + 16, (110, 110, 110), anchor: .center)
            canvas.draw(picture, fittedInto: size, x: gap, y: y + top)
            canvas.draw(Image(width: size, height: size, channels: 3, pixels: blended), fittedInto: size, x: 2 * gap + size, y: y + top)
        }
        return canvas.png
    }

    /// Bilinear upsampling of a `width x height` map to `size x size` (pixel centres at
    /// half-integers, as PyTorch's `align_corners=False`).
    static func upsampled(_ map: [Float], width: Int, height: Int, to size: Int) -> [Float] {
        func taps(_ x: Int, _ input: Int) -> (Int, Int, Float) {
            let position = min(max((Float(x) + 0.5) * Float(input) / Float(size) - 0.5, 0), Float(input - 1))
            let low = Int(position)
            return (low, min(low + 1, input - 1), position - Float(low))
        }
        var out = [Float](repeating: 0, count: size * size)
        for y in 0..<size {
            let (y0, y1, fy) = taps(y, height)
            for x in 0..<size {
                let (x0, x1, fx) = taps(x, width)
                let upper = map[y0 * width + x0] * (1 - fx) + map[y0 * width + x1] * fx
                let lower = map[y1 * width + x0] * (1 - fx) + map[y1 * width + x1] * fx
                out[y * size + x] = upper * (1 - fy) + lower * fy
            }
        }
        return out
    }

    /// The "jet" colour map: 0 dark blue, 0.5 green-yellow, 1 dark red.
    static func jet(_ v: Float) -> Canvas.Color {
        func channel(_ center: Float) -> UInt8 { UInt8(max(0, min(1, 1.5 - abs(4 * v - center))) * 255) }
        return (channel(3), channel(2), channel(1))
    }
}

/// A Grad-CAM that cannot be made, with why.
public struct GradCAMError: Error, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}
