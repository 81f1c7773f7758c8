@testable import AlexNet
import AlexNetBackends
@testable import AlexNetInterop
import AlexNetCore
import AlexNetNetwork
import Foundation
import Testing

/// The int8 plan against the float plan of the same weights, and calibration.
@Suite struct Int8Tests {
    /// Every kind of stage: a stem on signed input, a fused ReLU, LRN in f32 between the
    /// integers, int8 pooling, a grouped convolution with batch norm folded in, linear layers on
    /// the 4-D tensor and on a vector, dropout, f32 logits.
    static let networkText = """
        name: tiny-int8
        input: 3x20x20

        conv1    conv       out=8 kernel=3 pad=1
        relu1    relu
        norm1    lrn        size=5 alpha=0.0001 beta=0.75 k=2
        pool1    maxpool    kernel=3 stride=2
        conv2    conv       out=12 kernel=3 pad=1 groups=2
        bn2      batchnorm
        relu2    relu
        pool2    maxpool    kernel=2 stride=2
        flatten  flatten
        fc1      linear     out=24
        relu3    relu
        drop     dropout    p=0.5
        fc2      linear     out=3
        """

    /// A float inference plan with seeded weights, non-zero biases and batch norm statistics.
    static func floatPlan(batch: Int) throws -> any Plan {
        let network = try NetworkFile.parse(networkText).resolved()
        let plan = try CPUBackend().makePlan(for: network, batchSize: batch, mode: .inference, seed: 3)
        let random = Philox(seed: 5)
        for slot in network.layout.slots {
            let buffer = slot.isTrainable ? plan.parameters : plan.state
            for k in 0..<slot.count {
                let u = random.uniform(at: UInt64(slot.offset * 7 + k + (slot.isTrainable ? 0 : 1 << 20)))
                let value: Float
                switch slot.spec.name {
                case "bias": value = 0.4 * (u - 0.5)
                case "running_mean": value = 0.2 * (u - 0.5)
                case "running_var": value = 0.5 + u
                case "weight" where slot.spec.shape.count == 1: value = 0.8 + 0.4 * u  // batch norm's gamma
                default: continue
                }
                buffer.baseAddress[slot.offset + k] = value
            }
        }
        plan.copyFromHost()
        return plan
    }

    static func batches(_ count: Int, batch: Int, seed: UInt64) -> [Tensor] {
        let random = Philox(seed: seed)
        let size = 3 * 20 * 20
        return (0..<count).map { b in
            Tensor(shape: [batch, 3, 20, 20], scalars: (0..<(batch * size)).map { random.normal(at: UInt64(b * batch * size + $0)) })
        }
    }

    /// The float plan with its batch norm folded into conv2, on the host.
    static func folded(_ plan: any Plan) throws -> any Plan { try QuantizedModel.foldingBatchNorm(plan.network, tensors: plan).plan }

    static func int8Plan(from plan: any Plan, ranges: ActivationRanges, batch: Int) throws -> Int8Plan {
        let int8 = try Int8Plan(network: plan.network, batchSize: batch, ranges: ranges, threads: 2)
        int8.parameters.pointer.update(fromContentsOf: plan.parameters.pointer)
        int8.state.pointer.update(fromContentsOf: plan.state.pointer)
        int8.copyFromHost()
        return int8
    }

    @Test func int8LogitsFollowTheFloatPlan() throws {
        let plan = try Self.floatPlan(batch: 16)
        let host = try Self.folded(plan)
        #expect(host.network.layers.map(\.name) == plan.network.layers.map(\.name).filter { $0 != "bn2" })
        #expect(throws: Int8PlanError.batchNormNotFolded(layer: "bn2")) { try Int8Plan.quantizedTensors(of: plan.network) }
        let tensors = try Int8Plan.quantizedTensors(of: host.network)
        #expect(tensors.map(\.name) == ["input", "relu1", "norm1", "relu2", "relu3"])
        #expect(tensors.map(\.isUnsigned) == [false, true, true, true, true])
        let calibration = Self.batches(4, batch: 16, seed: 1)
        for method in CalibrationMethod.allCases {
            let ranges = try Calibration.ranges(of: host, batches: calibration, method: method)
            let int8 = try Self.int8Plan(from: host, ranges: ranges, batch: 16)
            var worst: Float = 0, largest: Float = 0
            var rows: [(expected: ArraySlice<Float>, actual: ArraySlice<Float>)] = []
            for input in Self.batches(4, batch: 16, seed: 2) {
                let expected = try plan.infer(input), actual = try int8.infer(input)
                for (a, e) in zip(actual.scalars, expected.scalars) {
                    worst = max(worst, abs(a - e))
                    largest = max(largest, abs(e))
                }
                rows += (0..<16).map { (expected.scalars[($0 * 3)..<($0 * 3 + 3)], actual.scalars[($0 * 3)..<($0 * 3 + 3)]) }
            }
            // Five tensors quantized to 8 bits in a random network whose logits are small
            // (about 0.3): within 8% of their range (measured: 4.8% minmax, 7.1% percentile,
            // 6.4% entropy), and the same class wherever the float winner leads by more than
            // twice the largest error (random inputs make many close calls: 14-30 of 64 are clear).
            #expect(worst <= 0.08 * largest, "\(method): largest logit difference \(worst) of \(largest)")
            let clear = rows.filter { row in
                let sorted = row.expected.sorted(by: >)
                return sorted[0] - sorted[1] > 2 * worst
            }
            let agree = clear.filter { $0.expected.firstIndex(of: $0.expected.max()!) == $0.actual.firstIndex(of: $0.actual.max()!) }
            #expect(clear.count >= 10 && agree.count == clear.count,
                    "\(method): \(agree.count) of \(clear.count) clear calls (of \(rows.count)) agree")
        }
    }

    /// Linear layers as oneDNN's inner product or as a convolution covering the input (faster
    /// at batch 1 on AVX2): both follow the float plan, and the plan keeps whichever it timed
    /// faster for each layer.
    @Test(arguments: [1, 5]) func linearFormsAgree(batch: Int) throws {
        let floatPlan = try Self.floatPlan(batch: batch)
        let host = try Self.folded(floatPlan)
        let batches = Self.batches(1, batch: batch, seed: 12)
        let ranges = try Calibration.ranges(of: host, batches: batches, method: .minmax)
        let plan = try Self.int8Plan(from: host, ranges: ranges, batch: batch)
        var results: [[Float]] = []
        for form in [Int8Plan.LinearForm.innerProduct, .convolution] {
            plan.linearForm = form
            results.append(try plan.infer(batches[0]).scalars)
            #expect(plan.chosenLinearForms == ["fc1": form, "fc2": form])
        }
        plan.linearForm = nil
        let measured = try plan.infer(batches[0]).scalars
        #expect(Set(plan.chosenLinearForms.keys) == ["fc1", "fc2"])
        // Not bit-identical: the kernels differ in how they round and where u8 x s8 pairs may
        // saturate 16 bits on a CPU without VNNI. Measured here: 1-2% of the largest logit apart,
        // each 1-3% from the float plan.
        let float = try floatPlan.infer(batches[0]).scalars
        let largest = float.map(abs).max()!
        func distance(_ a: [Float], _ b: [Float]) -> Float { zip(a, b).map { abs($0 - $1) }.max()! }
        for (name, logits) in [("inner product", results[0]), ("convolution", results[1]), ("measured", measured)] {
            #expect(distance(logits, float) <= 0.08 * largest, "\(name): \(distance(logits, float)) from float, largest \(largest)")
        }
        #expect(distance(results[0], results[1]) <= 0.05 * largest, "the forms are \(distance(results[0], results[1])) apart")
    }

    @Test func calibrationMethodsClipInOrder() throws {
        let plan = try Self.folded(try Self.floatPlan(batch: 8))
        let batches = Self.batches(2, batch: 8, seed: 4)
        let minmax = try Calibration.ranges(of: plan, batches: batches, method: .minmax)
        let percentile = try Calibration.ranges(of: plan, batches: batches, method: .percentile)
        let entropy = try Calibration.ranges(of: plan, batches: batches, method: .entropy)
        let largestInput = batches.flatMap(\.scalars).map(abs).max()!
        #expect(minmax.thresholds["input"] == largestInput)
        for (name, t) in minmax.thresholds {
            #expect(t > 0 && percentile.thresholds[name]! <= t * 1.0001 && entropy.thresholds[name]! <= t * 1.0001, "\(name)")
        }
        #expect(entropy.method == "entropy" && percentile.method == "percentile")
        // The input is never clipped: its range is the preprocessing's.
        #expect(percentile.thresholds["input"] == largestInput && entropy.thresholds["input"] == largestInput)
        // The percentile of a known histogram, and entropy keeps a distribution with no tail whole.
        #expect(Calibration.percentileBins([10, 0, 0, 0, 0, 0, 0, 0, 0, 1], percentile: 90) == 1)
        #expect(Calibration.percentileBins([10, 0, 0, 0, 0, 0, 0, 0, 0, 1], percentile: 99.99) == 10)
        let flat = [Double](repeating: 5, count: 2048)
        #expect(Calibration.entropyBins(flat, levels: 127) == 2048)
    }

    @Test func int8RefusesWhatItCannotRun() throws {
        let plan = try Self.folded(try Self.floatPlan(batch: 2))
        var ranges = try Calibration.ranges(of: plan, batches: Self.batches(1, batch: 2, seed: 3), method: .minmax)
        ranges.thresholds["norm1"] = nil
        #expect(throws: Int8PlanError.missingRange("norm1")) { try Int8Plan(network: plan.network, batchSize: 2, ranges: ranges) }
        ranges.thresholds["norm1"] = -1
        #expect(throws: Int8PlanError.badRange("norm1", -1)) { try Int8Plan(network: plan.network, batchSize: 2, ranges: ranges) }
        ranges.thresholds["norm1"] = 1
        let tanh = try NetworkFile.parse(Self.networkText.replacingOccurrences(of: "relu1    relu", with: "relu1    tanh")).resolved()
        #expect(throws: Int8PlanError.unsupported(layer: "relu1", kind: "tanh")) {
            try Int8Plan(network: tanh, batchSize: 2, ranges: ranges)
        }
        let fours = ActivationRanges(method: "minmax", thresholds: Dictionary(
            uniqueKeysWithValues: try Int8Plan.quantizedTensors(of: plan.network).map { ($0.name, Float(4)) }))
        let int8 = try Self.int8Plan(from: plan, ranges: fours, batch: 2)
        #expect(throws: PlanError.wrongMode("compute gradients", .inference)) {
            try int8.computeGradients(input: Self.batches(1, batch: 2, seed: 0)[0], labels: [0, 1], step: 0)
        }
    }

    /// Without batch norm there is nothing to fold: the source's tensors serve as they are
    /// (no second copy of the weights while an int8 plan is built).
    @Test func foldingWithoutBatchNormKeepsTheSource() throws {
        let plan = try ReferenceBackend().makePlan(for: Zoo.quick().resolved(), batchSize: 1, mode: .inference, seed: 3)
        let (network, tensors) = try QuantizedModel.foldingBatchNorm(plan.network, tensors: plan)
        #expect(tensors === plan && network.layers.count == plan.network.layers.count)
    }

    /// `alexnet quantize`'s file: s8 weights with their scales and the ranges in the metadata
    /// read back into the same int8 plan; a float plan reads the dequantized weights.
    @Test func quantizedFileRoundTrips() throws {
        let (path, _) = try ClassifierFixture.checkpoint(Self.networkText, seed: 9)
        let model = try TrainedModel(checkpoint: path)
        let (resolved, host) = try model.onHost()
        let (folded, tensors) = try QuantizedModel.foldingBatchNorm(resolved, tensors: host)
        let batches = Self.batches(2, batch: 4, seed: 6)
        let ranges = try Calibration.ranges(of: tensors, batches: batches, method: .percentile)
        let out = path + ".int8.safetensors"
        try QuantizedModel.write(folded, tensors: tensors, model: model,
                                 calibration: .init(ranges: ranges, images: 8, data: "stripes"), to: out)
        let file = try SafeTensors(path: out)
        #expect(file["conv2.weight"]?.dtype == .i8 && file["conv2.weight_scale"]?.shape == [12] && file["conv2.bias"]?.dtype == .f32)
        #expect(file["bn2.weight"] == nil && file["fc1.weight"]?.dtype == .i8)
        let loaded = try TrainedModel(weights: out)
        #expect(loaded.quantization?.ranges == ranges && loaded.quantization?.images == 8 && loaded.data == "stripes")
        #expect(loaded.classNames == model.classNames && loaded.preprocessing == model.preprocessing)
        let fromFile = try loaded.makePlan(on: CPUBackend(threads: 2), batchSize: 4)
        #expect(fromFile is Int8Plan)
        let direct = try Self.int8Plan(from: tensors, ranges: ranges, batch: 4)
        for input in batches {
            #expect(try fromFile.infer(input).scalars == direct.infer(input).scalars, "the s8 weights and scales are exact")
        }
        // A float plan of the same file holds q * scale: within half a step of the folded weights.
        let dequantized = try ReferenceBackend().makePlan(for: folded, batchSize: 1, mode: .inference, seed: 0)
        try loaded.load(into: dequantized)
        let slot = try #require(folded.layout.slot(named: "fc1.weight"))
        let scales = try file.floats("fc1.weight_scale")
        let perOutput = slot.count / scales.count
        for k in stride(from: 0, to: slot.count, by: 97) {
            let original = tensors.parameters.baseAddress[slot.offset + k], stored = dequantized.parameters.baseAddress[slot.offset + k]
            #expect(abs(original - stored) <= scales[k / perOutput] * 0.5001)
        }
        #expect(throws: FileError.self) { try loaded.makePlan(on: ReferenceBackend(), batchSize: 4) }
    }

    /// Every preset lowers to int8 stages (batch norm folded first); the small ones run, with
    /// random weights and inputs, close to their float plans.
    @Test(arguments: Zoo.names) func everyPresetRunsInInt8(_ name: String) throws {
        var described = try #require(Zoo.preset(name))
        described.layers.removeAll { $0.layer is BatchNorm }  // as folding leaves them
        let names = try Int8Plan.quantizedTensors(of: try described.resolved()).map(\.name)
        #expect(names.first == "input" && names.count >= 6, "\(names)")
        let network = try #require(Zoo.preset(name)).resolved()
        // paper, torchvision, d2l-fashion: 0.7-1.1 G MACs an image, too slow for the suite's debug build.
        guard network.multiplyAccumulates < 200_000_000 else { return }
        let plan = try CPUBackend(threads: 2).makePlan(for: network, batchSize: 8, mode: .inference, seed: 7)
        let input = Tensor(randomUniform: [8] + network.inputShape.dimensions, low: -1, high: 1, seed: 3)
        let int8 = try QuantizedModel.int8Plan(from: plan, calibration: [input], batchSize: 8, threads: 2)
        let expected = try plan.infer(input).scalars, actual = try int8.infer(input).scalars
        let worst = zip(expected, actual).map { abs($0 - $1) }.max()!, largest = expected.map(abs).max()!
        #expect(worst <= 0.1 * largest, "\(name): largest logit difference \(worst) of \(largest)")
    }

    /// The ONNX QDQ export holds the int8 plan's steps: a Q/DQ pair on every quantized tensor
    /// (and after pooling and flatten, with their input's step), s8 weights with the same
    /// per-channel scales, int32 biases in steps of input x weight scale, no dropout.
    @Test func qdqExportCarriesTheInt8Steps() throws {
        let host = try Self.folded(try Self.floatPlan(batch: 4))
        let network = host.network
        let ranges = try Calibration.ranges(of: host, batches: Self.batches(1, batch: 4, seed: 8), method: .minmax)
        let quantization = try QuantizedModel.onnxQuantization(of: network, ranges: ranges)
        #expect(quantization.steps["relu1"] == .init(scale: ranges.thresholds["relu1"]! / 255, isUnsigned: true))
        #expect(quantization.steps["input"] == .init(scale: ranges.thresholds["input"]! / 127, isUnsigned: false))
        let values = { (slot: ParameterSlot) in
            UnsafeBufferPointer((slot.isTrainable ? host.parameters : host.state).view(offset: slot.offset, count: slot.count))
        }
        let model = try Onnx_ModelProto(serializedBytes: ONNXExport.serialize(network, quantization: quantization, tensor: values))
        let quantizes = model.graph.node.filter { $0.opType == "QuantizeLinear" }.map(\.name)
        #expect(quantizes == ["input", "relu1", "norm1", "pool1", "relu2", "pool2", "flatten", "relu3"].map { "\($0).quantize" })
        #expect(!model.graph.node.contains { $0.opType == "Dropout" })
        func initializer(_ name: String) throws -> Onnx_TensorProto { try #require(model.graph.initializer.first { $0.name == name }, "\(name)") }
        // uint8 after a ReLU, int8 on the signed input (TensorProto.DataType 2 and 3).
        #expect(try initializer("relu1.output_zero_point").dataType == 2 && initializer("input.output_zero_point").dataType == 3)
        let slot = try #require(network.layout.slot(named: "fc1.weight"))
        let (q, scales) = SymmetricInt8.perOutputChannel(Array(values(slot)), outputs: 24)
        let weight = try initializer("fc1.weight_quantized")
        #expect(weight.dataType == 3 && weight.rawData == Data(q.map { UInt8(bitPattern: $0) }))
        #expect(!model.graph.initializer.contains { $0.name == "fc1.weight" }, "the float weights are not written")
        let bias = try initializer("fc1.bias_quantized")
        #expect(bias.dataType == 6)
        let integers = bias.rawData.withUnsafeBytes { Array($0.bindMemory(to: Int32.self)) }
        let input = quantization.steps["relu2"]!.scale  // fc1 reads flatten(pool2), which keep relu2's step
        #expect(try initializer("flatten.output_scale").rawData == initializer("relu2.output_scale").rawData)
        let floats = Array(values(network.layout.slot(named: "fc1.bias")!))
        for o in 0..<24 { #expect(Float(integers[o]) == (floats[o] / (input * scales[o])).rounded(), "fc1 bias \(o)") }
    }

    /// The real check of the QDQ export: ONNX Runtime runs it and its logits follow the int8
    /// plan's (the same integers up to rounding of ties and of the int32 bias).
    ///
    ///     ALEXNET_ONNX_PYTHON=.venv-peers/bin/python swift test --filter onnxRuntimeRunsTheQDQExport
    @Test(.enabled(if: ProcessInfo.processInfo.environment["ALEXNET_ONNX_PYTHON"] != nil))
    func onnxRuntimeRunsTheQDQExport() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("alexnet-qdq-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var plans = [try Self.floatPlan(batch: 8)]
        for name in ["quick", "cifar10"] {
            let network = try Zoo.preset(name)!.resolved()
            plans.append(try CPUBackend(threads: 2).makePlan(for: network, batchSize: 8, mode: .inference, seed: 11))
        }
        for plan in plans {
            let host = try Self.folded(plan)
            let network = host.network
            let shape = [8] + network.inputShape.dimensions
            let calibration = Tensor(randomUniform: shape, low: -1, high: 1, seed: 5)
            let input = Tensor(randomUniform: shape, low: -1, high: 1, seed: 6)
            let ranges = try Calibration.ranges(of: host, batches: [calibration], method: .minmax)
            let logits = try Self.int8Plan(from: host, ranges: ranges, batch: 8).infer(input).scalars
            let values = { (slot: ParameterSlot) in
                UnsafeBufferPointer((slot.isTrainable ? host.parameters : host.state).view(offset: slot.offset, count: slot.count))
            }
            let name = plan.network.network.name
            try ONNXExport.write(network, quantization: try QuantizedModel.onnxQuantization(of: network, ranges: ranges),
                                 to: "\(directory)/\(name).onnx", tensor: values)
            try input.scalars.withUnsafeBufferPointer { x in
                try logits.withUnsafeBufferPointer { y in
                    // Not the same integers: on a CPU without VNNI oneDNN halves the weights of a
                    // convolution on signed input (conv1) to avoid saturating, ONNX Runtime rounds
                    // the bias to int32, and random weights amplify each step (logits of ~0.1).
                    // Measured: 3-13% of the largest logit; a wrong scale or axis is 100% or more.
                    try SafeTensors.write([.init(name: "input", shape: shape, data: x),
                                           .init(name: "logits", shape: [8, logits.count / 8], data: y)],
                                          metadata: ["tolerance": "0.2"], to: "\(directory)/\(name).io.safetensors")
                }
            }
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: ProcessInfo.processInfo.environment["ALEXNET_ONNX_PYTHON"]!)
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../scripts/check_onnx.py").path
        process.arguments = [script, directory]
        try process.run()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "scripts/check_onnx.py found a difference (its output is above)")
    }
}
