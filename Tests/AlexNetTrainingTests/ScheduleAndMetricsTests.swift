import AlexNetCore
import AlexNetNetwork
import AlexNetTraining
import Testing

@Suite struct ScheduleTests {
    @Test func constantAndStep() {
        let constant = Schedule(kind: .constant, baseLearningRate: 0.01)
        #expect(constant.learningRate(epoch: 50, step: 9999) == 0.01)
        let step = Schedule(kind: .step, baseLearningRate: 0.1, factor: 0.5, stepEpochs: 2)
        #expect([0, 1, 2, 3, 4].map { step.learningRate(epoch: $0, step: 0) } == [0.1, 0.1, 0.05, 0.05, 0.025])
    }

    @Test func plateauDividesWhenValidationErrorStopsImprovingAtMostThreeTimes() {
        let s = Schedule(kind: .plateau, baseLearningRate: 0.01, factor: 0.1, patience: 2, maxReductions: 3)
        var state = ScheduleState()
        // Patience 2: the second epoch without a lower error divides; equal is not lower.
        let errors = [0.5, 0.4, 0.45, 0.4, 0.3, 0.31, 0.31, 0.31, 0.31, 0.9, 0.9]
        let lowered = errors.map { state.epochEnded(validationError: $0, schedule: s) }
        #expect(lowered == [false, false, false, true, false, false, true, false, true, false, false])
        #expect(state.reductions == 3, "no fourth reduction")
        #expect(abs(s.learningRate(epoch: 11, step: 0, state: state) - 1e-5) < 1e-12)
        #expect(s.learningRate(epoch: 11, step: 0) == 0.01, "the recipe alone holds no reductions")
    }

    @Test func polyDecaysToZeroWithPowerTwo() {
        let s = Schedule(kind: .poly, baseLearningRate: 2)
        var state = ScheduleState()
        state.totalSteps = 100
        let rates = [0, 50, 90, 100, 120].map { s.learningRate(epoch: 0, step: $0, state: state) }
        #expect(Comparison(rates, [2, 0.5, 0.02, 0, 0], atol: 1e-6, rtol: 0).isClose, "\(rates)")
        var cubic = s
        cubic.power = 3
        #expect(abs(cubic.learningRate(epoch: 0, step: 50, state: state) - 0.25) < 1e-6)
        var warm = s
        warm.warmupSteps = 10
        #expect(abs(warm.learningRate(epoch: 0, step: 4, state: state) - 2 * 0.96 * 0.96 * 0.5) < 1e-6)
    }

    /// Values by hand: base 0.1 over 100 steps is 0.1 (1 + cos(pi t / 100)) / 2; with 10 warm-up
    /// steps the cosine runs over the 90 after them.
    @Test func cosineFallsAsHalfACosine() {
        let s = Schedule(kind: .cosine, baseLearningRate: 0.1)
        var state = ScheduleState()
        state.totalSteps = 100
        let rates = [0, 25, 50, 75, 100, 130].map { s.learningRate(epoch: 0, step: $0, state: state) }
        let expected: [Float] = [0.1, 0.1 * (1 + 0.70710678) / 2, 0.05, 0.1 * (1 - 0.70710678) / 2, 0, 0]
        #expect(Comparison(rates, expected, atol: 1e-7, rtol: 1e-5).isClose, "\(rates)")
        var warm = s
        warm.warmupSteps = 10
        #expect(abs(warm.learningRate(epoch: 0, step: 4, state: state) - 0.1 * 5 / 10) < 1e-7, "the linear ramp")
        #expect(abs(warm.learningRate(epoch: 0, step: 10, state: state) - 0.1) < 1e-7, "the cosine starts after the warm-up")
        #expect(abs(warm.learningRate(epoch: 0, step: 55, state: state) - 0.05) < 1e-7, "half way through the 90 steps after it")
        #expect(s.learningRate(epoch: 3, step: 40) == 0.1, "without the run's length the base rate holds")
    }

    /// Values by hand for PyTorch's `OneCycleLR(max_lr=0.1, total_steps=100)`: up from 0.1/25
    /// to 0.1 over steps 0...29 (0.3 x 100 - 1 = 29), down to 0.1/25/1e4 at step 99, each half a
    /// cosine. (PyTorch 2.15 prints 0.004, 0.02951639, 0.1, 0.07938935, 4e-07 at these steps.)
    @Test func oneCycleRisesThenFallsAsPyTorchComputesIt() {
        let s = Schedule(kind: .onecycle, baseLearningRate: 0.1)
        var state = ScheduleState()
        state.totalSteps = 100
        func cosine(_ a: Double, _ b: Double, _ f: Double) -> Float { Float(b + (a - b) * (1 + cos(Double.pi * f)) / 2) }
        let rates = [0, 10, 29, 50, 99].map { s.learningRate(epoch: 0, step: $0, state: state) }
        let expected: [Float] = [0.004, cosine(0.004, 0.1, 10.0 / 29), 0.1, cosine(0.1, 4e-7, 21.0 / 70), 4e-7]
        #expect(Comparison(rates, expected, atol: 1e-9, rtol: 1e-5).isClose, "\(rates)")
        #expect(abs(rates[1] - 0.029516395) < 1e-7 && abs(rates[3] - 0.079389345) < 1e-7, "PyTorch's values")
    }

    @Test func warmupRampsLinearly() {
        let s = Schedule(kind: .constant, baseLearningRate: 0.4, warmupSteps: 4)
        #expect([0, 1, 2, 3, 4, 100].map { s.learningRate(epoch: 0, step: $0) } == [0.1, 0.2, 0.3, 0.4, 0.4, 0.4])
    }
}

@Suite struct MetricsTests {
    @Test func topOneTopFiveConfusionAndLoss() {
        // 6 classes, 3 examples: the first right, the second's truth ranks 2nd, the third's 6th.
        let scores: [Float] = [
            0.5, 0.1, 0.1, 0.1, 0.1, 0.1,
            0.4, 0.3, 0.1, 0.1, 0.05, 0.05,
            0.3, 0.25, 0.2, 0.15, 0.08, 0.02,
        ]
        var m = Metrics(classes: 6)
        scores.withUnsafeBufferPointer { m.add(probabilities: $0, labels: [0, 1, 5][...], rows: 3) }
        #expect(m.count == 3 && m.top1Correct == 1 && m.top5Correct == 2)
        #expect(abs(m.loss - -(log(0.5) + log(0.3) + log(0.02)) / 3) < 1e-6)
        #expect(m.confusion[0 * 6 + 0] == 1 && m.confusion[1 * 6 + 0] == 1 && m.confusion[5 * 6 + 0] == 1)
        #expect(m.perClassAccuracy[0] == 1 && m.perClassAccuracy[1] == 0 && m.perClassAccuracy[2].isNaN)
    }

    @Test func softmaxRowsSumToOne() {
        var logits: [Float] = [1000, 1000, 0, -5, 0, 5]
        logits.withUnsafeMutableBufferPointer { SoftmaxCrossEntropy.softmax($0, rows: 2, classes: 3) }
        #expect(abs(logits[0] - 0.5) < 1e-6 && logits[2] == 0)
        #expect(abs(logits[3...].reduce(0, +) - 1) < 1e-6)
    }
}

#if canImport(Glibc)
import Glibc
#endif

import AlexNetData

@Suite struct ChartTests {
    @Test func curvesAndConfusionDrawAsPNG() throws {
        let plot = Plot(title: "Loss", xLabel: "epoch", series: [
            .init(name: "training", color: "#1f77b4", x: [1, 2, 3], y: [2, 1, 0.5]),
        ])
        let curves = try ImageCodec.decode(Plot.png([plot, plot]), source: "curves.png")
        #expect(curves.width == 960 && curves.height == 320 && curves.channels == 3)
        // The series colour appears (the line is drawn), on a mostly white background.
        var blue = 0
        for p in 0..<(curves.width * curves.height) where curves.pixels[3 * p] == 0x1f && curves.pixels[3 * p + 2] == 0xb4 {
            blue += 1
        }
        #expect(blue > 200)
        let confusion = try ImageCodec.decode(ConfusionPlot.png([5, 1, 0, 4], classNames: ["cat", "dog"]), source: "c.png")
        #expect(confusion.width > 72 && confusion.height > 72)
    }

    @Test func textUsesTheBitmapFont() {
        var canvas = Canvas(width: 20, height: 9)
        canvas.text("1", x: 0, y: 0)
        // The "1" glyph's stem: column 2 of rows 0-6.
        #expect((0..<7).allSatisfy { canvas.pixels[3 * ($0 * 20 + 2)] == 0 })
        #expect(Canvas.textWidth("abc") == 17)
    }
}

@Suite struct MetricsSumsTests {
    /// Two processes' metrics, added up through `sums` as a reducer does, equal the metrics of
    /// all their examples taken together.
    @Test func sumsAddUpAcrossProcesses() {
        let scores: [Float] = [0.7, 0.2, 0.1, 0.1, 0.3, 0.6, 0.5, 0.4, 0.1, 0.2, 0.2, 0.6]
        let labels = [0, 2, 1, 2]
        var whole = Metrics(classes: 3), first = Metrics(classes: 3), second = Metrics(classes: 3)
        scores.withUnsafeBufferPointer { all in
            whole.add(probabilities: all, labels: labels[...], rows: 4)
            first.add(probabilities: UnsafeBufferPointer(rebasing: all[0..<6]), labels: labels[0..<2], rows: 2)
            second.add(probabilities: UnsafeBufferPointer(rebasing: all[6..<12]), labels: labels[2..<4], rows: 2)
        }
        let added = zip(first.sums, second.sums).map { $0 + $1 }
        let merged = Metrics(classes: 3, sums: added)
        #expect(merged.count == 4 && merged.top1Correct == whole.top1Correct && merged.confusion == whole.confusion)
        #expect(abs(merged.lossSum - whole.lossSum) < 1e-12)
        #expect(Metrics(classes: 3, sums: whole.sums) == whole)
    }
}
