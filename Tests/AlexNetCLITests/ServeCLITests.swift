import AlexNetData
import Foundation
import Testing

extension TrainCLITests {
    /// `alexnet serve` as users run it: it says where it listens, answers, and on SIGTERM stops
    /// accepting but finishes the request still uploading, then exits 0.
    @Test func serveAnswersAndSIGTERMFinishesWhatIsInFlight() throws {
        let out = try temporaryDirectory("serve")
        let trained = try alexnet(["train", "--limit", "256", "--val-limit", "64", "--epochs", "1", "--out", out])
        #expect(trained.status == 0, "\(trained.error)")
        let refused = try alexnet(["serve", "--checkpoint", "\(out)/best.safetensors", "--port", "70000"])
        #expect(refused.status != 0 && refused.error.contains("--port must be from 0 to 65535"), "\(refused.error)")

        let server = Process()
        server.executableURL = alexnetExecutable()
        server.arguments = ["serve", "--checkpoint", "\(out)/best.safetensors", "--port", "0"]
        let output = Pipe()
        server.standardOutput = output
        try server.run()
        defer { if server.isRunning { server.terminate() } }
        var printed = ""
        while !printed.contains("\n") {
            let chunk = output.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            printed += String(decoding: chunk, as: UTF8.self)
        }
        let match = try #require(printed.firstMatch(of: /Serving '([^']+)' .* at (http:\/\/127\.0\.0\.1:\d+\/)/), "\(printed)")
        let (name, url) = (String(match.1), String(match.2))
        #expect(name == "fashion-mnist")

        // A noisy 160x160 PNG (~75 KB) uploaded at 25 KB/s: still arriving when SIGTERM comes.
        var noise = Image(width: 160, height: 160, channels: 3)
        var state: UInt32 = 12345
        for k in noise.pixels.indices {
            state = state &* 1_103_515_245 &+ 12345
            noise.pixels[k] = UInt8(truncatingIfNeeded: state >> 16)
        }
        let image = "\(out)/noise.png"
        try Data(ImageCodec.encodePNG(noise)).write(to: URL(fileURLWithPath: image))
        let upload = Process()
        upload.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
        upload.arguments = ["-s", "-w", "\n%{http_code}", "--limit-rate", "25k", "-H", "Content-Type: image/png",
                            "--data-binary", "@\(image)", "\(url)predictions/\(name)"]
        let answer = Pipe()
        upload.standardOutput = answer
        try upload.run()
        Thread.sleep(forTimeInterval: 1.2)
        #expect(upload.isRunning, "the upload finished before SIGTERM: the test proves nothing")
        kill(server.processIdentifier, SIGTERM)
        let reply = String(decoding: answer.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        upload.waitUntilExit()
        server.waitUntilExit()
        let rest = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(reply.hasSuffix("\n200"), "\(reply)")
        let json = try JSONSerialization.jsonObject(with: Data(reply.dropLast(4).utf8)) as? [String: Double]
        #expect(json?.count == 5, "\(reply)")
        #expect(server.terminationStatus == 0)
        #expect(rest.contains("Stopped."), "\(rest)")
    }
}
