import AlexNet
import ArgumentParser
import FoundationEssentials

/// The options every command that takes a network shares.
struct ModelOptions: ParsableArguments {
    @Option(name: .shortAndLong, help: ArgumentHelp(
        "A preset (\(Zoo.names.joined(separator: ", "))) or a network file.", valueName: "name|file"))
    var model: String

    @Option(parsing: .unconditional, help: ArgumentHelp("Number of classes: the width of the last linear layer.", valueName: "n"))
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
func readText(_ path: String) throws -> String { try readTextFile(path) }

/// Where and how every command that computes runs its network.
struct ComputeOptions: ParsableArguments {
    @Option(help: ArgumentHelp(
        "Where to compute: \(Backends.all.map { "\($0.name) (\($0.summary))" }.joined(separator: ", ")).", valueName: "name"))
    var backend = "cpu"

    @Option(parsing: .unconditional, help: "Threads for the backend (default: every core; under mpirun, the cores shared among the host's processes).")
    var threads: Int?

    @Option(help: ArgumentHelp("Numeric precision: \(Precision.allCases.map(\.rawValue).joined(separator: ", ")).", valueName: "name"))
    var precision = Precision.float32.rawValue

    func validate() throws {
        guard Backends.names.contains(backend) else {
            throw ValidationError("unknown backend '\(backend)'; choose \(Backends.names.joined(separator: " or "))")
        }
        if let threads, !(1...1024).contains(threads) { throw ValidationError("--threads must be between 1 and 1024, got \(threads)") }
        guard Precision(rawValue: precision) != nil else {
            throw ValidationError("unknown precision '\(precision)'; choose \(Precision.allCases.map(\.rawValue).joined(separator: " or "))")
        }
    }

    func options(winograd: Bool = true) -> BackendOptions {
        BackendOptions(threads: threadsPerProcess, precision: Precision(rawValue: precision) ?? .float32, winograd: winograd)
    }

    /// The options for inference: int8 plans come from the model (`loadForInference`), on the
    /// float backend.
    func inferenceOptions(winograd: Bool = true) -> BackendOptions {
        var result = options(winograd: winograd)
        if isInt8 { result.precision = .float32 }
        return result
    }

    /// Whether --precision int8 was asked for.
    var isInt8: Bool { precision == Precision.int8.rawValue }

    /// The backend. int8 needs calibrated ranges, so only the commands that bring them accept
    /// it (`allowInt8`); the others say where it goes.
    func make(winograd: Bool = true, allowInt8: Bool = false) throws -> any Backend {
        if isInt8 && !allowInt8 {
            throw CLIError("--precision int8 is for inference: evaluate, predict, serve and bench (--mode infer|latency) take it")
        }
        return try Backends.make(backend, options: inferenceOptions(winograd: winograd))
    }
}

/// An error message for the user; ArgumentParser prints it after "Error: " and exits with 1.
struct CLIError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// Runs `body`; when an image file cannot be read and `--skip-bad-images` is off, the error
/// (which names the file) also says what the flag would do.
func suggestingSkipBadImages<T>(unless skipping: Bool, _ body: () throws -> T) throws -> T {
    do {
        return try body()
    } catch let error as FileError where !skipping && ImageFolder.isImageName(error.source) {
        throw CLIError("\(error)\n(--skip-bad-images leaves images that cannot be read out, and lists them)")
    }
}

/// The images `--skip-bad-images` left out, for the report: a heading, then the first ten.
func skippedImagesReport(_ skipped: [String], _ heading: String) -> [String] {
    guard !skipped.isEmpty else { return [] }
    return ["skipped \(skipped.count) unreadable image\(skipped.count == 1 ? "" : "s") (--skip-bad-images)\(heading):"]
        + skipped.prefix(10).map { "  \($0)" } + (skipped.count > 10 ? ["  ... and \(skipped.count - 10) more"] : [])
}

/// Pretty-printed JSON with sorted keys, for `--json`.
func json<T: Encodable>(_ value: T) throws -> String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    return String(decoding: try encoder.encode(value), as: UTF8.self)
}
