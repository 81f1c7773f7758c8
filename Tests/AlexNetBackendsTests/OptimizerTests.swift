import AlexNetBackends
import AlexNetCore
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
