import AlexNetTestSupport
import Foundation
import Testing

/// Runs the real `alexnet` executable that SwiftPM built beside the test bundle.
func alexnet(_ arguments: [String]) throws -> (status: Int32, output: String, error: String) {
    let directory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    var executable = directory.appendingPathComponent("alexnet")
    // The test bundle may sit one level deeper (…/debug/X.xctest/…).
    while !FileManager.default.isExecutableFile(atPath: executable.path), executable.pathComponents.count > 3 {
        executable = executable.deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("alexnet")
    }
    let process = Process()
    process.executableURL = executable
    process.arguments = arguments
    let output = Pipe(), error = Pipe()
    process.standardOutput = output
    process.standardError = error
    try process.run()
    let outData = output.fileHandleForReading.readDataToEndOfFile()
    let errorData = error.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: outData, as: UTF8.self), String(decoding: errorData, as: UTF8.self))
}

@Suite struct CLITests {
    @Test func summaryOfThePaper() throws {
        let result = try alexnet(["summary", "--model", "paper"])
        #expect(result.status == 0, "\(result.error)")
        #expect(result.output.contains("60,965,224") && result.output.contains("724,406,816"))
        #expect(result.output.contains("conv2") && result.output.contains("5x5/1 p2 g2"))
    }

    @Test func summaryAsJSON() throws {
        let result = try alexnet(["summary", "--model", "d2l-fashion", "--json"])
        #expect(result.status == 0, "\(result.error)")
        let object = try JSONSerialization.jsonObject(with: Data(result.output.utf8)) as? [String: Any]
        #expect(object?["parameters"] as? Int == 46_764_746)
        #expect((object?["layers"] as? [Any])?.count == 21)
    }

    @Test func impossibleNetworkFailsNamingTheLayer() throws {
        let result = try alexnet(["summary", "--model", "paper", "--input", "3x32x32"])
        #expect(result.status != 0)
        #expect(result.error.contains("'pool2'") && result.error.contains("256x2x2"), "\(result.error)")
        #expect(!result.error.contains("Fatal") && result.output.isEmpty)
    }

    @Test func configRoundTripsThroughAFile() throws {
        let config = try alexnet(["summary", "--model", "torchvision", "--classes", "10", "--config"])
        #expect(config.status == 0)
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("alexnet-cli-\(getpid()).net").path
        try config.output.write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let summary = try alexnet(["summary", "--model", path])
        #expect(summary.status == 0, "\(summary.error)")
        #expect(summary.output.contains("classifier.6") && summary.output.contains("57,044,810"))
    }

    @Test func badInputGetsClearErrors() throws {
        let unknown = try alexnet(["summary", "--model", "alexnet2000"])
        #expect(unknown.status != 0 && unknown.error.contains("neither a preset"), "\(unknown.error)")
        let shape = try alexnet(["summary", "--model", "paper", "--input", "3by227"])
        #expect(shape.status != 0 && shape.error.contains("not a shape"), "\(shape.error)")
        let classes = try alexnet(["summary", "--model", "paper", "--classes", "0"])
        #expect(classes.status != 0 && classes.error.contains("--classes must be positive"), "\(classes.error)")
    }

    @Test func modelsListsEveryPreset() throws {
        let result = try alexnet(["models"])
        #expect(result.status == 0)
        for name in ["paper", "paper-1gpu", "torchvision", "d2l-fashion", "cifar10"] { #expect(result.output.contains(name)) }
    }
}

@Suite struct BenchCLITests {
    @Test func benchPrintsTheFiguresAsJSON() throws {
        let result = try alexnet(["bench", "--model", "cifar10", "--batch", "2", "--steps", "2", "--warmup", "1", "--per-layer", "--json"])
        #expect(result.status == 0, "\(result.error)")
        let object = try JSONSerialization.jsonObject(with: Data(result.output.utf8)) as? [String: Any]
        for key in ["imagesPerSecond", "millisecondsMedian", "millisecondsMin", "millisecondsMax", "gflops", "sgemmPeakGflops",
                    "peakFraction", "peakResidentBytes"] {
            #expect((object?[key] as? Double ?? Double(object?[key] as? Int ?? -1)) > 0, "\(key)")
        }
        #expect((object?["layers"] as? [Any])?.count == 18)
    }

    @Test func benchRejectsContradictions() throws {
        let result = try alexnet(["bench", "--model", "cifar10", "--mode", "latency", "--batch", "8"])
        #expect(result.status != 0 && result.error.contains("latency runs batch 1"), "\(result.error)")
    }

    /// `data download` against a server on 127.0.0.1 (`--base-url`): progress on stderr, and
    /// files whose bytes are not the official ones refused by SHA-256, nothing left behind.
    @Test func downloadChecksEveryFile() throws {
        let server = try TestHTTPServer(files: ["train-images-idx3-ubyte.gz": [UInt8](repeating: 7, count: 200_000)])
        defer { server.stop() }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("alexnet-dl-\(UUID().uuidString)").path
        let result = try alexnet(["data", "download", "mnist", "--dir", directory, "--base-url", server.baseURL])
        #expect(result.status != 0)
        #expect(result.error.contains("train-images-idx3-ubyte.gz 0.2/0.2 MB"), "progress: \(result.error)")
        #expect(result.error.contains("\(directory)/train-images-idx3-ubyte.gz: could not be downloaded (\(server.baseURL)train-images-idx3-ubyte.gz: the file's SHA-256 is")
                && result.error.contains("not the expected 440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609"), "\(result.error)")
        #expect((try? FileManager.default.contentsOfDirectory(atPath: directory)) == [])
        let unknown = try alexnet(["data", "download", "imagenet"])
        #expect(unknown.status != 0 && unknown.error.contains("cifar10, fashion-mnist, mnist"), "\(unknown.error)")
    }
}
