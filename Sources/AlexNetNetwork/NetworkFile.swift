import AlexNetCore

/// Every layer kind a network file may name.
public enum LayerKinds {
    public static let all: [any Layer.Type] = [
        Convolution.self, Linear.self, ReLU.self, Tanh.self, Sigmoid.self, LocalResponseNorm.self,
        MaxPool.self, AveragePool.self, AdaptiveAveragePool.self, BatchNorm.self, Dropout.self,
        Flatten.self,
    ]

    public static func named(_ kind: String) -> (any Layer.Type)? { all.first { $0.kind == kind } }
}

/// The network file: a small text format, one line per layer, that a person can read and
/// change without recompiling (in the spirit of Darknet's `.cfg`):
///
///     # AlexNet as in the 2012 paper
///     name: paper
///     input: 3x227x227
///     init: paper
///
///     conv1   conv     out=96 kernel=11 stride=4
///     relu1   relu
///     norm1   lrn      size=5 alpha=0.0001 beta=0.75 k=2 convention=paper
///     pool1   maxpool  kernel=3 stride=2
///     ...
///
/// Header lines are `key: value` (`name`, `description`, `input`, `init`); every other line is
/// a layer: its name, its kind, then `key=value` attributes. `#` starts a comment.
/// `alexnet summary --model paper --config` prints any preset in this format.
public enum NetworkFile {
    /// Renders `network` so that `parse` gives it back.
    public static func format(_ network: Network) -> String {
        var lines: [String] = []
        lines.append("name: \(network.name)")
        if !network.description.isEmpty { lines.append("description: \(network.description)") }
        lines.append("input: \(network.inputShape)")
        lines.append("init: \(network.initialization.rawValue)")
        lines.append("")
        let nameWidth = network.layers.map(\.name.count).max() ?? 0
        let kindWidth = network.layers.map(\.kind.count).max() ?? 0
        for named in network.layers {
            let attributes = named.layer.attributes.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
            let line = named.name.padded(to: nameWidth + 2)
                + named.kind.padded(to: kindWidth + 2) + attributes
            lines.append(String(line.reversed().drop(while: { $0 == " " }).reversed()))
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// Parses a network file's text. `source` names the file in error messages.
    public static func parse(_ text: String, source: String = "<network>") throws -> Network {
        var name = "", description = "", input: Shape?, initialization = Initialization.pytorch
        var layers: [NamedLayer] = []
        for (number, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            func fail(_ message: String) -> NetworkFileError {
                NetworkFileError(source: source, line: number + 1, message: message)
            }
            let line = rawLine.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false)[0]
                .trimmed(" \t\r")
            if line.isEmpty { continue }
            let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
            if words[0].hasSuffix(":") {
                let value = line.dropFirst(words[0].count).trimmed(" \t")
                switch words[0] {
                case "name:": name = value
                case "description:": description = value
                case "input:":
                    guard let shape = Shape(parsing: value) else {
                        throw fail("input '\(value)' is not a shape like 3x227x227")
                    }
                    input = shape
                case "init:":
                    guard let scheme = Initialization(rawValue: value) else {
                        throw fail("init '\(value)' must be one of \(Initialization.allCases.map(\.rawValue).joined(separator: ", "))")
                    }
                    initialization = scheme
                default:
                    throw fail("unknown setting '\(words[0])' (known: name, description, input, init)")
                }
                continue
            }
            guard words.count >= 2 else { throw fail("a layer line needs a name and a kind: '\(line)'") }
            guard let kind = LayerKinds.named(words[1]) else {
                throw fail("unknown layer kind '\(words[1])' (known: \(LayerKinds.all.map { $0.kind }.joined(separator: ", ")))")
            }
            var values: [String: String] = [:]
            for word in words.dropFirst(2) {
                let pair = word.split(separator: "=", maxSplits: 1).map(String.init)
                guard pair.count == 2, !pair[0].isEmpty, !pair[1].isEmpty else {
                    throw fail("'\(word)' is not a key=value attribute")
                }
                guard values.updateValue(pair[1], forKey: pair[0]) == nil else {
                    throw fail("attribute '\(pair[0])' is given twice")
                }
            }
            var attributes = Attributes(values)
            do {
                let layer = try kind.init(attributes: &attributes)
                try attributes.checkAllUsed(kind: kind.kind)
                layers.append(NamedLayer(words[0], layer))
            } catch let error as AttributeError {
                throw fail("layer '\(words[0])': \(error.message)")
            }
        }
        guard let input else {
            throw NetworkFileError(source: source, line: nil, message: "no 'input:' line (e.g. 'input: 3x227x227')")
        }
        return Network(name: name.isEmpty ? source : name, description: description, inputShape: input,
                       layers: layers, initialization: initialization)
    }
}

/// A network file that cannot be read, with the file and line at fault.
public struct NetworkFileError: Error, Equatable, CustomStringConvertible {
    public var source: String
    public var line: Int?
    public var message: String

    public var description: String {
        "\(source)\(line.map { ":\($0)" } ?? ""): \(message)"
    }
}

extension StringProtocol {
    /// Without leading and trailing characters from `characters`.
    func trimmed(_ characters: String) -> String {
        let set = Set(characters)
        return String(drop(while: { set.contains($0) }).reversed().drop(while: { set.contains($0) }).reversed())
    }

    /// Left-aligned in a field of `width` characters.
    func padded(to width: Int) -> String {
        String(self) + String(repeating: " ", count: Swift.max(0, width - count))
    }
}
