import AlexNetData
import AlexNetNetwork
import AlexNetTraining
import Foundation
import Testing

@Suite struct ExperimentTests {
    /// The arms of each experiment differ from the paper's arm only in the one choice.
    @Test func armsDifferOnlyInTheirChoice() throws {
        func lines(_ network: Network) -> [String] { NetworkFile.format(network).split(separator: "\n").map(String.init) }
        func changed(_ experiment: String, arm: Int = 1) throws -> (removed: [String], added: [String]) {
            let e = try #require(Experiment.named(experiment))
            let (a, b) = (lines(e.arms[0].network), lines(e.arms[arm].network))
            return (a.filter { !b.contains($0) }, b.filter { !a.contains($0) })
        }
        let tanh = try changed("relu-vs-tanh")
        #expect(tanh.removed.count == 7 && tanh.removed.allSatisfy { $0.contains(" relu") }, "\(tanh)")
        #expect(tanh.added.count == 7 && tanh.added.allSatisfy { $0.contains(" tanh") }, "\(tanh)")
        let figure1 = try #require(Experiment.named("relu-vs-tanh")).arms[0].network
        #expect(!figure1.layers.contains { $0.layer is LocalResponseNorm || $0.layer is Dropout }, "no regularization, as in Figure 1")
        let lrn = try changed("lrn")
        #expect(lrn.removed.count == 2 && lrn.removed.allSatisfy { $0.contains(" lrn") } && lrn.added.isEmpty, "\(lrn)")
        let pooling = try changed("overlapping-pooling")
        #expect(pooling.removed.count == 3 && pooling.added.allSatisfy { $0.contains("kernel=2 stride=2") }, "\(pooling)")
        let dropout = try changed("dropout")
        #expect(dropout.removed.count == 2 && dropout.removed.allSatisfy { $0.contains(" dropout") } && dropout.added.isEmpty)
        let depth = try changed("depth", arm: 2)
        #expect(depth.removed.count == 2 && depth.removed[0].hasPrefix("conv3") && depth.removed[1].hasPrefix("relu3"), "\(depth)")
        // Two towers: groups 2 on conv2, conv4 and conv5; one tower: half the filters, conv5 kept.
        let towers = try #require(Experiment.named("towers"))
        let two = try towers.arms[0].network.resolved(), one = try towers.arms[1].network.resolved()
        #expect(two.layers.compactMap { ($0.layer as? Convolution)?.groups } == [1, 2, 1, 2, 2])
        #expect(one.layers.compactMap { ($0.layer as? Convolution)?.outputChannels } == [16, 32, 48, 48, 64])
        // PCA lighting changes the recipe, not the network.
        let lighting = try #require(Experiment.named("pca-lighting"))
        #expect(lines(lighting.arms[0].network) == lines(lighting.arms[1].network) && lighting.requiresRGB)
    }

    static func recipe(epochs: Int = 1) -> TrainingConfiguration {
        var recipe = TrainingConfiguration(
            preset: "experiment", model: "", data: "fashion-mnist", epochs: epochs, batchSize: 64, optimizer: .paper,
            schedule: Schedule(kind: .constant, baseLearningRate: 0.05), preprocessing: Preprocessing(channels: 1, resize: 28))
        recipe.trainLimit = 384
        recipe.validationLimit = 128
        return recipe
    }

    /// A tiny experiment end to end: a folder per run with the arm's network file and the
    /// same recipe but for the network, the report with a row per arm, the JSON of every run.
    @Test func aTinyExperimentRunsAndReports() throws {
        let directory = try TrainingFixture.directory()
        let experiment = try #require(Experiment.named("lrn"))
        let runner = ExperimentRunner(experiment: experiment, recipe: Self.recipe(), seeds: [0, 1], directory: directory)
        let runs = try #require(try runner.run())
        #expect(runs.map(\.arm) == ["lrn", "no-lrn", "lrn", "no-lrn"] && runs.map(\.seed) == [0, 0, 1, 1])
        let (a, b) = (runner.configuration(arm: experiment.arms[0], seed: 1), runner.configuration(arm: experiment.arms[1], seed: 1))
        #expect(a.model != b.model && a.seed == b.seed && a.data == b.data && a.optimizer == b.optimizer && a.preprocessing == b.preprocessing)
        #expect(runs.allSatisfy { $0.steps == 6 && $0.testErrorByEpoch.count == 1 && !$0.trainingCurve.isEmpty })
        let report = ExperimentReport(experiment: experiment, runs: runs, command: "alexnet experiment lrn")
        try report.write(to: directory)
        let markdown = try String(contentsOfFile: "\(directory)/report.md", encoding: .utf8)
        #expect(markdown.contains("| arm | test top-1 error | per seed | difference from lrn | test error |"), "\(markdown)")
        #expect(markdown.contains("| no-lrn | "), "\(markdown)")
        let json = try JSONDecoder().decode(ExperimentReport.self, from: Data(contentsOf: URL(fileURLWithPath: "\(directory)/results.json")))
        #expect(json.runs == runs && json.arms.count == 2)
        let spread = try #require(json.arms[1].differenceMean)
        let byHand = ((runs[1].testError - runs[0].testError) + (runs[3].testError - runs[2].testError)) / 2
        #expect(abs(spread - byHand) < 1e-12)
        #expect(FileManager.default.fileExists(atPath: "\(directory)/curves.png"))
    }

    /// Stopped in its second run, the experiment continues where it stopped and measures what
    /// an uninterrupted one does.
    @Test func anInterruptedExperimentContinues() throws {
        let experiment = try #require(Experiment.named("relu-vs-tanh"))
        let straight = ExperimentRunner(experiment: experiment, recipe: Self.recipe(epochs: 2), seeds: [3], directory: try TrainingFixture.directory())
        let expected = try #require(try straight.run())
        let directory = try TrainingFixture.directory()
        let stopped = ExperimentRunner(experiment: experiment, recipe: Self.recipe(epochs: 2), seeds: [3], directory: directory)
        var polls = 0
        stopped.shouldStop = { polls += 1; return polls == 15 }  // the second run's third step
        #expect(try stopped.run() == nil)
        let continued = ExperimentRunner(experiment: experiment, recipe: Self.recipe(epochs: 2), seeds: [3], directory: directory)
        var resumed: [String] = []
        continued.runStarted = { arm, _, _, _, isResumed in if isResumed { resumed.append(arm) } }
        let runs = try #require(try continued.run())
        #expect(resumed == ["tanh"])
        #expect(runs.map(\.testError) == expected.map(\.testError))
        #expect(runs.map(\.trainingCurve) == expected.map(\.trainingCurve))
        // Another recipe in the same folder is refused.
        let other = ExperimentRunner(experiment: experiment, recipe: Self.recipe(epochs: 1), seeds: [3], directory: directory)
        #expect(throws: (any Error).self) { try other.run() }
        // And so is another network under the same arm's name (a changed experiment).
        var changed = experiment
        changed.arms[0].network = Experiment.miniAlexNet()
        let another = ExperimentRunner(experiment: changed, recipe: Self.recipe(epochs: 2), seeds: [3], directory: directory)
        #expect(throws: (any Error).self) { try another.run() }
    }
}
