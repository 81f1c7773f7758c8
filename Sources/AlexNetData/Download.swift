import AlexNetCore
import Foundation

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
#if canImport(Glibc)
import Glibc
#endif

/// One file of a dataset on the web: where to get it (mirrors, tried in order) and what its
/// bytes must hash to.
public struct RemoteFile: Sendable, Equatable {
    public var name: String
    public var urls: [String]
    public var sha256: String
    public var size: Int?

    public init(name: String, urls: [String], sha256: String, size: Int? = nil) {
        self.name = name
        self.urls = urls
        self.sha256 = sha256
        self.size = size
    }
}

/// The datasets `alexnet data download` knows: their official addresses and SHA-256 sums (the
/// sums TensorFlow Datasets records for the same files), and the folder each goes to, where
/// `--data` then finds it.
public enum DatasetDownloads {
    public struct Entry: Sendable {
        public var directory: String
        public var files: [RemoteFile]
        /// What to pass to `--data` afterwards.
        public var dataArgument: String
    }

    static func idx(_ bases: [String], _ sums: [(String, String, Int)]) -> [RemoteFile] {
        sums.map { name, sum, size in RemoteFile(name: name, urls: bases.map { $0 + name }, sha256: sum, size: size) }
    }

    public static let catalog: [String: Entry] = [
        "cifar10": Entry(directory: "data", files: [
            RemoteFile(name: "cifar-10-binary.tar.gz", urls: ["https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"],
                       sha256: "c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd", size: 170_052_171),
        ], dataArgument: "cifar10"),
        "fashion-mnist": Entry(directory: "data/fashion-mnist", files: idx(
            ["http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"], [
                ("train-images-idx3-ubyte.gz", "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84", 26_421_880),
                ("train-labels-idx1-ubyte.gz", "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845", 29_515),
                ("t10k-images-idx3-ubyte.gz", "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073", 4_422_102),
                ("t10k-labels-idx1-ubyte.gz", "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5", 5_148),
            ]), dataArgument: "data/fashion-mnist"),
        "mnist": Entry(directory: "data/mnist", files: idx(
            ["https://storage.googleapis.com/cvdf-datasets/mnist/", "https://ossci-datasets.s3.amazonaws.com/mnist/"], [
                ("train-images-idx3-ubyte.gz", "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609", 9_912_422),
                ("train-labels-idx1-ubyte.gz", "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c", 28_881),
                ("t10k-images-idx3-ubyte.gz", "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6", 1_648_877),
                ("t10k-labels-idx1-ubyte.gz", "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6", 4_542),
            ]), dataArgument: "data/mnist"),
    ]
}

/// Downloads files over HTTP(S) into a folder, resumably and checked:
/// - bytes go to `NAME.partial`; a later run (or a retry after a dropped connection) asks for
///   the rest with a `Range` request and appends, or starts over if the server ignores ranges;
/// - the finished file's SHA-256 must match, or the partial file is deleted and the error says
///   both sums; only then is it renamed to `NAME`, so `NAME` is always whole and verified;
/// - a file already there with the right sum is not fetched again.
public final class Downloader: @unchecked Sendable {
    public enum Outcome: Equatable, Sendable {
        /// Already present with the right SHA-256.
        case present
        /// Fetched; `resumedAt` is the byte it continued from (0 for a fresh start).
        case downloaded(resumedAt: Int)
    }

    /// Called as bytes arrive: file name, bytes so far, expected total if known.
    public var progress: (@Sendable (String, Int, Int?) -> Void)?
    /// Attempts per address when a transfer breaks off after making progress.
    public var attemptsPerURL = 3
    public var timeout: TimeInterval = 60

    public init(progress: (@Sendable (String, Int, Int?) -> Void)? = nil) {
        self.progress = progress
    }

    /// Fetches `file` into `directory` (created if needed); `baseURL` replaces the mirrors' folder
    /// (`--base-url`: the file's name is appended to it).
    @discardableResult
    public func fetch(_ file: RemoteFile, into directory: String, baseURL: String? = nil) throws(DataError) -> Outcome {
        try makeDirectory(directory)
        let target = "\(directory)/\(file.name)"
        let partial = "\(target).partial"
        if access(target, F_OK) == 0 {
            if try Self.sha256(ofFile: target) == file.sha256 { return .present }
            throw DataError(target, "exists but its SHA-256 is not the expected \(file.sha256): move it away to download it again")
        }
        let urls = baseURL.map { [($0.hasSuffix("/") ? $0 : $0 + "/") + file.name] } ?? file.urls
        var failures: [String] = []
        var resumedAt: Int?
        for url in urls {
            var attempts = 0
            while attempts < attemptsPerURL {
                attempts += 1
                var started: Int?
                do throws(TransferError) {
                    try transfer(url, to: partial, name: file.name, expectedSize: file.size, startedAt: &started)
                    if resumedAt == nil { resumedAt = started }
                } catch {
                    if resumedAt == nil { resumedAt = started }
                    failures.append("\(url): \(error.message)")
                    // Retry the same address only if this attempt got somewhere.
                    if error.retryable && error.received > 0 { continue }
                    break
                }
                let sum = try Self.sha256(ofFile: partial)
                guard sum == file.sha256 else {
                    // A stale mirror or a proxy's error page: drop it, try the next address.
                    unlink(partial)
                    failures.append("\(url): the file's SHA-256 is \(sum), not the expected \(file.sha256); it was deleted")
                    break
                }
                guard rename(partial, target) == 0 else {
                    throw DataError(target, "cannot be put in place: \(String(cString: strerror(errno)))")
                }
                return .downloaded(resumedAt: resumedAt ?? 0)
            }
        }
        let kept = Self.size(of: partial)
        throw DataError(target, "could not be downloaded (\(failures.joined(separator: "; ")))"
            + (kept > 0 ? "; the \(kept) bytes received are kept in \(partial) and the next run resumes from there" : ""))
    }

    struct TransferError: Error {
        var message: String
        var retryable: Bool
        /// Bytes this attempt added to the partial file.
        var received = 0
    }

    /// One HTTP request appending to `partial` from its current size; `startedAt` is where
    /// the server's bytes began (0 when it ignored the range and sent the whole file).
    private func transfer(_ url: String, to partial: String, name: String, expectedSize: Int?,
                          startedAt: inout Int?) throws(TransferError) {
        guard let address = URL(string: url) else { throw TransferError(message: "not a valid URL", retryable: false) }
        let offset = Self.size(of: partial)
        if let expectedSize, offset == expectedSize {  // complete from an earlier run: just verify
            startedAt = offset
            return
        }
        var request = URLRequest(url: address, timeoutInterval: timeout)
        if offset > 0 { request.setValue("bytes=\(offset)-", forHTTPHeaderField: "Range") }
        let receiver = Receiver(path: partial, offset: offset, name: name, expectedSize: expectedSize, progress: progress)
        let session = URLSession(configuration: .ephemeral, delegate: receiver, delegateQueue: nil)
        session.dataTask(with: request).resume()
        receiver.done.wait()
        session.finishTasksAndInvalidate()
        if receiver.responded { startedAt = receiver.offset }
        if var failure = receiver.failure {
            failure.received = receiver.written
            throw failure
        }
    }

    /// Writes what a data task receives, checking the status and where the body starts.
    private final class Receiver: NSObject, URLSessionDataDelegate, @unchecked Sendable {
        let path: String
        let name: String
        var offset: Int
        var written = 0
        var total: Int?
        let progress: (@Sendable (String, Int, Int?) -> Void)?
        var descriptor: Int32 = -1
        var failure: TransferError?
        var responded = false
        let done = DispatchSemaphore(value: 0)

        init(path: String, offset: Int, name: String, expectedSize: Int?, progress: (@Sendable (String, Int, Int?) -> Void)?) {
            self.path = path
            self.offset = offset
            self.name = name
            self.total = expectedSize
            self.progress = progress
        }

        func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive response: URLResponse,
                        completionHandler: @escaping @Sendable (URLSession.ResponseDisposition) -> Void) {
            let status = (response as? HTTPURLResponse)?.statusCode ?? 0
            var flags = O_WRONLY | O_CREAT
            switch status {
            case 206 where offset > 0:
                let range = (response as? HTTPURLResponse)?.value(forHTTPHeaderField: "Content-Range") ?? ""
                guard range.hasPrefix("bytes \(offset)-") else {
                    failure = TransferError(message: "asked for bytes from \(offset), got the range '\(range)'", retryable: false)
                    return completionHandler(.cancel)
                }
                // "bytes FROM-TO/TOTAL": the whole file's size, not just this part's.
                if let whole = range.split(separator: "/").last.flatMap({ Int($0) }) { total = whole }
                flags |= O_APPEND
            case 200:
                offset = 0  // the server sent the whole file: start over
                flags |= O_TRUNC
            case 416 where offset > 0:
                // Nothing left to send: the partial file may be complete; the checksum decides.
                return completionHandler(.cancel)
            default:
                failure = TransferError(message: "HTTP status \(status)", retryable: status >= 500)
                return completionHandler(.cancel)
            }
            // What this server promises: a 200's length, a 206's "/TOTAL" (taken above); the
            // catalogue's size only when the server says nothing.
            if status == 200, response.expectedContentLength > 0 { total = Int(response.expectedContentLength) }
            responded = true
            descriptor = open(path, flags, 0o644)
            guard descriptor >= 0 else {
                failure = TransferError(message: "\(path) cannot be written: \(String(cString: strerror(errno)))", retryable: false)
                return completionHandler(.cancel)
            }
            progress?(name, offset, total)
            completionHandler(.allow)
        }

        func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive data: Data) {
            guard failure == nil, descriptor >= 0 else { return }
            let ok = data.withUnsafeBytes { buffer -> Bool in
                var done = 0
                while done < buffer.count {
                    let n = write(descriptor, buffer.baseAddress! + done, buffer.count - done)
                    if n < 0 { if errno == EINTR { continue }; return false }
                    done += n
                }
                return true
            }
            guard ok else {
                failure = TransferError(message: "\(path) cannot be written: \(String(cString: strerror(errno)))", retryable: false)
                dataTask.cancel()
                return
            }
            written += data.count
            progress?(name, offset + written, total)
        }

        func urlSession(_ session: URLSession, task: URLSessionTask, didCompleteWithError error: Error?) {
            if descriptor >= 0 {
                fsync(descriptor)
                close(descriptor)
            }
            if failure == nil, let error, (error as NSError).code != NSURLErrorCancelled {
                failure = TransferError(message: error.localizedDescription, retryable: true)
            }
            if failure == nil, let total, offset + written < total, (task.response as? HTTPURLResponse)?.statusCode != 416 {
                failure = TransferError(message: "the connection closed after \(offset + written) of \(total) bytes", retryable: true)
            }
            done.signal()
        }
    }

    static func size(of path: String) -> Int {
        var status = stat()
        return stat(path, &status) == 0 ? Int(status.st_size) : 0
    }

    /// SHA-256 of a file, read in 1 MiB pieces.
    public static func sha256(ofFile path: String) throws(DataError) -> String {
        let hasher = SHA256()
        try readChunks(of: path) { hasher.update($0) }
        return hasher.finalize()
    }

    private func makeDirectory(_ path: String) throws(DataError) {
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        } catch {
            throw DataError(path, "cannot be created: \(error.localizedDescription)")
        }
    }
}
