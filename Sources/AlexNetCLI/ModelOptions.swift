import AlexNetCore
import AlexNetNetwork
import ArgumentParser
import FoundationEssentials

/// The options every command that takes a network shares.
struct ModelOptions: ParsableArguments {
    @Option(name: .shortAndLong, help: ArgumentHelp(
        "A preset (\(Zoo.names.joined(separator: ", "))) or a network file.", valueName: "name|file"))
    var model: String

    @Option(help: ArgumentHelp("Number of classes: the width of the last linear layer.", valueName: "n"))
    var classes: Int?

    @Option(help: ArgumentHelp("Input shape of one example, channels x height x width (e.g. 1x224x224).",
                               valueName: "CxHxW"))
    var input: String?

    func validate() throws {
        if let classes, classes <= 0 { throw ValidationError("--classes must be positive, got \(classes)") }
        if let input, Shape(parsing: input) == nil {
            throw ValidationError("--input '\(input)' is not a shape like 3x227x227")
        }
    }

    /// The network the options describe (not yet resolved).
    func network() throws -> Network {
        try Zoo.network(model, classes: classes, input: input.flatMap(Shape.init(parsing:)), readFile: readText)
    }
}

/// Reads a UTF-8 text file, with an error that names it.
func readText(_ path: String) throws -> String {
    let data: Data
    do {
        data = try Data(contentsOf: URL(fileURLWithPath: path))
    } catch {
        throw CLIError("cannot read '\(path)': no such file, or not readable")
    }
    guard let text = String(data: data, encoding: .utf8) else {
        throw CLIError("'\(path)' is not UTF-8 text")
    }
    return text
}

/// An error message for the user; ArgumentParser prints it after "Error: " and exits with 1.
struct CLIError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// Pretty-printed JSON with sorted keys, for `--json`.
func json<T: Encodable>(_ value: T) throws -> String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    return String(decoding: try encoder.encode(value), as: UTF8.self)
}
