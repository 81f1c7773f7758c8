import AlexNetInterop
import Foundation

/// An experiment's runs summarised: each arm's measure over the seeds (mean, sample standard
/// deviation), the paired difference from the paper's arm, the markdown report, the JSON of
/// every number and the curves.
public struct ExperimentReport: Codable, Sendable {
    public struct ArmSummary: Codable, Sendable {
        public var arm: String
        /// The measure per seed (nil where a run has none).
        public var values: [Double?]
        public var mean: Double?
        public var standardDeviation: Double?
        /// This arm minus the paper's arm, seed by seed (same seeds: a paired comparison).
        public var differenceMean: Double?
        public var differenceStandardDeviation: Double?
        public var testErrorMean: Double
        public var testErrorStandardDeviation: Double?
    }

    public var experiment: String
    public var title: String
    public var claim: String
    /// Whose claim (`Experiment.claimant`).
    public var claimant: String?
    public var measure: Experiment.Measure
    public var threshold: Double?
    public var command: String
    public var arms: [ArmSummary]
    public var runs: [ExperimentRun]

    public init(experiment: Experiment, runs: [ExperimentRun], command: String) {
        self.experiment = experiment.name
        title = experiment.title
        claim = experiment.claim
        claimant = experiment.claimant
        measure = experiment.measure
        threshold = experiment.measure == .stepsToTrainingError ? experiment.threshold : nil
        self.command = command
        self.runs = runs
        let seeds = Array(Set(runs.map(\.seed))).sorted()
        let paper = experiment.arms.first?.name
        func value(_ arm: String, _ seed: UInt64) -> Double? {
            runs.first { $0.arm == arm && $0.seed == seed }?.value(of: experiment.measure)
        }
        arms = experiment.arms.map { arm in
            let values = seeds.map { value(arm.name, $0) }
            let differences = seeds.compactMap { seed in value(arm.name, seed).flatMap { v in paper.flatMap { value($0, seed) }.map { v - $0 } } }
            let testErrors = runs.filter { $0.arm == arm.name }.map(\.testError)
            return ArmSummary(
                arm: arm.name, values: values, mean: Self.mean(values.compactMap { $0 }),
                standardDeviation: Self.standardDeviation(values.compactMap { $0 }),
                differenceMean: arm.name == paper ? nil : Self.mean(differences),
                differenceStandardDeviation: arm.name == paper ? nil : Self.standardDeviation(differences),
                testErrorMean: Self.mean(testErrors) ?? .nan, testErrorStandardDeviation: Self.standardDeviation(testErrors))
        }
    }

    static func mean(_ values: [Double]) -> Double? { values.isEmpty ? nil : values.reduce(0, +) / Double(values.count) }

    /// The sample standard deviation (n - 1); nil below two values.
    static func standardDeviation(_ values: [Double]) -> Double? {
        guard values.count > 1, let mean = mean(values) else { return nil }
        return (values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(values.count - 1)).squareRoot()
    }

    /// The measure as the report prints it.
    func format(_ value: Double?, spread: Double? = nil) -> String {
        guard let value else { return "not reached" }
        let isSteps = measure == .stepsToTrainingError
        func one(_ v: Double) -> String { isSteps ? String(Int(v.rounded())) : String(format: "%.2f%%", 100 * v) }
        return one(value) + (spread.map { " ± " + (isSteps ? String(Int($0.rounded())) : String(format: "%.2f", 100 * $0)) } ?? "")
    }

    public var measureName: String {
        switch measure {
        case .testError: "test top-1 error"
        case .stepsToTrainingError: "steps to \(Int(100 * (threshold ?? 0.25)))% training error"
        case .generalizationGap: "test error - training error"
        }
    }

    /// Whether the table adds the test error beside the measure (when the measure is not it).
    private var showsTestError: Bool { measure != .testError }

    /// `report.md`: the claim, the command, one row per arm.
    public var markdown: String {
        var lines = ["# \(title) (`\(experiment)`)", "", "**\(claimant ?? "The paper"):** \(claim)", "", "**Command:** `\(command)`", "",
                     "Measure: \(measureName), mean ± sample standard deviation over \(Set(runs.map(\.seed)).count) seed\(Set(runs.map(\.seed)).count == 1 ? "" : "s") "
                        + "(the same seeds, data order and recipe for every arm); the difference is paired, seed by seed.", "",
                     "| arm | \(measureName) | per seed | difference from \(arms.first?.arm ?? "")" + (showsTestError ? " | test error |" : " |"),
                     showsTestError ? "|---|---|---|---|---|" : "|---|---|---|---|"]
        for arm in arms {
            let perSeed = runs.filter { $0.arm == arm.arm }.sorted { $0.seed < $1.seed }
                .map { run in run.divergedAtStep.map { "diverged at step \($0)" } ?? format(run.value(of: measure)) }.joined(separator: ", ")
            let difference = arm.differenceMean.map { format($0, spread: arm.differenceStandardDeviation) } ?? "—"
            let test = String(format: "%.2f%%", 100 * arm.testErrorMean) + (arm.testErrorStandardDeviation.map { String(format: " ± %.2f", 100 * $0) } ?? "")
            lines.append("| \(arm.arm) | \(format(arm.mean, spread: arm.standardDeviation)) | \(perSeed) | \(difference) |" + (showsTestError ? " \(test) |" : ""))
        }
        if measure == .stepsToTrainingError, let first = arms.first?.mean {
            for arm in arms.dropFirst() {
                if let mean = arm.mean {
                    lines += ["", "\(arm.arm) takes \(String(format: "%.2f", mean / first))x the steps of \(arms[0].arm)."]
                }
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// The curves: smoothed training error by step (for the steps measure) and test error by
    /// epoch, each arm's mean over seeds.
    public var plots: [Plot] {
        let colors = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]
        var training: [Plot.Series] = [], test: [Plot.Series] = []
        for (k, arm) in arms.enumerated() {
            let armRuns = runs.filter { $0.arm == arm.arm }
            guard let first = armRuns.first, !first.testErrorByEpoch.isEmpty else { continue }  // ten-crop: no curves
            let color = colors[k % colors.count]
            let points = first.trainingCurve.indices.filter { i in armRuns.allSatisfy { $0.trainingCurve.count > i } }
            training.append(Plot.Series(name: arm.arm, color: color, x: points.map { first.trainingCurve[$0][0] },
                                        y: points.map { i in 100 * armRuns.map { $0.trainingCurve[i][1] }.reduce(0, +) / Double(armRuns.count) }))
            let epochs = armRuns.map(\.testErrorByEpoch.count).min() ?? 0
            test.append(Plot.Series(name: arm.arm, color: color, x: (0..<epochs).map { Double($0 + 1) },
                                    y: (0..<epochs).map { e in 100 * armRuns.map { $0.testErrorByEpoch[e] }.reduce(0, +) / Double(armRuns.count) }))
        }
        return [Plot(title: "Training error (%), smoothed", xLabel: "step", series: training),
                Plot(title: "Test error (%)", xLabel: "epoch", series: test)]
    }

    /// Writes report.md, results.json, curves.svg and curves.png into `directory`.
    public func write(to directory: String) throws {
        try AtomicFile.write(markdown, to: "\(directory)/report.md")
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try AtomicFile.write(String(decoding: try encoder.encode(self), as: UTF8.self) + "\n", to: "\(directory)/results.json")
        try AtomicFile.write(Plot.svg(plots), to: "\(directory)/curves.svg")
        try AtomicFile.write(bytes: Plot.png(plots), to: "\(directory)/curves.png")
    }
}
