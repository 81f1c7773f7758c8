/// A file (or other named source) that cannot be used: which one, and what is wrong with it.
/// Each module names it after what it reads (`DataError`, `SafeTensorsError`,
/// `CheckpointError`), so that typed throws say where a failure comes from, but they are one
/// type with one message format: "<source>: <message>".
public struct FileError: Error, Equatable, Sendable, CustomStringConvertible {
    public var source: String
    public var message: String

    public init(_ source: String, _ message: String) {
        self.source = source
        self.message = message
    }

    public var description: String { "\(source): \(message)" }
}
