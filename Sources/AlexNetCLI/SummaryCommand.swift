import AlexNetCore
import AlexNetNetwork
import ArgumentParser

/// `alexnet summary`: the layer table and totals of a network.
struct SummaryCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "summary",
        abstract: "Show a network's layers, output shapes, parameters, MACs and memory.",
        discussion: """
            One row per layer: name, kind, kernel/stride/padding/groups, output shape, parameters \
            and multiply-accumulates per image. Totals: trainable parameters, MACs per image, \
            activation memory per image for training and inference, parameter memory. A network \
            whose shapes cannot work fails naming the layer and the sizes.

            Examples:
              alexnet summary --model paper
              alexnet summary --model d2l-fashion --json
              alexnet summary --model paper --input 3x32x32     (fails: the stem is too big)
              alexnet summary --model torchvision --config > my.net
            """
    )

    @OptionGroup var model: ModelOptions

    @Flag(help: "Print the summary as JSON.")
    var json = false

    @Flag(help: "Print the network as a network file instead (edit it and pass it to --model).")
    var config = false

    func validate() throws {
        if json && config { throw ValidationError("--json and --config cannot be used together") }
    }

    func run() throws {
        let network = try model.network()
        if config {
            print(NetworkFile.format(network), terminator: "")
            return
        }
        let summary = Summary(try network.resolved())
        print(json ? try AlexNetCLI.json(summary) : summary.table, terminator: json ? "\n" : "")
    }
}
