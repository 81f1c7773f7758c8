import AlexNetBackends
import AlexNetCore
import AlexNetInterop
import AlexNetNetwork
import Foundation
import SwiftProtobuf
import Testing

@testable import AlexNetInterop

/// A small network with every layer kind the exporter knows, at an input size that makes the
/// adaptive pooling's bins overlap (so it needs the MatMul form).
func everyKindNetwork() -> Network {
    Network(name: "every-kind", description: "one of each layer", inputShape: Shape(channels: 3, height: 23, width: 23), layers: [
        NamedLayer("conv1", Convolution(outputChannels: 8, kernelSize: 5, stride: 2, padding: 2)),
        NamedLayer("bn1", BatchNorm(epsilon: 1e-3, momentum: 0.01)),
        NamedLayer("relu1", ReLU()),
        NamedLayer("lrn1", LocalResponseNorm(size: 5, alpha: 1e-2, beta: 0.75, k: 2, convention: .paper)),
        NamedLayer("pool1", MaxPool(kernelSize: 3, stride: 2, padding: 1)),
        NamedLayer("conv2", Convolution(outputChannels: 8, kernelSize: 3, padding: 1, groups: 2)),
        NamedLayer("tanh2", Tanh()),
        NamedLayer("lrn2", LocalResponseNorm(size: 3, alpha: 1e-2, beta: 0.5, k: 1, convention: .averaged)),
        NamedLayer("avg2", AveragePool(kernelSize: 2, stride: 1, padding: 1, includePadding: false)),
        NamedLayer("adapt", AdaptiveAveragePool(outputSize: 4)),
        NamedLayer("flatten", Flatten()),
        NamedLayer("drop", Dropout(probability: 0.3)),
        NamedLayer("fc1", Linear(outputFeatures: 12)),
        NamedLayer("bn2", BatchNorm()),
        NamedLayer("sigmoid", Sigmoid()),
        NamedLayer("fc2", Linear(outputFeatures: 5)),
    ])
}

/// A plan with random weights and non-trivial batch-norm statistics.
func randomPlan(_ network: ResolvedNetwork, backend: any Backend, batchSize: Int, seed: UInt64) throws -> any Plan {
    let plan = try backend.makePlan(for: network, batchSize: batchSize, seed: seed)
    let random = Philox(seed: seed, stream: 99)
    for slot in network.layout.slots where !slot.isTrainable {
        let view = plan.state.view(offset: slot.offset, count: slot.count)
        for i in 0..<slot.count {
            let u = random.uniform(at: UInt64(slot.offset + i))
            view[i] = slot.spec.role == .runningMean ? u - 0.5 : 0.5 + u
        }
    }
    return plan
}

func slotValues(_ plan: any Plan) -> (ParameterSlot) -> UnsafeBufferPointer<Float> {
    { slot in UnsafeBufferPointer((slot.isTrainable ? plan.parameters : plan.state).view(offset: slot.offset, count: slot.count)) }
}

@Suite struct ONNXExportTests {
    func attribute(_ node: Onnx_NodeProto, _ name: String) -> Onnx_AttributeProto? {
        node.attribute.first { $0.name == name }
    }

    @Test func everyLayerKindBecomesItsOperator() throws {
        let network = try everyKindNetwork().resolved()
        let plan = try randomPlan(network, backend: ReferenceBackend(), batchSize: 1, seed: 3)
        let bytes = try ONNXExport.serialize(network, metadata: ["class_names": "a\nb"], tensor: slotValues(plan))
        let model = try Onnx_ModelProto(serializedBytes: bytes)

        #expect(model.irVersion == 7)
        #expect(model.opsetImport.map(\.version) == [13])
        #expect(model.metadataProps.map(\.key) == ["class_names"])
        let graph = model.graph
        #expect(graph.node.map(\.opType) == [
            "Conv", "BatchNormalization", "Relu", "LRN", "MaxPool", "Conv", "Tanh", "LRN", "AveragePool",
            "Reshape", "MatMul", "Reshape", "Flatten", "Dropout", "Gemm", "BatchNormalization", "Sigmoid", "Gemm", "Softmax",
        ])
        // Values chain: each node reads what the one before it wrote, the last Gemm writes logits.
        for (before, node) in zip(graph.node, graph.node.dropFirst()) {
            #expect(node.input[0] == before.output[0], "\(node.name) reads \(node.input[0])")
        }
        #expect(graph.node[0].input[0] == "input")
        #expect(graph.node.last!.output == ["probabilities"])
        #expect(graph.node[graph.node.count - 2].output == ["logits"])
        #expect(graph.input.map(\.name) == ["input"])
        #expect(graph.input[0].type.tensorType.shape.dim.map(\.dimParam) == ["batch", "", "", ""])
        #expect(graph.input[0].type.tensorType.shape.dim.dropFirst().map(\.dimValue) == [3, 23, 23])
        #expect(graph.output.map(\.name) == ["logits", "probabilities"])
        #expect(graph.output[0].type.tensorType.shape.dim[1].dimValue == 5)

        // Attributes: the conv's group, pads, the LRN conventions, batch norm's momentum flip.
        let conv2 = graph.node[5]
        #expect(attribute(conv2, "group")?.i == 2)
        #expect(attribute(conv2, "pads")?.ints == [1, 1, 1, 1])
        #expect(attribute(graph.node[0], "strides")?.ints == [2, 2])
        let lrn1 = graph.node[3], lrn2 = graph.node[7]
        #expect(attribute(lrn1, "alpha")?.f == Float(1e-2) * 5, "paper convention: ONNX alpha = alpha * size")
        #expect(attribute(lrn1, "bias")?.f == 2)
        #expect(attribute(lrn2, "alpha")?.f == 1e-2, "PyTorch's convention is ONNX's")
        #expect(attribute(lrn2, "size")?.i == 3)
        #expect(attribute(graph.node[8], "count_include_pad")?.i == 0)
        #expect(attribute(graph.node[1], "momentum")?.f == 1 - 0.01)
        #expect(attribute(graph.node[1], "epsilon")?.f == 1e-3)
        #expect(attribute(graph.node[14], "transB")?.i == 1)

        // Initializers: every tensor of the network, under its name, with its bytes.
        let initializers = Dictionary(uniqueKeysWithValues: graph.initializer.map { ($0.name, $0) })
        for slot in network.layout.slots {
            let tensor = try #require(initializers[slot.name], "\(slot.name)")
            #expect(tensor.dims == slot.spec.shape.map(Int64.init))
            let values = tensor.rawData.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
            #expect(values == Array(slotValues(plan)(slot)), "\(slot.name)")
        }
        #expect(graph.node[13].input == ["flatten", "drop.ratio"])
        let ratio = try #require(initializers["drop.ratio"])
        #expect(ratio.dims.isEmpty && ratio.rawData.withUnsafeBytes { $0.load(as: Float.self) } == 0.3)
    }

    /// The overlapping-bins matrix averages exactly PyTorch's bins: applied to x it gives the
    /// reference layer's output.
    @Test func adaptivePoolingMatrixMatchesTheLayer() throws {
        let network = try Network(name: "pool", inputShape: Shape(channels: 2, height: 7, width: 5), layers: [
            NamedLayer("adapt", AdaptiveAveragePool(outputSize: 3)), NamedLayer("flatten", Flatten()),
            NamedLayer("fc", Linear(outputFeatures: 2)),
        ]).resolved()
        let plan = try randomPlan(network, backend: ReferenceBackend(), batchSize: 1, seed: 1)
        let model = try Onnx_ModelProto(serializedBytes: ONNXExport.serialize(network, tensor: slotValues(plan)))
        let bins = try #require(model.graph.initializer.first { $0.name == "adapt.bins" })
        #expect(bins.dims == [35, 9])
        let matrix = bins.rawData.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
        let x = Tensor(shape: [1, 2, 7, 5], scalars: (0..<70).map { Float($0 % 11) - 3.5 })
        let expected = AdaptiveAveragePool(outputSize: 3).forward(x, parameters: .none, context: .inference)
        for channel in 0..<2 {
            for cell in 0..<9 {
                let value = (0..<35).reduce(Float(0)) { $0 + x.scalars[channel * 35 + $1] * matrix[$1 * 9 + cell] }
                #expect(abs(value - expected.scalars[channel * 9 + cell]) < 1e-5)
            }
        }
    }

    @Test func identityAndDivisibleAdaptivePooling() throws {
        for (size, ops) in [(6, ["Flatten", "Gemm", "Softmax"]), (12, ["AveragePool", "Flatten", "Gemm", "Softmax"])] {
            let network = try Network(name: "pool", inputShape: Shape(channels: 2, height: size, width: size), layers: [
                NamedLayer("adapt", AdaptiveAveragePool(outputSize: 6)), NamedLayer("flatten", Flatten()),
                NamedLayer("fc", Linear(outputFeatures: 2)),
            ]).resolved()
            let plan = try randomPlan(network, backend: ReferenceBackend(), batchSize: 1, seed: 1)
            let model = try Onnx_ModelProto(serializedBytes: ONNXExport.serialize(network, tensor: slotValues(plan)))
            #expect(model.graph.node.map(\.opType) == ops)
            #expect(model.graph.node[0].input == ["input"])
        }
    }

    @Test func evenLRNIsRefusedNamingTheLayer() throws {
        let network = try Network(name: "even", inputShape: Shape(channels: 4, height: 3, width: 3), layers: [
            NamedLayer("norm", LocalResponseNorm(size: 4)), NamedLayer("flatten", Flatten()), NamedLayer("fc", Linear(outputFeatures: 2)),
        ]).resolved()
        let plan = try randomPlan(network, backend: ReferenceBackend(), batchSize: 1, seed: 1)
        #expect {
            _ = try ONNXExport.serialize(network, tensor: slotValues(plan))
        } throws: { error in
            "\(error)".contains("layer 'norm'") && "\(error)".contains("even")
        }
    }

    @Test func everyPresetExports() throws {
        // Structure only, for each preset: the nodes are the layers (adaptive pooling at 6x6
        // input vanishes), and the weights add up to the parameter count.
        for name in Zoo.names {
            let network = try Zoo.preset(name)!.resolved()
            let zeros = [Float](repeating: 0, count: network.layout.slots.map(\.count).max()!)
            let bytes = try zeros.withUnsafeBufferPointer { buffer in
                try ONNXExport.serialize(network) { UnsafeBufferPointer(rebasing: buffer[0..<$0.count]) }
            }
            let model = try Onnx_ModelProto(serializedBytes: bytes)
            let layers = network.layers.filter { !($0.layer is AdaptiveAveragePool && $0.inputShape.dimensions.last == 6) }
            #expect(model.graph.node.map(\.name) == layers.map(\.name) + ["softmax"], "\(name)")
            let weights = model.graph.initializer.filter { !$0.name.hasSuffix(".ratio") }
            #expect(weights.reduce(0) { $0 + $1.rawData.count / 4 } == network.layout.slots.reduce(0) { $0 + $1.count }, "\(name)")
        }
    }
}

/// The real check: ONNX Runtime runs each exported model and its outputs match ours.
///
///     .venv-peers/bin/pip install onnxruntime onnx
///     ALEXNET_ONNX_PYTHON=.venv-peers/bin/python swift test --filter onnxRuntime
///
/// For every preset and the every-kind network: random weights (and batch-norm statistics), a
/// random batch of two through our cpu backend, then `scripts/check_onnx.py` compares ONNX
/// Runtime's logits and probabilities with ours (largest difference <= 1e-4 of the largest
/// logit) and prints the differences.
@Test(.enabled(if: ProcessInfo.processInfo.environment["ALEXNET_ONNX_PYTHON"] != nil))
func onnxRuntimeMatchesOurForward() throws {
    let python = ProcessInfo.processInfo.environment["ALEXNET_ONNX_PYTHON"]!
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("alexnet-onnx-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: directory) }
    for network in Zoo.names.map({ Zoo.preset($0)! }) + [everyKindNetwork()] {
        let resolved = try network.resolved()
        let plan = try randomPlan(resolved, backend: CPUBackend(threads: 2), batchSize: 2, seed: 7)
        let random = Philox(seed: 5, stream: 1)
        let input = Tensor(shape: [2] + network.inputShape.dimensions,
                           scalars: (0..<(2 * network.inputShape.elementCount)).map { random.normal(at: UInt64($0)) })
        let logits = try plan.infer(input).scalars
        try ONNXExport.write(resolved, to: "\(directory)/\(network.name).onnx", tensor: slotValues(plan))
        try input.scalars.withUnsafeBufferPointer { x in
            try logits.withUnsafeBufferPointer { y in
                try SafeTensors.write([.init(name: "input", shape: [2] + network.inputShape.dimensions, data: x),
                                       .init(name: "logits", shape: [2, logits.count / 2], data: y)],
                                      to: "\(directory)/\(network.name).io.safetensors")
            }
        }
    }
    let process = Process()
    process.executableURL = URL(fileURLWithPath: python)
    let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../scripts/check_onnx.py").path
    process.arguments = [script, directory]
    try process.run()
    process.waitUntilExit()
    #expect(process.terminationStatus == 0, "scripts/check_onnx.py found a difference (its output is above)")
}
