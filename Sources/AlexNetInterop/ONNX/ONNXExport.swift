import AlexNetCore
import AlexNetNetwork
import FoundationEssentials
import SwiftProtobuf

/// Writes a network and its weights as an ONNX model (IR version 7, opset 13) that ONNX
/// Runtime, TensorRT, OpenVINO and netron read.
///
/// The graph takes `input` (`[batch, C, H, W]`, float32, the batch size symbolic) and gives
/// `logits` (`[batch, classes]`) and `probabilities` (their softmax). Every layer becomes the
/// ONNX operator with the same math, named after the layer, its output value named after the
/// layer too; weights are initializers under the network's tensor names (`conv1.weight`,
/// torchvision's `features.0.weight`). Inference semantics throughout: dropout is the identity,
/// batch norm uses its running statistics.
///
/// Three layers need translating rather than copying:
/// - **LRN**: ONNX scales the sum of squares by alpha / size, PyTorch's convention; a network
///   in the paper's convention (alpha multiplies the sum) is written with alpha * size. ONNX
///   centres even-sized windows differently from PyTorch, so an even `size` is refused.
/// - **Adaptive average pooling** has no ONNX operator. The input size is fixed when exporting,
///   so it becomes nothing (input already the output size), an `AveragePool` (input a multiple
///   of the output), or otherwise a `MatMul` with the matrix of PyTorch's overlapping bins.
/// - **Batch norm's momentum** weighs the running statistic in ONNX, the new batch in PyTorch
///   (and here): ONNX's is 1 - ours. It only matters for training.
///
/// With a `Quantization` (an int8 model from `alexnet quantize`) the graph is ONNX's QDQ form of
/// the int8 plan's math, which ONNX Runtime and TensorRT run as integer kernels: each quantized
/// tensor passes through a QuantizeLinear/DequantizeLinear pair with its step (u8 after a ReLU,
/// s8 otherwise, zero point 0), max pooling and flatten keep their input's step, convolution and
/// linear weights are s8 initializers with per-output-channel scales (DequantizeLinear, axis 0)
/// and biases int32 in steps of input scale x weight scale; dropout is left out.
public enum ONNXExport {
    public static let opsetVersion: Int64 = 13
    public static let irVersion: Int64 = 7

    /// The steps of an int8 model's quantized tensors.
    public struct Quantization: Sendable, Equatable {
        /// One step of a quantized tensor: the real value of one integer, and whether it is u8.
        public struct Step: Sendable, Equatable {
            public var scale: Float
            public var isUnsigned: Bool
            public init(scale: Float, isUnsigned: Bool) {
                self.scale = scale
                self.isUnsigned = isUnsigned
            }
        }
        /// By tensor: "input" for the network's input, otherwise the name of the layer whose
        /// output it is.
        public var steps: [String: Step]
        public init(steps: [String: Step]) { self.steps = steps }
    }

    /// The model's bytes. `tensor(slot)` gives the values of each of the network's tensors
    /// (trainable and state); `metadata` goes to the model's `metadata_props`.
    public static func serialize(
        _ network: ResolvedNetwork, metadata: [String: String] = [:], quantization: Quantization? = nil,
        tensor: (ParameterSlot) -> UnsafeBufferPointer<Float>
    ) throws(ONNXExportError) -> [UInt8] {
        var builder = GraphBuilder()
        builder.quantization = quantization
        builder.graph.name = network.network.name
        builder.graph.docString = network.network.description
        builder.graph.input = [valueInfo("input", [.named("batch")] + network.inputShape.dimensions.map { .fixed($0) })]
        var value = builder.requantized("input", after: "input", passesStepThrough: false)
        for layer in network.layers {
            if quantization != nil, layer.layer is Dropout { continue }  // the identity in inference
            let input = value
            value = try builder.add(layer, input: value, slots: layer.slots, tensor: tensor)
            if value != input {
                let passesStepThrough = layer.layer is MaxPool || layer.layer is Flatten
                value = builder.requantized(value, after: layer.name, passesStepThrough: passesStepThrough)
            }
        }
        let classes = network.outputShape.dimensions
        guard classes.count == 1 else {
            throw ONNXExportError(layer: network.layers.last!.name, "the network's output \(network.outputShape) is not a vector of class scores")
        }
        builder.rename(value, to: "logits")
        builder.node("Softmax", name: "softmax", inputs: ["logits"], output: "probabilities", [int("axis", 1)])
        builder.graph.output = [valueInfo("logits", [.named("batch"), .fixed(classes[0])]),
                                valueInfo("probabilities", [.named("batch"), .fixed(classes[0])])]

        var model = Onnx_ModelProto()
        model.irVersion = irVersion
        model.producerName = "alexnet-swift"
        model.producerVersion = "1"
        model.modelVersion = 1
        model.docString = network.network.description
        var opset = Onnx_OperatorSetIdProto()
        opset.domain = ""
        opset.version = opsetVersion
        model.opsetImport = [opset]
        model.graph = builder.graph
        model.metadataProps = metadata.sorted { $0.key < $1.key }.map { key, value in
            var entry = Onnx_StringStringEntryProto()
            entry.key = key
            entry.value = value
            return entry
        }
        do {
            return try model.serializedBytes()
        } catch {
            throw ONNXExportError(layer: "", "the model cannot be encoded: \(error)")
        }
    }

    /// Serializes and writes atomically to `path`.
    public static func write(
        _ network: ResolvedNetwork, metadata: [String: String] = [:], quantization: Quantization? = nil, to path: String,
        tensor: (ParameterSlot) -> UnsafeBufferPointer<Float>
    ) throws {
        let bytes = try serialize(network, metadata: metadata, quantization: quantization, tensor: tensor)
        try AtomicFile.write(bytes: bytes, to: path)
    }
}

/// A layer that ONNX cannot express as we have it, named.
public struct ONNXExportError: Error, CustomStringConvertible, Equatable {
    public var layer: String
    public var message: String
    public init(layer: String, _ message: String) {
        self.layer = layer
        self.message = message
    }
    public var description: String { layer.isEmpty ? "ONNX export: \(message)" : "ONNX export of layer '\(layer)': \(message)" }
}

private enum Dimension {
    case fixed(Int)
    case named(String)
}

private func valueInfo(_ name: String, _ dimensions: [Dimension]) -> Onnx_ValueInfoProto {
    var shape = Onnx_TensorShapeProto()
    shape.dim = dimensions.map { dimension in
        var d = Onnx_TensorShapeProto.Dimension()
        switch dimension {
        case .fixed(let size): d.dimValue = Int64(size)
        case .named(let name): d.dimParam = name
        }
        return d
    }
    var tensorType = Onnx_TypeProto.Tensor()
    tensorType.elemType = Int32(Onnx_TensorProto.DataType.float.rawValue)
    tensorType.shape = shape
    var info = Onnx_ValueInfoProto()
    info.name = name
    info.type.tensorType = tensorType
    return info
}

/// TensorProto.DataType's numbers for the element types the QDQ form writes (our schema's
/// subset names only float and int64).
private enum ElementType: Int32 {
    case float = 1
    case uint8 = 2
    case int8 = 3
    case int32 = 6
}

private func bytes<T>(of values: [T]) -> [UInt8] { values.withUnsafeBytes { Array($0) } }

private func int(_ name: String, _ value: Int) -> Onnx_AttributeProto {
    var a = Onnx_AttributeProto()
    a.name = name
    a.type = .int
    a.i = Int64(value)
    return a
}

private func ints(_ name: String, _ values: [Int]) -> Onnx_AttributeProto {
    var a = Onnx_AttributeProto()
    a.name = name
    a.type = .ints
    a.ints = values.map(Int64.init)
    return a
}

private func float(_ name: String, _ value: Float) -> Onnx_AttributeProto {
    var a = Onnx_AttributeProto()
    a.name = name
    a.type = .float
    a.f = value
    return a
}

private struct GraphBuilder {
    var graph = Onnx_GraphProto()
    var quantization: ONNXExport.Quantization?
    /// The step of the value the last layer wrote, when it is quantized.
    var currentStep: ONNXExport.Quantization.Step?

    /// `value`, written by layer `layer` (or the input), through a QuantizeLinear/DequantizeLinear
    /// pair when it is quantized: with its own step when the quantization names it, with its
    /// input's when the layer passes the step through (max pooling, flatten).
    mutating func requantized(_ value: String, after layer: String, passesStepThrough: Bool) -> String {
        guard let quantization else { return value }
        guard let step = quantization.steps[layer] ?? (passesStepThrough ? currentStep : nil) else {
            currentStep = nil
            return value
        }
        currentStep = step
        let type: ElementType = step.isUnsigned ? .uint8 : .int8
        [step.scale].withUnsafeBufferPointer { initializer("\(layer).output_scale", shape: [], values: $0) }
        initializer("\(layer).output_zero_point", shape: [], type: type, bytes: [0])
        node("QuantizeLinear", name: "\(layer).quantize", inputs: [value, "\(layer).output_scale", "\(layer).output_zero_point"],
             output: "\(layer).quantized")
        node("DequantizeLinear", name: "\(layer).dequantize", inputs: ["\(layer).quantized", "\(layer).output_scale", "\(layer).output_zero_point"],
             output: "\(layer).dequantized")
        return "\(layer).dequantized"
    }

    /// A convolution's or linear layer's tensors in QDQ form: the weights s8 per output channel
    /// dequantized into a value named like the float initializer, the bias int32 in steps of
    /// input step x weight scale (f32 when the input is not quantized).
    mutating func quantizedInitializers(_ slots: [ParameterSlot], tensor: (ParameterSlot) -> UnsafeBufferPointer<Float>) {
        let weight = slots[0]
        let outputs = weight.spec.shape[0]
        let (q, scales) = SymmetricInt8.perOutputChannel(Array(tensor(weight)), outputs: outputs)
        initializer("\(weight.name)_quantized", shape: weight.spec.shape, type: .int8, bytes: bytes(of: q))
        scales.withUnsafeBufferPointer { initializer("\(weight.name)_scale", shape: [outputs], values: $0) }
        initializer("\(weight.name)_zero_point", shape: [outputs], type: .int8, bytes: [UInt8](repeating: 0, count: outputs))
        node("DequantizeLinear", name: "\(weight.name).dequantize",
             inputs: ["\(weight.name)_quantized", "\(weight.name)_scale", "\(weight.name)_zero_point"], output: weight.name, [int("axis", 0)])
        guard slots.count > 1 else { return }
        let bias = slots[1]
        guard let input = currentStep else {
            initializer(bias.name, shape: bias.spec.shape, values: tensor(bias))
            return
        }
        let biasScales = scales.map { $0 * input.scale }
        let values = tensor(bias)
        let integers = (0..<outputs).map { Int32(max(-2.1e9, min(2.1e9, (values[$0] / biasScales[$0]).rounded()))) }
        initializer("\(bias.name)_quantized", shape: [outputs], type: .int32, bytes: bytes(of: integers))
        biasScales.withUnsafeBufferPointer { initializer("\(bias.name)_scale", shape: [outputs], values: $0) }
        node("DequantizeLinear", name: "\(bias.name).dequantize", inputs: ["\(bias.name)_quantized", "\(bias.name)_scale"],
             output: bias.name, [int("axis", 0)])
    }

    mutating func initializer(_ name: String, shape: [Int], type: ElementType, bytes: [UInt8]) {
        var t = Onnx_TensorProto()
        t.name = name
        t.dims = shape.map(Int64.init)
        t.dataType = type.rawValue
        t.rawData = Data(bytes)  // little-endian, this machine's layout
        graph.initializer.append(t)
    }

    mutating func node(_ op: String, name: String, inputs: [String], output: String, _ attributes: [Onnx_AttributeProto] = []) {
        var node = Onnx_NodeProto()
        node.opType = op
        node.name = name
        node.input = inputs
        node.output = [output]
        node.attribute = attributes
        graph.node.append(node)
    }

    mutating func initializer(_ name: String, shape: [Int], values: UnsafeBufferPointer<Float>) {
        initializer(name, shape: shape, type: .float, bytes: Array(UnsafeRawBufferPointer(values)))
    }

    mutating func initializer(_ name: String, int64s: [Int]) {
        var t = Onnx_TensorProto()
        t.name = name
        t.dims = [Int64(int64s.count)]
        t.dataType = Int32(Onnx_TensorProto.DataType.int64.rawValue)
        t.int64Data = int64s.map(Int64.init)
        graph.initializer.append(t)
    }

    /// Makes the last node that writes `value` write `name` instead.
    mutating func rename(_ value: String, to name: String) {
        guard let index = graph.node.lastIndex(where: { $0.output == [value] }) else {
            // The network is only identities: pass the input through.
            node("Identity", name: "logits", inputs: [value], output: name)
            return
        }
        graph.node[index].output = [name]
    }

    /// Adds the nodes of one layer reading `input`; returns the name of the value it writes.
    mutating func add(_ layer: ResolvedLayer, input: String, slots: [ParameterSlot],
                      tensor: (ParameterSlot) -> UnsafeBufferPointer<Float>) throws(ONNXExportError) -> String {
        let name = layer.name
        if quantization != nil, layer.layer is Convolution || layer.layer is Linear {
            quantizedInitializers(slots, tensor: tensor)
        } else {
            for slot in slots { initializer(slot.name, shape: slot.spec.shape, values: tensor(slot)) }
        }
        let parameters = slots.map(\.name)
        switch layer.layer {
        case let conv as Convolution:
            let p = conv.padding
            node("Conv", name: name, inputs: [input] + parameters, output: name, [
                ints("kernel_shape", [conv.kernelSize, conv.kernelSize]), ints("strides", [conv.stride, conv.stride]),
                ints("pads", [p, p, p, p]), ints("dilations", [1, 1]), int("group", conv.groups),
            ])
        case is ReLU:
            node("Relu", name: name, inputs: [input], output: name)
        case is Sigmoid:
            node("Sigmoid", name: name, inputs: [input], output: name)
        case is Tanh:
            node("Tanh", name: name, inputs: [input], output: name)
        case let lrn as LocalResponseNorm:
            guard lrn.size % 2 == 1 else {
                throw ONNXExportError(layer: name, "ONNX's LRN centres an even window (size \(lrn.size)) one channel later than this network does; only odd sizes export")
            }
            let alpha = lrn.convention == .paper ? lrn.alpha * Float(lrn.size) : lrn.alpha
            node("LRN", name: name, inputs: [input], output: name, [
                int("size", lrn.size), float("alpha", alpha), float("beta", lrn.beta), float("bias", lrn.k),
            ])
        case let pool as MaxPool:
            let p = pool.padding
            node("MaxPool", name: name, inputs: [input], output: name, [
                ints("kernel_shape", [pool.kernelSize, pool.kernelSize]), ints("strides", [pool.stride, pool.stride]),
                ints("pads", [p, p, p, p]),
            ])
        case let pool as AveragePool:
            let p = pool.padding
            node("AveragePool", name: name, inputs: [input], output: name, [
                ints("kernel_shape", [pool.kernelSize, pool.kernelSize]), ints("strides", [pool.stride, pool.stride]),
                ints("pads", [p, p, p, p]), int("count_include_pad", pool.includePadding ? 1 : 0),
            ])
        case let pool as AdaptiveAveragePool:
            return adaptivePool(pool, layer: layer, input: input)
        case is Flatten:
            node("Flatten", name: name, inputs: [input], output: name, [int("axis", 1)])
        case is Linear:
            // y = x W^T + b with W stored [out, in], as PyTorch keeps it.
            node("Gemm", name: name, inputs: [input] + parameters, output: name, [
                float("alpha", 1), float("beta", 1), int("transA", 0), int("transB", 1),
            ])
        case let dropout as Dropout:
            let ratio = "\(name).ratio"
            [dropout.probability].withUnsafeBufferPointer { initializer(ratio, shape: [], values: $0) }
            node("Dropout", name: name, inputs: [input, ratio], output: name)
        case let norm as BatchNorm:
            node("BatchNormalization", name: name, inputs: [input] + parameters, output: name, [
                float("epsilon", norm.epsilon), float("momentum", 1 - norm.momentum),
            ])
        default:
            throw ONNXExportError(layer: name, "no ONNX operator is written for \(layer.kind) layers")
        }
        return name
    }

    /// PyTorch's adaptive average pooling for a known input size.
    mutating func adaptivePool(_ pool: AdaptiveAveragePool, layer: ResolvedLayer, input: String) -> String {
        let (c, h, w) = layer.inputShape.image!
        let s = pool.outputSize
        let name = layer.name
        if h == s && w == s { return input }
        if h % s == 0 && w % s == 0 {
            node("AveragePool", name: name, inputs: [input], output: name, [
                ints("kernel_shape", [h / s, w / s]), ints("strides", [h / s, w / s]),
            ])
            return name
        }
        // Bins overlap or differ in size: y[n, c, :] = x[n, c, :] P with P[(row, col), (i, j)] =
        // 1 / |bin| when (row, col) lies in bin (i, j).
        func bin(_ i: Int, _ size: Int) -> Range<Int> { (i * size / s)..<(((i + 1) * size + s - 1) / s) }
        var matrix = [Float](repeating: 0, count: h * w * s * s)
        for i in 0..<s {
            for j in 0..<s {
                let rows = bin(i, h), cols = bin(j, w)
                let weight = 1 / Float(rows.count * cols.count)
                for row in rows { for col in cols { matrix[(row * w + col) * s * s + i * s + j] = weight } }
            }
        }
        matrix.withUnsafeBufferPointer { initializer("\(name).bins", shape: [h * w, s * s], values: $0) }
        initializer("\(name).flat_shape", int64s: [0, c, h * w])
        initializer("\(name).out_shape", int64s: [0, c, s, s])
        node("Reshape", name: "\(name).flatten", inputs: [input, "\(name).flat_shape"], output: "\(name).flat")
        node("MatMul", name: "\(name).pool", inputs: ["\(name).flat", "\(name).bins"], output: "\(name).pooled")
        node("Reshape", name: name, inputs: ["\(name).pooled", "\(name).out_shape"], output: name)
        return name
    }
}
