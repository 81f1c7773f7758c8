import AlexNetCore
import AlexNetNetwork
import Testing

/// A layer with its parameters in flat buffers, for checking its math in isolation.
struct LayerHarness {
    let layer: any Layer
    let inputShape: [Int]
    let specs: [ParameterSpec]
    let values: [FloatBuffer]
    let gradients: [FloatBuffer]
    let state: [FloatBuffer]

    init(_ layer: any Layer, input: [Int], seed: UInt64 = 1) {
        self.layer = layer
        inputShape = input
        specs = layer.parameters(for: Shape(Array(input.dropFirst())))
        var values: [FloatBuffer] = [], gradients: [FloatBuffer] = [], state: [FloatBuffer] = []
        for (index, spec) in specs.enumerated() {
            let random = Tensor(randomUniform: spec.shape, low: -0.5, high: 0.5, seed: seed &+ UInt64(index) &* 977)
            switch spec.role {
            case .runningMean: state.append(FloatBuffer(random.scalars))
            case .runningVariance: state.append(FloatBuffer(random.scalars.map { 1 + abs($0) }))
            case .scale: values.append(FloatBuffer(random.scalars.map { 1 + $0 })); gradients.append(FloatBuffer(count: spec.count))
            default: values.append(FloatBuffer(random.scalars)); gradients.append(FloatBuffer(count: spec.count))
            }
        }
        self.values = values
        self.gradients = gradients
        self.state = state
    }

    var parameters: LayerParameters {
        LayerParameters(values: values.map(\.pointer), gradients: gradients.map(\.pointer), state: state.map(\.pointer))
    }

    func forward(_ x: Tensor, _ context: PassContext) -> Tensor {
        layer.forward(x, parameters: parameters, context: context)
    }
}

/// Checks a layer's backward against central finite differences of L = sum(y * r) for a fixed
/// random r, so that dL/dy = r. Every input element and every parameter element is checked.
///
/// Float32 central differences with step h have truncation error O(h^2) and round-off about
/// 1e-7 |L| / h; with h = 1e-2 and L summed in Double, 1e-2 relative (2e-3 absolute) separates
/// a right gradient from a wrong one by orders of magnitude.
func checkGradients(_ harness: LayerHarness, input x: Tensor, context: PassContext = .training,
                    h: Float = 1e-2, atol: Float = 2e-3, rtol: Float = 1e-2,
                    sourceLocation: SourceLocation = #_sourceLocation) {
    let y = harness.forward(x, context)
    let r = Tensor(randomUniform: y.shape, low: -1, high: 1, seed: 99)
    func loss(_ input: Tensor) -> Double {
        let out = harness.forward(input, context)
        return zip(out.scalars, r.scalars).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
    }
    for gradient in harness.gradients { gradient.fill(with: 0) }
    let dx = harness.layer.backward(input: x, output: y, outputGradient: r, parameters: harness.parameters, context: context)
    #expect(dx.shape == x.shape, sourceLocation: sourceLocation)

    var numeric = [Float](repeating: 0, count: x.count)
    for i in 0..<x.count {
        var plus = x, minus = x
        plus.scalars[i] += h
        minus.scalars[i] -= h
        numeric[i] = Float((loss(plus) - loss(minus)) / Double(2 * h))
    }
    let inputCheck = Comparison(dx.scalars, numeric, atol: atol, rtol: rtol)
    #expect(inputCheck.isClose, "input gradient of \(type(of: harness.layer).kind): \(inputCheck)", sourceLocation: sourceLocation)

    for (p, values) in harness.values.enumerated() {
        var numeric = [Float](repeating: 0, count: values.count)
        for i in 0..<values.count {
            let saved = values[i]
            values[i] = saved + h
            let plus = loss(x)
            values[i] = saved - h
            let minus = loss(x)
            values[i] = saved
            numeric[i] = Float((plus - minus) / Double(2 * h))
        }
        let check = Comparison(harness.gradients[p].array, numeric, atol: atol, rtol: rtol)
        #expect(check.isClose, "gradient of \(type(of: harness.layer).kind).\(harness.specs.filter(\.isTrainable)[p].name): \(check)",
                sourceLocation: sourceLocation)
    }
}

/// Random values whose pairwise gaps exceed `gap`: a shuffled ramp, so that max pooling and
/// ReLU never sit on a kink within a finite-difference step.
func distinctValues(_ shape: [Int], gap: Float = 0.05, seed: UInt64) -> Tensor {
    let count = shape.reduce(1, *)
    let rng = Philox(seed: seed)
    let order = (0..<count).sorted { rng.uniform(at: UInt64($0)) < rng.uniform(at: UInt64($1)) }
    var scalars = [Float](repeating: 0, count: count)
    for (rank, index) in order.enumerated() { scalars[index] = (Float(rank) - Float(count) / 2) * gap + gap / 2 }
    return Tensor(shape: shape, scalars: scalars)
}
