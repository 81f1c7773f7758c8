/// The `key=value` attributes of one layer line in a network file, with typed accessors that
/// remember which keys were read so that a misspelt key is an error, not a silent default.
public struct Attributes: Sendable {
    public private(set) var values: [String: String]
    private var used: Set<String> = []

    public init(_ values: [String: String] = [:]) { self.values = values }

    /// An integer attribute; `defaultValue` when absent, an error when absent without one.
    public mutating func int(_ key: String, default defaultValue: Int? = nil) throws -> Int {
        guard let text = take(key) else { return try missing(key, defaultValue) }
        guard let value = Int(text) else { throw AttributeError("'\(key)=\(text)' is not an integer") }
        return value
    }

    public mutating func float(_ key: String, default defaultValue: Float? = nil) throws -> Float {
        guard let text = take(key) else { return try missing(key, defaultValue) }
        guard let value = Float(text), value.isFinite else {
            throw AttributeError("'\(key)=\(text)' is not a finite number")
        }
        return value
    }

    public mutating func bool(_ key: String, default defaultValue: Bool? = nil) throws -> Bool {
        guard let text = take(key) else { return try missing(key, defaultValue) }
        switch text.lowercased() {
        case "true", "yes", "1": return true
        case "false", "no", "0": return false
        default: throw AttributeError("'\(key)=\(text)' is not true or false")
        }
    }

    /// One of a fixed set of words.
    public mutating func choice(_ key: String, of choices: [String], default defaultValue: String)
        throws -> String
    {
        guard let text = take(key) else { return defaultValue }
        guard choices.contains(text) else {
            throw AttributeError("'\(key)=\(text)' must be one of \(choices.joined(separator: ", "))")
        }
        return text
    }

    /// Throws if an attribute was given that the layer never asked for.
    public func checkAllUsed(kind: String) throws {
        let unknown = values.keys.filter { !used.contains($0) }.sorted()
        if !unknown.isEmpty {
            throw AttributeError(
                "unknown attribute\(unknown.count > 1 ? "s" : "") \(unknown.map { "'\($0)'" }.joined(separator: ", ")) for \(kind)")
        }
    }

    private mutating func take(_ key: String) -> String? {
        used.insert(key)
        return values[key]
    }

    private func missing<T>(_ key: String, _ defaultValue: T?) throws -> T {
        guard let defaultValue else { throw AttributeError("missing attribute '\(key)'") }
        return defaultValue
    }
}

public struct AttributeError: Error, Equatable, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Formats a float attribute the shortest way that reads back to the same value.
func formatted(_ value: Float) -> String {
    value == value.rounded() && abs(value) < 1e6 ? String(Int(value)) : "\(value)"
}
