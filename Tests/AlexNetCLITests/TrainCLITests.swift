import AlexNetData
import AlexNetInterop
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

/// Starts `executable arguments`, waits for its first progress line (a tenth of the epoch, on
/// stderr), sends it SIGINT as Ctrl-C would, and waits for it to end: the process, what it
/// printed on stdout, and on stderr.
func interruptAtTenPercent(_ executable: String, _ arguments: [String],
                           environment: [String: String] = [:]) throws -> (Process, String, String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
    let output = Pipe(), error = Pipe()
    process.standardOutput = output
    process.standardError = error
    try process.run()
    var seen = Data()
    while !String(decoding: seen, as: UTF8.self).contains("10%") {
        let chunk = error.fileHandleForReading.availableData
        if chunk.isEmpty { break }
        seen.append(chunk)
    }
    process.interrupt()
    let printed = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    seen.append(error.fileHandleForReading.readDataToEndOfFile())
    process.waitUntilExit()
    return (process, printed, String(decoding: seen, as: UTF8.self))
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
        for file in ["last.safetensors", "best.safetensors", "history.csv", "history.jsonl", "curves.svg", "curves.png"] {
            #expect(FileManager.default.fileExists(atPath: "\(out)/\(file)"), "\(file)")
        }
        let events = try FileManager.default.contentsOfDirectory(atPath: out).filter { $0.hasPrefix("events.out.tfevents.") }
        #expect(events.count == 1, "TensorBoard's events file beside the history: \(events)")
        if let name = events.first { #expect(try EventFile(path: "\(out)/\(name)").scalar("top1/validation").count == 1) }
        let evaluation = try alexnet(["evaluate", "--checkpoint", "\(out)/last.safetensors", "--limit", "300", "--json",
                                      "--confusion-png", "\(out)/confusion.png"])
        let png = try Data(contentsOf: URL(fileURLWithPath: "\(out)/confusion.png"))
        #expect(png.starts(with: [0x89, 0x50, 0x4E, 0x47]))
        #expect(evaluation.status == 0, "\(evaluation.error)")
        let report = try JSONSerialization.jsonObject(with: Data(evaluation.output.utf8)) as? [String: Any]
        #expect(report?["examples"] as? Int == 300)
        #expect((report?["confusion"] as? [[Int]])?.joined().reduce(0, +) == 300)
        // The evaluation must agree with the run's own validation pass on the same images.
        let history = try String(contentsOfFile: "\(out)/history.csv", encoding: .utf8).split(separator: "\n")
        let validationTop1 = Double(history[1].split(separator: ",", omittingEmptySubsequences: false)[6])!
        #expect(abs((report?["top1"] as? Double ?? -1) - validationTop1) < 1e-6)

        // predict on a test image written as PNG, with the checkpoint's own preprocessing.
        let test = try FashionMNIST.test()
        let image = try test.image(at: 0)
        try Data(ImageCodec.encodePNG(image)).write(to: URL(fileURLWithPath: "\(out)/boot.png"))
        let prediction = try alexnet(["predict", "--checkpoint", "\(out)/last.safetensors", "--top", "3", "--json", "\(out)/boot.png"])
        #expect(prediction.status == 0, "\(prediction.error)")
        let predictions = try JSONSerialization.jsonObject(with: Data(prediction.output.utf8)) as? [[String: Any]]
        let classes = predictions?.first?["classes"] as? [[String: Any]]
        #expect(classes?.count == 3)
        let probabilities = classes?.compactMap { $0["probability"] as? Double } ?? []
        #expect(probabilities == probabilities.sorted(by: >) && probabilities.allSatisfy { $0 >= 0 && $0 <= 1 })
        #expect(FashionMNIST.classNames.contains(classes?.first?["name"] as? String ?? ""))
        // export the weights, list them, and see a mismatched network refused tensor by tensor.
        let export = try alexnet(["export", "--checkpoint", "\(out)/last.safetensors", "--format", "safetensors", "--out", "\(out)/w.safetensors"])
        #expect(export.status == 0, "\(export.error)")
        let inspect = try alexnet(["weights", "inspect", "\(out)/w.safetensors"])
        #expect(inspect.output.contains("conv1.weight") && inspect.output.contains("[48, 1, 5, 5]") && inspect.output.contains("6,197,098 values"),
                "\(inspect.output)")
        let exported = try SafeTensors(path: "\(out)/w.safetensors")
        let checkpoint = try SafeTensors(path: "\(out)/last.safetensors")
        #expect(try exported.floats("fc8.bias") == checkpoint.floats("fc8.bias"))
        // ONNX, the format chosen by the extension: a protobuf ModelProto starting with
        // ir_version = 7 (field 1, varint: bytes 0x08 0x07) and holding every weight.
        let onnx = try alexnet(["export", "--checkpoint", "\(out)/last.safetensors", "--out", "\(out)/model.onnx"])
        #expect(onnx.status == 0 && onnx.output.contains("as ONNX"), "\(onnx.error)")
        let model = try [UInt8](Data(contentsOf: URL(fileURLWithPath: "\(out)/model.onnx")))
        #expect(model.starts(with: [0x08, 0x07]) && model.count > 6_197_098 * 4)
        let unknown = try alexnet(["export", "--checkpoint", "\(out)/last.safetensors", "--out", "\(out)/model.bin"])
        #expect(unknown.status != 0 && unknown.error.contains("--format onnx"), "\(unknown.error)")
        let wrong = try alexnet(["predict", "--weights", "\(out)/w.safetensors", "--model", "torchvision", "\(out)/boot.png"])
        #expect(wrong.status != 0 && wrong.error.contains("missing tensor 'features.0.weight'") && wrong.error.contains("unexpected tensor 'conv1.weight'"),
                "\(wrong.error)")
        let missing = try alexnet(["predict", "--checkpoint", "\(out)/last.safetensors", "\(out)/nothing.png"])
        #expect(missing.status != 0 && missing.error.contains("nothing.png"), "\(missing.error)")
        // An image folder of ten classes (three test images each) with one broken file: refused
        // naming it, then evaluated without it under --skip-bad-images.
        let folder = "\(out)/folder"
        for k in 0..<10 {
            try FileManager.default.createDirectory(atPath: "\(folder)/class\(k)", withIntermediateDirectories: true)
            for i in 0..<3 {
                try Data(ImageCodec.encodePNG(try test.image(at: k * 3 + i))).write(to: URL(fileURLWithPath: "\(folder)/class\(k)/\(i).png"))
            }
        }
        try Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0, 0]).write(to: URL(fileURLWithPath: "\(folder)/class4/broken.png"))
        let strict = try alexnet(["evaluate", "--checkpoint", "\(out)/last.safetensors", "--data", folder])
        #expect(strict.status != 0 && strict.error.contains("class4/broken.png") && strict.error.contains("--skip-bad-images leaves"), "\(strict.error)")
        let lenient = try alexnet(["evaluate", "--checkpoint", "\(out)/last.safetensors", "--data", folder, "--skip-bad-images"])
        #expect(lenient.status == 0 && lenient.output.contains("(30 test images)") && lenient.output.contains("skipped 1 unreadable image"),
                "\(lenient.output) \(lenient.error)")
    }

    /// SIGKILL at arbitrary moments while checkpoints are written every step: whatever is at
    /// last.safetensors must always be a complete, loadable checkpoint. Each run is killed a
    /// set time after it wrote its first checkpoint (not after a fixed time from its start,
    /// which a loaded machine may spend before the first step).
    @Test func killingDuringCheckpointWritesNeverLeavesABrokenFile() throws {
        let out = try temporaryDirectory("kill")
        let path = "\(out)/last.safetensors"
        func fileNumber() -> Int? { (try? FileManager.default.attributesOfItem(atPath: path))?[.systemFileNumber] as? Int }
        for delay in [0.0, 0.45, 1.1] {
            let process = Process()
            process.executableURL = alexnetExecutable()
            process.arguments = ["train", "--limit", "2560", "--val-limit", "100", "--epochs", "1", "--checkpoint-every", "1", "--out", out]
                + (fileNumber() != nil ? ["--resume"] : [])
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            let before = fileNumber()
            try process.run()
            // Every write renames a new file into place, so a new file number is a new checkpoint.
            let deadline = Date().addingTimeInterval(180)
            while process.isRunning && fileNumber() == before && Date() < deadline { Thread.sleep(forTimeInterval: 0.01) }
            #expect(fileNumber() != before, "run \(delay): no checkpoint written (still running: \(process.isRunning))")
            Thread.sleep(forTimeInterval: delay)
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            let file = try SafeTensors(path: path)
            #expect(file.metadata["run"] != nil && file.entries.count > 10)
        }
        let resumed = try alexnet(["train", "--resume", "--out", out])
        #expect(resumed.status == 0, "\(resumed.error)")
    }

    @Test func ctrlCWritesACheckpointAndResumeFinishes() throws {
        let out = try temporaryDirectory("sigint")
        let (process, printed, _) = try interruptAtTenPercent(alexnetExecutable().path,
                                                              ["train", "--limit", "5120", "--val-limit", "200", "--epochs", "1", "--out", out])
        #expect(process.terminationStatus == 130, "\(printed)")
        #expect(printed.contains("--resume"), "\(printed)")
        #expect(FileManager.default.fileExists(atPath: "\(out)/last.safetensors"))
        let resumed = try alexnet(["train", "--resume", "--out", out])
        #expect(resumed.status == 0, "\(resumed.error)")
        #expect(resumed.error.contains("resuming at batch"), "\(resumed.error)")
        #expect(resumed.output.contains("Test accuracy:"), "\(resumed.output)")
    }

    @Test func dataInfoWritesAContactSheet() throws {
        let out = try temporaryDirectory("info")
        let result = try alexnet(["data", "info", "--samples", "\(out)/samples.png"])
        #expect(result.status == 0, "\(result.error)")
        #expect(result.output.contains("training: 60000 images") && result.output.contains("Ankle boot 6000"), "\(result.output)")
        let sheet = try ImageCodec.read(path: "\(out)/samples.png")
        #expect(sheet.width > 256 && sheet.channels == 3)
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
