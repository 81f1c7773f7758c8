import Foundation
import Testing

/// The executable's path, found as `alexnet(_:)` finds it.
func alexnetExecutable() -> URL {
    let directory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    var executable = directory.appendingPathComponent("alexnet")
    while !FileManager.default.isExecutableFile(atPath: executable.path), executable.pathComponents.count > 3 {
        executable = executable.deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("alexnet")
    }
    return executable
}

func temporaryDirectory(_ tag: String) throws -> String {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("alexnet-\(tag)-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

@Suite(.serialized) struct TrainCLITests {
    /// A short quick run on a slice of the real Fashion-MNIST: checkpoints, history, the final
    /// accuracy line, then `evaluate` on what it wrote.
    @Test func trainThenEvaluate() throws {
        let out = try temporaryDirectory("train")
        let result = try alexnet(["train", "--limit", "1024", "--val-limit", "300", "--epochs", "1", "--lr", "0.02", "--out", out])
        #expect(result.status == 0, "\(result.error)")
        #expect(result.output.contains("Test accuracy:"), "\(result.output)")
        #expect(result.error.contains("epoch 1/1"), "progress lines go to stderr")
        for file in ["last.safetensors", "best.safetensors", "history.csv", "history.jsonl", "curves.svg"] {
            #expect(FileManager.default.fileExists(atPath: "\(out)/\(file)"), "\(file)")
        }
        let evaluation = try alexnet(["evaluate", "--checkpoint", "\(out)/last.safetensors", "--limit", "300", "--json"])
        #expect(evaluation.status == 0, "\(evaluation.error)")
        let report = try JSONSerialization.jsonObject(with: Data(evaluation.output.utf8)) as? [String: Any]
        #expect(report?["examples"] as? Int == 300)
        #expect((report?["confusion"] as? [[Int]])?.joined().reduce(0, +) == 300)
        // The evaluation must agree with the run's own validation pass on the same images.
        let history = try String(contentsOfFile: "\(out)/history.csv", encoding: .utf8).split(separator: "\n")
        let validationTop1 = Double(history[1].split(separator: ",", omittingEmptySubsequences: false)[6])!
        #expect(abs((report?["top1"] as? Double ?? -1) - validationTop1) < 1e-6)
    }

    @Test func ctrlCWritesACheckpointAndResumeFinishes() throws {
        let out = try temporaryDirectory("sigint")
        let process = Process()
        process.executableURL = alexnetExecutable()
        process.arguments = ["train", "--limit", "5120", "--val-limit", "200", "--epochs", "1", "--out", out]
        let output = Pipe(), error = Pipe()
        process.standardOutput = output
        process.standardError = error
        try process.run()
        // Wait for the first progress line (a tenth of the epoch), then interrupt.
        var seen = Data()
        while !String(decoding: seen, as: UTF8.self).contains("10%") {
            let chunk = error.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            seen.append(chunk)
        }
        process.interrupt()
        let printed = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 130, "\(printed)")
        #expect(printed.contains("--resume"), "\(printed)")
        #expect(FileManager.default.fileExists(atPath: "\(out)/last.safetensors"))
        let resumed = try alexnet(["train", "--resume", "--out", out])
        #expect(resumed.status == 0, "\(resumed.error)")
        #expect(resumed.error.contains("resuming at batch"), "\(resumed.error)")
        #expect(resumed.output.contains("Test accuracy:"), "\(resumed.output)")
    }

    @Test func badOptionsGetClearErrors() throws {
        let preset = try alexnet(["train", "--preset", "imagenet-fast"])
        #expect(preset.status != 0 && preset.error.contains("unknown preset 'imagenet-fast'"))
        let data = try alexnet(["train", "--data", "/nonexistent/data", "--out", try temporaryDirectory("bad")])
        #expect(data.status != 0 && data.error.contains("/nonexistent/data"), "\(data.error)")
        let resume = try alexnet(["train", "--resume", "--out", try temporaryDirectory("empty")])
        #expect(resume.status != 0 && resume.error.contains("no "), "\(resume.error)")
        let checkpoint = try alexnet(["evaluate", "--checkpoint", "/nonexistent.safetensors"])
        #expect(checkpoint.status != 0 && checkpoint.error.contains("/nonexistent.safetensors"), "\(checkpoint.error)")
    }
}
