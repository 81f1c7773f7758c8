import AlexNetCore
import AlexNetData
import AlexNetTestSupport
import Foundation
import Testing

/// `Downloader` against a real HTTP server the test runs on 127.0.0.1.
@Suite(.serialized) struct DownloadTests {
    /// 300 KB of varied bytes, their SHA-256, and a server holding them as `data.bin`.
    let payload: [UInt8] = (0..<300_000).map { UInt8(truncatingIfNeeded: $0 &* 2_654_435_761 >> 13) }
    var sum: String { SHA256.hex(payload) }

    func setUp() throws -> (server: TestHTTPServer, directory: String, file: RemoteFile) {
        let server = try TestHTTPServer(files: ["data.bin": payload])
        let directory = try IDXFixture.directory()
        return (server, directory, RemoteFile(name: "data.bin", urls: [server.baseURL + "data.bin"], sha256: sum, size: payload.count))
    }

    func contents(_ path: String) throws -> [UInt8] { try [UInt8](Data(contentsOf: URL(fileURLWithPath: path))) }

    @Test func sha256MatchesKnownDigests() {
        #expect(SHA256.hex([]) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(SHA256.hex(Array("abc".utf8)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }

    @Test func downloadsVerifiesAndThenSkips() throws {
        let (server, directory, file) = try setUp()
        defer { server.stop() }
        nonisolated(unsafe) var reports: [(Int, Int?)] = []
        let downloader = Downloader { _, done, total in reports.append((done, total)) }
        #expect(try downloader.fetch(file, into: directory) == .downloaded(resumedAt: 0))
        #expect(try contents("\(directory)/data.bin") == payload)
        #expect(!FileManager.default.fileExists(atPath: "\(directory)/data.bin.partial"))
        #expect(reports.last?.0 == payload.count && reports.last?.1 == payload.count)
        #expect(try downloader.fetch(file, into: directory) == .present)
        #expect(server.requests.count == 1, "a verified file is not fetched again")
    }

    @Test func aDroppedConnectionResumesWithARangeRequest() throws {
        let (server, directory, file) = try setUp()
        defer { server.stop() }
        server.cutNextResponse(after: 100_000)
        #expect(try Downloader().fetch(file, into: directory) == .downloaded(resumedAt: 0))
        #expect(try contents("\(directory)/data.bin") == payload)
        #expect(server.requests.map(\.range) == [nil, "bytes=100000-"])
    }

    @Test func anInterruptedRunResumesInTheNextRun() throws {
        let (server, directory, file) = try setUp()
        defer { server.stop() }
        server.cutNextResponse(after: 120_000)
        let once = Downloader()
        once.attemptsPerURL = 1
        do {
            try once.fetch(file, into: directory)
            Issue.record("a cut transfer was accepted")
        } catch {
            #expect(error.message.contains("120000 bytes received are kept") && error.message.contains(server.baseURL + "data.bin: "), "\(error)")
        }
        #expect(!FileManager.default.fileExists(atPath: "\(directory)/data.bin"), "nothing unverified under the real name")
        #expect(try Downloader().fetch(file, into: directory) == .downloaded(resumedAt: 120_000))
        #expect(try contents("\(directory)/data.bin") == payload)
        #expect(server.requests.last?.range == "bytes=120000-")
    }

    @Test func aServerIgnoringRangesMakesItStartOver() throws {
        let (server, directory, file) = try setUp()
        defer { server.stop() }
        try Data(payload.prefix(5000).map { $0 ^ 0xFF }).write(to: URL(fileURLWithPath: "\(directory)/data.bin.partial"))
        server.ignoreRanges(true)
        #expect(try Downloader().fetch(file, into: directory) == .downloaded(resumedAt: 0), "started over from byte 0")
        #expect(try contents("\(directory)/data.bin") == payload, "the stale partial bytes were replaced, not kept")
    }

    @Test func aWrongChecksumDeletesTheFileAndSaysBothSums() throws {
        let (server, directory, file) = try setUp()
        defer { server.stop() }
        var wrong = file
        wrong.sha256 = String(repeating: "ab", count: 32)
        do {
            try Downloader().fetch(wrong, into: directory)
            Issue.record("a file with the wrong checksum was accepted")
        } catch {
            #expect(error.source.hasSuffix("data.bin") && error.message.contains(sum) && error.message.contains(wrong.sha256), "\(error)")
        }
        #expect(!FileManager.default.fileExists(atPath: "\(directory)/data.bin"))
        #expect(!FileManager.default.fileExists(atPath: "\(directory)/data.bin.partial"))
    }

    @Test func mirrorsAreTriedInOrder() throws {
        let (server, directory, file) = try setUp()
        defer { server.stop() }
        var mirrored = file
        mirrored.urls = [server.baseURL + "missing/data.bin", server.baseURL + "data.bin"]
        #expect(try Downloader().fetch(mirrored, into: directory) == .downloaded(resumedAt: 0))
        #expect(server.requests.map(\.path) == ["missing/data.bin", "data.bin"])
        // A mirror serving other bytes (stale, or a proxy's page) is dropped for the next one.
        server.setFile("stale/data2.bin", Array(payload.reversed()))
        server.setFile("data2.bin", payload)
        var second = file
        second.name = "data2.bin"
        second.urls = [server.baseURL + "stale/data2.bin", server.baseURL + "data2.bin"]
        #expect(try Downloader().fetch(second, into: directory) == .downloaded(resumedAt: 0))
        #expect(try contents("\(directory)/data2.bin") == payload)
        var nowhere = file
        nowhere.name = "other.bin"
        nowhere.urls = [server.baseURL + "a/other.bin", server.baseURL + "b/other.bin"]
        #expect {
            try Downloader().fetch(nowhere, into: directory)
        } throws: { error in
            "\(error)".contains("a/other.bin: HTTP status 404") && "\(error)".contains("b/other.bin: HTTP status 404")
        }
    }
}
