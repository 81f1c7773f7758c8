import AlexNetCore
import AlexNetNetwork
import ArgumentParser

/// `alexnet models`: the model zoo at a glance.
struct ModelsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "models",
        abstract: "List the model presets with their input, parameters and MACs.")

    func run() throws {
        let rows = try Zoo.names.map { name -> [String] in
            let resolved = try Zoo.preset(name)!.resolved()
            return [name, "\(resolved.inputShape)", grouped(resolved.parameterCount),
                    grouped(resolved.multiplyAccumulates), resolved.network.description]
        }
        let header = ["preset", "input", "parameters", "MACs/image", "what it is"]
        let widths = header.indices.map { column in ([header] + rows).map { $0[column].count }.max()! }
        for cells in [header] + rows {
            print(cells.indices.map { column in
                let pad = String(repeating: " ", count: widths[column] - cells[column].count)
                return [2, 3].contains(column) ? pad + cells[column] : cells[column] + pad
            }.joined(separator: "  ").trimmedRight())
        }
    }
}

extension String {
    func trimmedRight() -> String { String(reversed().drop(while: { $0 == " " }).reversed()) }
}
