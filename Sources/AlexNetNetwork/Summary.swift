import AlexNetCore

/// What `alexnet summary` shows: one row per layer and the totals, all by arithmetic on the
/// network description.
public struct Summary: Codable, Sendable, Equatable {
    public struct Row: Codable, Sendable, Equatable {
        public var index: Int
        public var name: String
        public var kind: String
        public var configuration: String
        public var inputShape: Shape
        public var outputShape: Shape
        public var parameters: Int
        public var multiplyAccumulates: Int
    }

    public var name: String
    public var description: String
    public var inputShape: Shape
    public var outputShape: Shape
    public var initialization: String
    public var layers: [Row]
    /// Trainable parameters.
    public var parameters: Int
    /// Non-trainable state scalars (batch norm running statistics).
    public var stateScalars: Int
    /// Multiply-accumulates of convolutions and linear layers for one image, forward.
    public var multiplyAccumulatesPerImage: Int
    /// Bytes of float32 trainable parameters.
    public var parameterBytes: Int
    /// Bytes per image of every activation a training step keeps for backward: the input and
    /// every layer's output.
    public var trainingActivationBytesPerImage: Int
    /// Bytes per image an inference pass needs at once: the largest input + output pair.
    public var inferenceActivationBytesPerImage: Int

    public init(_ network: ResolvedNetwork) {
        name = network.network.name
        description = network.network.description
        inputShape = network.inputShape
        outputShape = network.outputShape
        initialization = network.network.initialization.rawValue
        layers = network.layers.map {
            Row(index: $0.index, name: $0.name, kind: $0.kind, configuration: $0.layer.configuration,
                inputShape: $0.inputShape, outputShape: $0.outputShape, parameters: $0.parameterCount,
                multiplyAccumulates: $0.multiplyAccumulates)
        }
        parameters = network.parameterCount
        stateScalars = network.layout.slots.filter { !$0.isTrainable }.reduce(0) { $0 + $1.count }
        multiplyAccumulatesPerImage = network.multiplyAccumulates
        parameterBytes = 4 * parameters
        trainingActivationBytesPerImage = 4 * network.layers.reduce(network.inputShape.elementCount) {
            $0 + $1.outputShape.elementCount
        }
        inferenceActivationBytesPerImage = 4 * (network.layers.map {
            $0.inputShape.elementCount + $0.outputShape.elementCount
        }.max() ?? 0)
    }

    /// The summary as an aligned text table with totals.
    public var table: String {
        let header = ["#", "name", "kind", "configuration", "output", "parameters", "MACs"]
        let rows = layers.map {
            ["\($0.index)", $0.name, $0.kind, $0.configuration, "\($0.outputShape)",
             $0.parameters > 0 ? grouped($0.parameters) : "-",
             $0.multiplyAccumulates > 0 ? grouped($0.multiplyAccumulates) : "-"]
        }
        let rightAligned: Set<Int> = [0, 5, 6]
        let widths = header.indices.map { column in ([header] + rows).map { $0[column].count }.max()! }
        func render(_ cells: [String]) -> String {
            cells.indices.map { column in
                let pad = String(repeating: " ", count: widths[column] - cells[column].count)
                return rightAligned.contains(column) ? pad + cells[column] : cells[column] + pad
            }.joined(separator: "  ")
        }
        var lines = ["\(name): \(description)", "input \(inputShape), output \(outputShape), init \(initialization)", ""]
        lines.append(render(header))
        lines.append(String(repeating: "-", count: widths.reduce(0, +) + 2 * (widths.count - 1)))
        lines += rows.map(render)
        lines.append("")
        let optimizerBytes = 3 * parameterBytes
        lines.append("parameters            \(grouped(parameters))  (\(mebibytes(parameterBytes)) as float32, \(mebibytes(optimizerBytes)) with gradients and momentum)")
        if stateScalars > 0 {
            lines.append("state                 \(grouped(stateScalars))  (batch norm running statistics, not trained)")
        }
        lines.append("MACs per image        \(grouped(multiplyAccumulatesPerImage))  (\(gigaflops(2 * multiplyAccumulatesPerImage)) GFLOP forward, ~\(gigaflops(6 * multiplyAccumulatesPerImage)) per training image)")
        lines.append("activations per image \(mebibytes(trainingActivationBytesPerImage)) training (all layer outputs), \(mebibytes(inferenceActivationBytesPerImage)) inference (largest input + output)")
        return lines.joined(separator: "\n") + "\n"
    }
}

/// 60965224 -> "60,965,224".
public func grouped(_ value: Int) -> String {
    let digits = String(value.magnitude)
    var out = ""
    for (offset, digit) in digits.enumerated() {
        if offset > 0 && (digits.count - offset) % 3 == 0 { out.append(",") }
        out.append(digit)
    }
    return (value < 0 ? "-" : "") + out
}

func mebibytes(_ bytes: Int) -> String { fixed(Double(bytes) / 1_048_576, 1) + " MiB" }
func gigaflops(_ flops: Int) -> String { fixed(Double(flops) / 1e9, 2) }

/// `value` with `digits` decimals, without Foundation's formatters.
public func fixed(_ value: Double, _ digits: Int) -> String {
    var scale = 1.0
    for _ in 0..<digits { scale *= 10 }
    let scaled = (abs(value) * scale).rounded()
    let whole = Int(scaled / scale), fraction = Int(scaled) - whole * Int(scale)
    let fractionText = String(fraction)
    let sign = value < 0 && scaled > 0 ? "-" : ""
    return digits == 0 ? sign + String(whole)
        : sign + "\(whole)." + String(repeating: "0", count: digits - fractionText.count) + fractionText
}
