import AlexNetBackends
import AlexNetCore
import AlexNetNetwork
import Testing

@Suite struct OptimizerTests {
    @Test func sgdFollowsThePapersUpdate() {
        // v <- 0.9 v - 0.0005 * 0.1 * w - 0.1 * g;  w <- w + v.
        let sgd = Optimizer.paper
        let w = FloatBuffer([2, -1]), g = FloatBuffer([0.5, 0]), v = FloatBuffer([0.1, 0.2])
        sgd.apply(learningRate: 0.1, step: 0, parameters: w.pointer, gradients: g.pointer, state: [v.pointer])
        let v1: [Float] = [0.9 * 0.1 - 0.0005 * 0.1 * 2 - 0.1 * 0.5, 0.9 * 0.2 - 0.0005 * 0.1 * -1]
        #expect(Comparison(v.array, v1, atol: 1e-7, rtol: 0).isClose)
        #expect(Comparison(w.array, [2 + v1[0], -1 + v1[1]], atol: 1e-7, rtol: 0).isClose)
    }

    @Test func plainSGDIsAStepAgainstTheGradient() {
        // d2l: w <- w - lr g, whatever the (zero-momentum) velocity held.
        let plain = Optimizer.sgd()
        let w = FloatBuffer([1, -2]), g = FloatBuffer([0.25, -1]), v = FloatBuffer([0, 0])
        plain.apply(learningRate: 0.5, step: 0, parameters: w.pointer, gradients: g.pointer, state: [v.pointer])
        #expect(w.array == [0.875, -1.5])
        plain.apply(learningRate: 0.5, step: 1, parameters: w.pointer, gradients: g.pointer, state: [v.pointer])
        #expect(w.array == [0.75, -1])
    }

    @Test func clippingScalesToTheNormAsPyTorchDoes() {
        var optimizer = Optimizer.paper
        let g = FloatBuffer([3, 4, 0])  // norm 5
        #expect(optimizer.clip(g) == nil && g.array == [3, 4, 0], "no clipping unless asked")
        optimizer.clipNorm = 1
        #expect(optimizer.clip(g) == 5)
        let scale = Float(1 / (5 + 1e-6))
        #expect(g.array == [3 * scale, 4 * scale, 0])
        optimizer.clipNorm = 10
        let small = FloatBuffer([3, 4])
        optimizer.clip(small)
        #expect(small.array == [3, 4], "below the norm nothing changes")
        #expect(optimizer.summary.hasSuffix("gradients clipped to norm 10.0"))
    }

    @Test func adamWMatchesPyTorchArithmetic() {
        // Two steps by hand, in Double, of torch.optim.AdamW(lr=0.1, weight_decay=0.01).
        let adamw = Optimizer.adamw()
        #expect(adamw.epsilon == 1e-8 && adamw.weightDecay == 0.01 && adamw.stateNames == ["m", "v"])
        let w = FloatBuffer([1, -0.5]), m = FloatBuffer([0, 0]), v = FloatBuffer([0, 0])
        var (ew, em, ev): ([Double], [Double], [Double]) = ([1, -0.5], [0, 0], [0, 0])
        let gradients: [[Double]] = [[0.2, -3], [-0.1, 1]]
        for (t, grad) in gradients.enumerated() {
            let g = FloatBuffer(grad.map(Float.init))
            adamw.apply(learningRate: 0.1, step: t, parameters: w.pointer, gradients: g.pointer, state: [m.pointer, v.pointer])
            let step = Double(t + 1)
            for i in 0..<2 {
                ew[i] *= 1 - 0.1 * 0.01
                em[i] = 0.9 * em[i] + 0.1 * grad[i]
                ev[i] = 0.999 * ev[i] + 0.001 * grad[i] * grad[i]
                ew[i] -= 0.1 * (em[i] / (1 - pow(0.9, step))) / ((ev[i] / (1 - pow(0.999, step))).squareRoot() + 1e-8)
            }
        }
        #expect(Comparison(w.array, ew.map(Float.init), atol: 1e-6, rtol: 1e-6).isClose, "\(w.array) vs \(ew)")
        // Decoupled: with a zero gradient only the decay moves the weights.
        let still = FloatBuffer([2]), zero = FloatBuffer([0]), m0 = FloatBuffer([0]), v0 = FloatBuffer([0])
        adamw.apply(learningRate: 0.5, step: 0, parameters: still.pointer, gradients: zero.pointer, state: [m0.pointer, v0.pointer])
        #expect(still.array == [2 * (1 - 0.5 * 0.01)])
    }

    @Test func adamMatchesKerasArithmetic() {
        // Two steps by hand, in Double, of Keras's Adam with lr 0.1.
        let adam = Optimizer.adam
        let w = FloatBuffer([1, -0.5]), m = FloatBuffer([0, 0]), v = FloatBuffer([0, 0])
        var (ew, em, ev): ([Double], [Double], [Double]) = ([1, -0.5], [0, 0], [0, 0])
        let gradients: [[Double]] = [[0.2, -3], [-0.1, 1]]
        for (t, grad) in gradients.enumerated() {
            let g = FloatBuffer(grad.map(Float.init))
            adam.apply(learningRate: 0.1, step: t, parameters: w.pointer, gradients: g.pointer, state: [m.pointer, v.pointer])
            let step = Double(t + 1)
            let alpha = 0.1 * (1 - pow(0.999, step)).squareRoot() / (1 - pow(0.9, step))
            for i in 0..<2 {
                em[i] += 0.1 * (grad[i] - em[i])
                ev[i] += 0.001 * (grad[i] * grad[i] - ev[i])
                ew[i] -= alpha * em[i] / (ev[i].squareRoot() + 1e-7)
            }
        }
        #expect(Comparison(w.array, ew.map(Float.init), atol: 1e-6, rtol: 1e-6).isClose, "\(w.array) vs \(ew)")
        #expect(Comparison(m.array, em.map(Float.init), atol: 1e-7, rtol: 1e-6).isClose)
        // 1 - beta2 is 0.00099998713 in float32 (as in Keras), hence rtol 1e-4 on v.
        #expect(Comparison(v.array, ev.map(Float.init), atol: 1e-7, rtol: 1e-4).isClose)
    }

    /// LARS by hand on a one-unit linear layer: the weight [3, 4] (norm 5) with gradient
    /// [0.6, 0.8] (norm 1) gets the trust ratio 0.001 x 5 / (1 + 0.0005 x 5); the bias, zero,
    /// keeps ratio 1.
    @Test func larsScalesEachTensorByItsTrustRatio() throws {
        let network = try Network(name: "unit", inputShape: Shape(features: 2), layers: [NamedLayer("fc", Linear(outputFeatures: 1))]).resolved()
        let (weight, bias) = (network.layout.slot(named: "fc.weight")!, network.layout.slot(named: "fc.bias")!)
        let count = network.layout.trainableCount
        let w = FloatBuffer(count: count), g = FloatBuffer(count: count), v = FloatBuffer(count: count)
        w.pointer[weight.offset] = 3
        w.pointer[weight.offset + 1] = 4
        g.pointer[weight.offset] = 0.6
        g.pointer[weight.offset + 1] = 0.8
        g.pointer[bias.offset] = 0.25
        let lars = Optimizer.lars()
        var (ew, ev): ([Double], [Double]) = ([3, 4, 0], [0, 0, 0])
        for step in 0..<2 {
            lars.update(learningRate: 0.5, step: step, parameters: w, gradients: g, state: [v], layout: network.layout, chunks: 2)
            let grads: [Double] = [0.6, 0.8, 0.25]
            let weightNorm = (ew[0] * ew[0] + ew[1] * ew[1]).squareRoot()
            // The bias's own ratio: 1 while it is 0, then 0.001 |b| / (0.25 + 0.0005 |b|).
            let biasNorm = abs(ew[2])
            let ratios = [0.001 * weightNorm / (1 + 0.0005 * weightNorm), biasNorm > 0 ? 0.001 * biasNorm / (0.25 + 0.0005 * biasNorm) : 1]
            for i in 0..<3 {
                let ratio = ratios[i < 2 ? 0 : 1]
                ev[i] = 0.9 * ev[i] + 0.5 * ratio * (grads[i] + 0.0005 * ew[i])
                ew[i] -= ev[i]
            }
        }
        let got = [w.pointer[weight.offset], w.pointer[weight.offset + 1], w.pointer[bias.offset]]
        #expect(Comparison(got, ew.map(Float.init), atol: 1e-7, rtol: 1e-6).isClose, "\(got) vs \(ew)")
        let velocity = [v.pointer[weight.offset], v.pointer[weight.offset + 1], v.pointer[bias.offset]]
        #expect(Comparison(velocity, ev.map(Float.init), atol: 1e-8, rtol: 1e-5).isClose, "\(velocity) vs \(ev)")
        // The first step's ratio, spelled out: 0.005 / 1.0025.
        let (w0, g0) = (FloatBuffer([3, 4]), FloatBuffer([0.6, 0.8]))
        withExtendedLifetime((w0, g0)) {
            #expect(abs(Double(lars.trustRatio(parameters: w0.pointer, gradients: g0.pointer)) - 0.005 / 1.0025) < 1e-8)
        }
        #expect(lars.stateNames == ["velocity"] && lars.summary.hasPrefix("LARS"))
    }

    @Test func stateIsAllocatedPerOptimizer() {
        let state = OptimizerState()
        #expect(state.buffers(for: .sgd(), count: 5).count == 1)
        let adam = state.buffers(for: .adam, count: 5)
        #expect(adam.count == 2 && adam[0].count == 5)
        #expect(state.names == ["m", "v"])
    }
}

#if canImport(Glibc)
import Glibc
#endif
