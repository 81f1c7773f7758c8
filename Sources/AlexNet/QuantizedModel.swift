import AlexNetBackends
import AlexNetCore
import AlexNetData
import AlexNetInterop
import AlexNetNetwork
import FoundationEssentials

/// Post-training static quantization of a trained model (`alexnet quantize`): batch norm folded
/// into the convolutions before it, activation ranges calibrated on training images, and a
/// weights file whose convolution and linear weights are s8, symmetric per output channel
/// (`<layer>.weight` I8 beside `<layer>.weight_scale` F32, w = q * scale), with the ranges in
/// its metadata. `TrainedModel(weights:)` reads it back; `makePlan` then gives an `Int8Plan`.
public enum QuantizedModel {
    /// The metadata key of the calibration (`Metadata` JSON).
    public static let metadataKey = "quantization"

    /// What the quantized file says about its calibration.
    public struct Metadata: Codable, Sendable, Equatable {
        public var ranges: ActivationRanges
        /// Training images the ranges were measured on, and where they came from.
        public var images: Int
        public var data: String
        public var weights = "s8 symmetric per output channel"

        public init(ranges: ActivationRanges, images: Int, data: String) {
            self.ranges = ranges
            self.images = images
            self.data = data
        }
    }

    /// The network with every batch norm that directly follows a convolution folded into that
    /// convolution (which gains a bias if it had none), and a host plan holding the folded
    /// tensors (from `source`'s): w * gamma / sqrt(var + eps), (b - mean) * gamma / sqrt(var + eps) + beta.
    /// With no batch norm to fold, `resolved` and `source` itself (its host copy brought up to date).
    public static func foldingBatchNorm(_ resolved: ResolvedNetwork, tensors source: any Plan) throws -> (network: ResolvedNetwork, plan: any Plan) {
        source.copyToHost()
        var network = resolved.network
        var layers: [NamedLayer] = []
        var foldedInto: [String: ResolvedLayer] = [:]  // convolution name -> its batch norm
        for (index, named) in network.layers.enumerated() {
            if named.layer is BatchNorm, index > 0, var conv = layers.last?.layer as? Convolution,
               layers.last?.name == network.layers[index - 1].name {
                conv.hasBias = true
                layers[layers.count - 1] = NamedLayer(layers[layers.count - 1].name, conv)
                foldedInto[layers[layers.count - 1].name] = resolved.layers[index]
                continue
            }
            layers.append(named)
        }
        network.layers = layers
        // Nothing to fold: the source's tensors serve as they are (a copy of torchvision's
        // would hold another 244 MB while the int8 plan is built).
        guard !foldedInto.isEmpty else { return (resolved, source) }
        let folded = try network.resolved()
        let plan = try ReferenceBackend().makePlan(for: folded, batchSize: 1, mode: .inference, seed: 0)
        let from = resolved.layout
        func values(_ name: String) -> [Float] {
            let slot = from.slot(named: name)!
            let buffer = slot.isTrainable ? source.parameters : source.state
            return Array(UnsafeBufferPointer(start: buffer.baseAddress + slot.offset, count: slot.count))
        }
        for layer in folded.layers {
            for slot in layer.slots {
                var result: [Float]
                if let norm = foldedInto[layer.name], let bn = norm.layer as? BatchNorm {
                    let gamma = values("\(norm.name).weight"), beta = values("\(norm.name).bias")
                    let mean = values("\(norm.name).running_mean"), variance = values("\(norm.name).running_var")
                    let factor = (0..<gamma.count).map { gamma[$0] / (variance[$0] + bn.epsilon).squareRoot() }
                    if slot.spec.role == .weight {
                        result = values(slot.name)
                        let perOutput = result.count / factor.count
                        for k in result.indices { result[k] *= factor[k / perOutput] }
                    } else {
                        let bias = from.slot(named: slot.name) != nil ? values(slot.name) : [Float](repeating: 0, count: factor.count)
                        result = (0..<factor.count).map { (bias[$0] - mean[$0]) * factor[$0] + beta[$0] }
                    }
                } else {
                    result = values(slot.name)
                }
                let buffer = slot.isTrainable ? plan.parameters : plan.state
                _ = buffer.view(offset: slot.offset, count: slot.count).update(fromContentsOf: result)
            }
        }
        plan.copyFromHost()
        return (folded, plan)
    }

    /// Writes the quantized weights file of `network` (folded) with tensors from `plan`.
    public static func write(_ network: ResolvedNetwork, tensors plan: any Plan, model: TrainedModel,
                             calibration: Metadata, to path: String) throws {
        plan.copyToHost()
        // Every tensor's little-endian bytes in one array, then outputs viewing it.
        var storage: [UInt8] = []
        var entries: [(name: String, shape: [Int], dtype: SafeTensors.DType, range: Range<Int>)] = []
        func append<T>(_ name: String, _ shape: [Int], _ dtype: SafeTensors.DType, _ values: [T]) {
            let start = storage.count
            values.withUnsafeBytes { storage.append(contentsOf: $0) }
            entries.append((name, shape, dtype, start..<storage.count))
        }
        for slot in network.layout.slots {
            let buffer = slot.isTrainable ? plan.parameters : plan.state
            let values = Array(UnsafeBufferPointer(start: buffer.baseAddress + slot.offset, count: slot.count))
            let layer = network.layers[slot.layerIndex].layer
            if slot.spec.role == .weight, layer is Convolution || layer is Linear {
                let (q, scales) = SymmetricInt8.perOutputChannel(values, outputs: slot.spec.shape[0])
                append(slot.name, slot.spec.shape, .i8, q)
                append(slot.name + "_scale", [scales.count], .f32, scales)
            } else {
                append(slot.name, slot.spec.shape, .f32, values)
            }
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let metadata = [
            TrainedModel.MetadataKey.network: NetworkFile.format(network.network),
            TrainedModel.MetadataKey.classNames: model.classNames.joined(separator: "\n"),
            TrainedModel.MetadataKey.preprocessing: String(decoding: try encoder.encode(model.preprocessing), as: UTF8.self),
            metadataKey: String(decoding: try encoder.encode(calibration), as: UTF8.self),
        ]
        try storage.withUnsafeBytes { raw in
            let outputs = entries.map {
                SafeTensors.Output(name: $0.name, shape: $0.shape, dtype: $0.dtype, bytes: UnsafeRawBufferPointer(rebasing: raw[$0.range]))
            }
            try SafeTensors.write(outputs, metadata: metadata, to: path)
        }
    }

    /// `count` images of `source` spread evenly over it (so every class of a sorted folder is
    /// seen), prepared as for evaluation, in batches of `batchSize` (the last one filled up
    /// with images from the start).
    public static func calibrationBatches(_ source: any ImageSource, count: Int, batchSize: Int, preprocessing: Preprocessing,
                                          shape: Shape, progress: ((Int, Int) -> Void)? = nil) throws -> [Tensor] {
        let count = min(count, source.count)
        guard count > 0 else { throw CalibrationError.noImages }
        let size = shape.elementCount
        let batches = (count + batchSize - 1) / batchSize
        var result: [Tensor] = []
        for b in 0..<batches {
            var scalars = [Float](repeating: 0, count: batchSize * size)
            for row in 0..<batchSize {
                let k = (b * batchSize + row) % count
                let index = k * source.count / count
                let image = try source.image(at: index)
                let prepared = try preprocessing.evaluationInput(for: image, as: shape, source: "\(source.name) image \(index)")
                scalars.replaceSubrange((row * size)..<((row + 1) * size), with: prepared)
            }
            result.append(Tensor(shape: [batchSize] + shape.dimensions, scalars: scalars))
            progress?(min((b + 1) * batchSize, count), count)
        }
        return result
    }

    /// An int8 plan of `plan`'s network and tensors, batch norm folded, calibrated on `batches`
    /// with `method` (what `alexnet bench --precision int8` times).
    public static func int8Plan(from plan: any Plan, calibration batches: [Tensor], method: CalibrationMethod = .minmax,
                                batchSize: Int, threads: Int? = nil) throws -> Int8Plan {
        let (folded, tensors) = try foldingBatchNorm(plan.network, tensors: plan)
        let ranges = try Calibration.ranges(of: tensors, batches: batches, method: method, backend: CPUBackend(threads: threads))
        let int8 = try Int8Plan(network: folded, batchSize: batchSize, ranges: ranges, threads: threads)
        FeatureExtractor.copyTensors(from: tensors, into: int8)
        return int8
    }

    /// The steps of `network`'s (folded) quantized tensors for its ONNX QDQ export
    /// (`ONNXExport.Quantization`), from the calibrated `ranges`, as the int8 plan uses them.
    public static func onnxQuantization(of network: ResolvedNetwork, ranges: ActivationRanges) throws -> ONNXExport.Quantization {
        var steps: [String: ONNXExport.Quantization.Step] = [:]
        for (name, isUnsigned) in try Int8Plan.quantizedTensors(of: network) {
            guard let scale = ranges.step(name, isUnsigned: isUnsigned) else { throw Int8PlanError.missingRange(name) }
            steps[name] = .init(scale: scale, isUnsigned: isUnsigned)
        }
        return ONNXExport.Quantization(steps: steps)
    }

    /// What calibration gives: the folded network, its tensors on the host, and the ranges.
    public struct Calibrated {
        public var network: ResolvedNetwork
        public var tensors: any Plan
        public var calibration: Metadata
        /// Batch norm layers folded away.
        public var foldedLayers: Int
    }

    /// `model` prepared for int8: batch norm folded, ranges measured with `method` on `count`
    /// images spread over `source` (training images of `data`) through `backend`'s float plans.
    /// `progress` hears ("images" or "calibration", done, total).
    public static func calibrate(_ model: TrainedModel, source: any ImageSource, data: String, count: Int = 512,
                                 method: CalibrationMethod = .percentile, batchSize: Int = 64, backend: any Backend = CPUBackend(),
                                 progress: ((String, Int, Int) -> Void)? = nil) throws -> Calibrated {
        guard model.quantization == nil else { throw FileError(model.source, "is already quantized (int8); give the float checkpoint or weights") }
        let (resolved, host) = try model.onHost()
        let (folded, tensors) = try foldingBatchNorm(resolved, tensors: host)
        let images = min(count, source.count)
        let batches = try calibrationBatches(source, count: images, batchSize: min(batchSize, images),
                                             preprocessing: model.preprocessing.fitted(to: folded.inputShape), shape: folded.inputShape) {
            progress?("images", $0, $1)
        }
        let ranges = try Calibration.ranges(of: tensors, batches: batches, method: method, backend: backend) {
            progress?("calibration", $0, $1)
        }
        return Calibrated(network: folded, tensors: tensors, calibration: Metadata(ranges: ranges, images: images, data: data),
                          foldedLayers: resolved.layers.count - folded.layers.count)
    }
}

extension TrainedModel {
    /// This model in int8, calibrated now (`--precision int8` without `alexnet quantize`): the
    /// quantized file is written to a temporary file, read back, and removed.
    public func quantized(source: any ImageSource, data: String, count: Int = 512, method: CalibrationMethod = .percentile,
                          backend: any Backend = CPUBackend(), progress: ((String, Int, Int) -> Void)? = nil) throws -> TrainedModel {
        let calibrated = try QuantizedModel.calibrate(self, source: source, data: data, count: count, method: method,
                                                      backend: backend, progress: progress)
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("alexnet-int8-\(UUID().uuidString).safetensors").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try QuantizedModel.write(calibrated.network, tensors: calibrated.tensors, model: self, calibration: calibrated.calibration, to: path)
        var model = try TrainedModel(weights: path)
        model.source = self.source  // the file read back is gone; errors name the original
        return model
    }
}
