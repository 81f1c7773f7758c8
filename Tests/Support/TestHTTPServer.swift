import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A small HTTP/1.1 file server on 127.0.0.1 (a free port) for download tests: it serves
/// `files` by path, honours `Range: bytes=N-` with 206 unless told to ignore ranges, can cut
/// its next response short to play a dropped connection, and records what it was asked. One
/// connection at a time, each closed after its response; it stops when `stop()` is called.
public final class TestHTTPServer: @unchecked Sendable {
    public let port: UInt16
    public var baseURL: String { "http://127.0.0.1:\(port)/" }

    private let lock = NSLock()
    private var files: [String: [UInt8]]
    private var cutNextResponseAfter: Int?
    private var ignoresRanges = false
    private var log: [(path: String, range: String?)] = []
    private let listener: Int32
    private let thread: Thread

    public init(files: [String: [UInt8]]) throws {
        self.files = files
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard listener >= 0 else { throw POSIXError(.EIO) }
        var yes: Int32 = 1
        setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(listener, 8) == 0 else { close(listener); throw POSIXError(.EADDRINUSE) }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(listener, $0, &length) }
        }
        port = UInt16(bigEndian: address.sin_port)
        self.listener = listener
        let descriptor = listener
        nonisolated(unsafe) var server: TestHTTPServer?
        thread = Thread {
            while true {
                let connection = accept(descriptor, nil, nil)
                guard connection >= 0 else { return }  // the listener was shut down
                server?.serve(connection)
                close(connection)
            }
        }
        server = self
        thread.start()
    }

    public func stop() {
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
    }

    deinit { stop() }

    /// The next response sends its headers (with the full length) and only `bytes` of its body.
    public func cutNextResponse(after bytes: Int) { lock.withLock { cutNextResponseAfter = bytes } }
    public func ignoreRanges(_ ignore: Bool) { lock.withLock { ignoresRanges = ignore } }
    public func setFile(_ path: String, _ bytes: [UInt8]?) { lock.withLock { files[path] = bytes } }
    /// (path, Range header) of every request so far.
    public var requests: [(path: String, range: String?)] { lock.withLock { log } }

    private func serve(_ connection: Int32) {
        var request: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while !request.ends(with: Array("\r\n\r\n".utf8)) {
            let n = read(connection, &buffer, buffer.count)
            guard n > 0, request.count < 65536 else { return }
            request += buffer[0..<n]
        }
        let lines = String(decoding: request, as: UTF8.self).components(separatedBy: "\r\n")
        let parts = lines[0].split(separator: " ")
        guard parts.count >= 2 else { return }
        let path = String(parts[1].drop { $0 == "/" })
        let range = lines.first { $0.lowercased().hasPrefix("range:") }.map { String($0.dropFirst(6)).trimmingCharacters(in: .whitespaces) }
        let (body, cut, ignoring): ([UInt8]?, Int?, Bool) = lock.withLock {
            log.append((path, range))
            defer { cutNextResponseAfter = nil }
            return (files[path], cutNextResponseAfter, ignoresRanges)
        }
        guard let body else { return send(connection, "404 Not Found", [:], []) }
        var start = 0
        if let range, !ignoring, range.hasPrefix("bytes="), let from = Int(range.dropFirst(6).prefix { $0 != "-" }) {
            guard from < body.count else {
                return send(connection, "416 Range Not Satisfiable", ["Content-Range": "bytes */\(body.count)"], [])
            }
            start = from
        }
        var headers = ["Content-Length": "\(body.count - start)"]
        if start > 0 { headers["Content-Range"] = "bytes \(start)-\(body.count - 1)/\(body.count)" }
        let slice = Array(body[start...])
        send(connection, start > 0 ? "206 Partial Content" : "200 OK", headers, cut.map { Array(slice.prefix($0)) } ?? slice)
    }

    private func send(_ connection: Int32, _ status: String, _ headers: [String: String], _ body: [UInt8]) {
        var head = "HTTP/1.1 \(status)\r\nConnection: close\r\n"
        for (key, value) in headers.sorted(by: { $0.key < $1.key }) { head += "\(key): \(value)\r\n" }
        if headers["Content-Length"] == nil { head += "Content-Length: \(body.count)\r\n" }
        let bytes = Array((head + "\r\n").utf8) + body
        var sent = 0
        while sent < bytes.count {
            let n = bytes[sent...].withUnsafeBytes { write(connection, $0.baseAddress, $0.count) }
            guard n > 0 else { return }
            sent += n
        }
    }
}

extension Array where Element == UInt8 {
    fileprivate func ends(with suffix: [UInt8]) -> Bool { count >= suffix.count && Array(self[(count - suffix.count)...]) == suffix }
}
