import AlexNet
import ArgumentParser
import FoundationEssentials

/// `alexnet weights inspect FILE`: what a safetensors file holds.
struct WeightsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "weights", abstract: "Inspect safetensors weight files.", subcommands: [Inspect.self])

    struct Inspect: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List a safetensors file's tensors (name, dtype, shape) and metadata keys.")
        @Argument(help: "The file.") var file: String

        func run() throws {
            let tensors = try SafeTensors(path: file)
            let width = tensors.entries.map(\.name.count).max() ?? 4
            var total = 0
            for entry in tensors.entries {
                total += entry.elementCount
                print("\(entry.name.padding(toLength: width, withPad: " ", startingAt: 0))  \(entry.dtype.rawValue.padding(toLength: 4, withPad: " ", startingAt: 0))  \(entry.shape)")
            }
            print("\(tensors.entries.count) tensors, \(total.formatted()) values")
            if !tensors.metadata.isEmpty { print("metadata: \(tensors.metadata.keys.sorted().joined(separator: ", "))") }
        }
    }
}
