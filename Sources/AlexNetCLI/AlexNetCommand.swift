import AlexNet
import ArgumentParser
import CInterrupts
#if canImport(Glibc)
import Glibc
#endif

/// `alexnet`: build, train, evaluate, explain, export and serve AlexNet.
@main
struct AlexNetCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "alexnet",
        abstract: "Build, train, evaluate, explain, export and serve AlexNet (Krizhevsky, Sutskever and Hinton, 2012) and its variants.",
        discussion: """
            Start with `alexnet train`: the quick preset trains a small AlexNet on Fashion-MNIST. \
            Networks are given by --model: a preset (\(Zoo.names.joined(separator: ", "))) or the \
            path of a network file. `alexnet models` lists the presets; `alexnet summary --model \
            paper --config` prints one as a network file to start from.
            """,
        version: "0.1.0",
        subcommands: [TrainCommand.self, EvaluateCommand.self, PredictCommand.self, ServeCommand.self, FiltersCommand.self, FeaturesCommand.self, NeighborsCommand.self, ExplainCommand.self, DataCommand.self, ExportCommand.self, QuantizeCommand.self, WeightsCommand.self, SummaryCommand.self, ModelsCommand.self, BenchCommand.self, ExperimentCommand.self]
    )

    /// Runs the command line, first catching a mistyped subcommand with a suggestion.
    static func main() {
        let arguments = Array(CommandLine.arguments.dropFirst())
        let names = configuration.subcommands.compactMap { $0.configuration.commandName }
        if let first = arguments.first, !first.hasPrefix("-"), !names.contains(first), first != "help" {
            let closest = names.min { editDistance(first, $0) < editDistance(first, $1) }
            let suggestion = closest.flatMap { editDistance(first, $0) <= 2 ? " Did you mean '\($0)'?" : nil } ?? ""
            printError("Error: unknown command '\(first)'.\(suggestion) The commands are \(names.joined(separator: ", ")); see 'alexnet --help'.")
            Glibc.exit(64)
        }
        // Before any thread starts, so that all inherit the mask: SIGINT and SIGTERM never run
        // a handler on a thread inside oneDNN (see CInterrupts.h). `serve`'s service group
        // later puts libdispatch's handler in place of ours; it runs on the same thread.
        alexnet_signals_block()
        alexnet_signals_watch()
        main(arguments)
    }

    /// Levenshtein distance, for suggestions.
    static func editDistance(_ a: String, _ b: String) -> Int {
        let b = Array(b)
        var row = Array(0...b.count)  // distances from a's prefix so far to each prefix of b
        for (i, x) in a.enumerated() {
            var diagonal = row[0]
            row[0] = i + 1
            for (j, y) in b.enumerated() {
                (diagonal, row[j + 1]) = (row[j + 1], min(row[j + 1] + 1, row[j] + 1, diagonal + (x == y ? 0 : 1)))
            }
        }
        return row[b.count]
    }
}
