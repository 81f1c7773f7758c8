import AlexNetFuzzTargets
import Foundation
import Testing

/// Replays every seed (`Fuzz/Corpus/TARGET/`) and every input libFuzzer ever found to crash
/// (`Tests/Fixtures/fuzz/TARGET/`, written by `scripts/fuzz.sh`) through the same code the
/// harnesses run. A regression crashes this test; errors thrown by the parsers are expected.
@Suite struct FuzzRegressionTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static func files(_ folder: String) -> [URL] {
        let directory = root.appendingPathComponent(folder)
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        return names.sorted().filter { !$0.hasPrefix(".") }.map { directory.appendingPathComponent($0) }
    }

    @Test(arguments: FuzzTargets.all.keys.sorted())
    func replaysSeedsAndCrashers(target: String) throws {
        let seeds = Self.files("Fuzz/Corpus/\(target)")
        #expect(!seeds.isEmpty, "Fuzz/Corpus/\(target) has seeds")
        let crashers = Self.files("Tests/Fixtures/fuzz/\(target)")
        let run = FuzzTargets.all[target]!
        for file in seeds + crashers {
            run(try [UInt8](Data(contentsOf: file)))
        }
        print("fuzz \(target): \(seeds.count) seeds and \(crashers.count) crashers replayed")
    }
}
