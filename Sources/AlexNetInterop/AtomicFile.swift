import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Writes a file so that readers see the old contents or the new, never a mix: the bytes go to
/// a temporary file in the same directory, are flushed with fsync, and the temporary file is
/// renamed over the target (atomic on POSIX file systems); the directory is then synced so the
/// rename itself survives a crash.
public struct AtomicFile {
    private let descriptor: Int32
    private let path: String

    /// Calls `body` with a file to write into, then moves it into place. If `body` throws, the
    /// target is untouched and the temporary file is removed.
    public static func write(to path: String, _ body: (AtomicFile) throws(SafeTensorsError) -> Void) throws(SafeTensorsError) {
        let temporary = "\(path).partial-\(getpid())"
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard descriptor >= 0 else { throw SafeTensorsError(path, "cannot be written: \(String(cString: strerror(errno)))") }
        let file = AtomicFile(descriptor: descriptor, path: path)
        func finish() throws(SafeTensorsError) {
            try body(file)
            guard fsync(descriptor) == 0 else { throw SafeTensorsError(path, "cannot be flushed: \(String(cString: strerror(errno)))") }
            guard rename(temporary, path) == 0 else {
                throw SafeTensorsError(path, "cannot replace the old file: \(String(cString: strerror(errno)))")
            }
        }
        do throws(SafeTensorsError) {
            try finish()
            close(descriptor)
        } catch {
            close(descriptor)
            unlink(temporary)
            throw error
        }
        let directory = (path as NSString).deletingLastPathComponent
        let directoryDescriptor = open(directory.isEmpty ? "." : directory, O_RDONLY)
        if directoryDescriptor >= 0 {
            fsync(directoryDescriptor)
            close(directoryDescriptor)
        }
    }

    /// Writes bytes atomically.
    public static func write(bytes: [UInt8], to path: String) throws(SafeTensorsError) {
        try write(to: path) { file throws(SafeTensorsError) in try file.write(bytes) }
    }

    /// Writes text atomically.
    public static func write(_ text: String, to path: String) throws(SafeTensorsError) {
        try write(to: path) { file throws(SafeTensorsError) in try file.write(Array(text.utf8)) }
    }

    public func write(_ bytes: [UInt8]) throws(SafeTensorsError) {
        let result = bytes.withUnsafeBytes { buffer in Result { () throws(SafeTensorsError) in try write(buffer) } }
        try result.get()
    }

    public func write(_ buffer: UnsafeRawBufferPointer) throws(SafeTensorsError) {
        var offset = 0
        while offset < buffer.count {
            let written = Glibc.write(descriptor, buffer.baseAddress! + offset, buffer.count - offset)
            if written < 0 {
                if errno == EINTR { continue }
                throw SafeTensorsError(path, "write failed: \(String(cString: strerror(errno)))")
            }
            offset += written
        }
    }
}
