import AlexNet
import ArgumentParser

/// `alexnet`: build, train, evaluate, explain and serve AlexNet.
@main
struct AlexNetCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "alexnet",
        abstract: "Build, train, evaluate and export AlexNet (Krizhevsky, Sutskever and Hinton, 2012) and its variants.",
        discussion: """
            Start with `alexnet train`: the quick preset trains a small AlexNet on Fashion-MNIST. \
            Networks are given by --model: a preset (\(Zoo.names.joined(separator: ", "))) or the \
            path of a network file. `alexnet models` lists the presets; `alexnet summary --model \
            paper --config` prints one as a network file to start from.
            """,
        version: "0.1.0",
        subcommands: [TrainCommand.self, EvaluateCommand.self, PredictCommand.self, DataCommand.self, ExportCommand.self, WeightsCommand.self, SummaryCommand.self, ModelsCommand.self, BenchCommand.self]
    )
}
