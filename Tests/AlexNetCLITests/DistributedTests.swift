import AlexNetData
import AlexNetInterop
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A finished (or stopped) command: its exit status and what it printed.
struct Finished {
    var status: Int32
    var output: String
    var error: String
    /// Killed by the test for running past its time limit.
    var timedOut: Bool
}

/// Runs `executable arguments` with a time limit, killing it (and its process group) when the
/// limit passes, so that a hang fails the test instead of stalling the suite.
func run(_ executable: String, _ arguments: [String], environment: [String: String] = [:], limit: Double,
         started: ((Process) -> Void)? = nil) throws -> Finished {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
    let output = Pipe(), error = Pipe()
    process.standardOutput = output
    process.standardError = error
    try process.run()
    // Read both pipes as the command writes (a full pipe would stop it).
    let collected = Collected()
    let readers = DispatchGroup()
    for (pipe, isError) in [(output, false), (error, true)] {
        DispatchQueue.global().async(group: readers) {
            let data = pipe.fileHandleForReading.readDataToEndOfFile()
            collected.set(data, isError: isError)
        }
    }
    started?(process)
    let deadline = Date().addingTimeInterval(limit)
    while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
    let timedOut = process.isRunning
    if timedOut {
        kill(process.processIdentifier, SIGKILL)
        for child in childProcesses(of: process.processIdentifier) { kill(child, SIGKILL) }
    }
    process.waitUntilExit()
    readers.wait()
    return Finished(status: process.terminationStatus, output: collected.output, error: collected.error, timedOut: timedOut)
}

private final class Collected: @unchecked Sendable {
    private let lock = NSLock()
    private var outputData = Data(), errorData = Data()
    func set(_ data: Data, isError: Bool) {
        lock.lock()
        if isError { errorData = data } else { outputData = data }
        lock.unlock()
    }
    var output: String { lock.lock(); defer { lock.unlock() }; return String(decoding: outputData, as: UTF8.self) }
    var error: String { lock.lock(); defer { lock.unlock() }; return String(decoding: errorData, as: UTF8.self) }
}

/// The processes whose parent is `pid` (from /proc).
func childProcesses(of pid: Int32) -> [Int32] {
    guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return [] }
    return entries.compactMap(Int32.init).filter { child in
        guard let stat = try? String(contentsOfFile: "/proc/\(child)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return false }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        return fields.count > 1 && Int32(fields[1]) == pid
    }
}

/// `mpirun -np N alexnet ...` on this host (shared memory), as root if need be.
func mpirun(_ processes: Int, _ arguments: [String], limit: Double = 120, started: ((Process) -> Void)? = nil) throws -> Finished {
    try run("/usr/bin/mpirun", ["--oversubscribe", "-np", "\(processes)", "--mca", "btl", "self,vader",
                                alexnetExecutable().path] + arguments,
            environment: ["OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1"], limit: limit, started: started)
}

/// The F32 tensors of a checkpoint by name.
func tensors(_ path: String) throws -> [String: [Float]] {
    let file = try SafeTensors(path: path)
    var result: [String: [Float]] = [:]
    for entry in file.entries where entry.dtype == .f32 { result[entry.name] = try file.floats(entry.name) }
    return result
}

/// The largest relative difference (norm of the difference over the norm of the tensor) over
/// every tensor of two checkpoints, and the tensor where it is.
func largestDifference(_ a: String, _ b: String) throws -> (name: String, relative: Double) {
    let (x, y) = (try tensors(a), try tensors(b))
    #expect(Set(x.keys) == Set(y.keys))
    var worst = (name: "", relative: 0.0)
    for (name, p) in x {
        guard let q = y[name], q.count == p.count else { return (name, .infinity) }
        var difference = 0.0, norm = 0.0
        for i in p.indices {
            difference += Double(p[i] - q[i]) * Double(p[i] - q[i])
            norm += Double(p[i]) * Double(p[i])
        }
        let relative = norm > 0 ? (difference / norm).squareRoot() : difference.squareRoot()
        if relative > worst.relative { worst = (name, relative) }
    }
    return worst
}

/// The training losses of a run's history.csv, one per epoch.
func trainingLosses(_ directory: String) throws -> [Double] {
    try String(contentsOfFile: "\(directory)/history.csv", encoding: .utf8).split(separator: "\n").dropFirst()
        .map { Double($0.split(separator: ",")[3])! }
}

/// Data-parallel training under `mpirun`: the same run as one process, resumable with another
/// number of processes, and never hanging when a process fails. These tests belong to the
/// serialized `TrainCLITests` so that their processes never compete with the timing-sensitive
/// training tests there (kill and Ctrl-C at given moments) for this machine's two cores.
extension TrainCLITests {
    /// quick's recipe on 20 steps of a slice of Fashion-MNIST, at 32x32 and batch 4 so that the
    /// reference backend (whose sums do not depend on the batch's size or threads) runs it in seconds.
    var small: [String] { ["--backend", "reference", "--input", "1x32x32", "--batch", "4", "--limit", "40", "--val-limit", "8", "--lr", "0.02"] }

    /// 2 processes and 1 take the same 20 steps, and a run that 2 processes start and 1
    /// finishes (resumed from the 2-process checkpoint) ends where the 2-process run ends.
    @Test func twoProcessesTrainAsOneAndResumeWithOne() throws {
        let out = try temporaryDirectory("mpi-equal")
        let one = try alexnet(["train"] + small + ["--epochs", "2", "--out", "\(out)/one"])
        #expect(one.status == 0, "\(one.error)")
        let two = try mpirun(2, ["train"] + small + ["--epochs", "2", "--out", "\(out)/two"])
        #expect(two.status == 0 && !two.timedOut, "\(two.output) \(two.error)")
        #expect(two.output.contains("2 processes (MPI) x 2 images a step"), "\(two.output)")
        // Only rank 0 speaks: one header, one result line.
        #expect(two.output.components(separatedBy: "Test accuracy:").count == 2, "\(two.output)")
        let (name, relative) = try largestDifference("\(out)/one/last.safetensors", "\(out)/two/last.safetensors")
        #expect(relative <= 1e-5, "after 20 steps, \(name) differs by \(relative) (relative) between 1 and 2 processes")
        let (lossOne, lossTwo) = (try trainingLosses("\(out)/one"), try trainingLosses("\(out)/two"))
        #expect(lossOne.count == 2 && zip(lossOne, lossTwo).allSatisfy { abs($0 - $1) <= 1e-5 * abs($0) }, "\(lossOne) vs \(lossTwo)")

        let half = try mpirun(2, ["train"] + small + ["--epochs", "1", "--out", "\(out)/resumed"])
        #expect(half.status == 0, "\(half.error)")
        let finished = try alexnet(["train", "--resume", "--epochs", "2", "--backend", "reference", "--out", "\(out)/resumed"])
        #expect(finished.status == 0, "\(finished.error)")
        let resumed = try largestDifference("\(out)/two/last.safetensors", "\(out)/resumed/last.safetensors")
        #expect(resumed.relative <= 1e-5, "2 processes then 1 vs 2 throughout: \(resumed.name) differs by \(resumed.relative)")
    }

    /// The cpu backend (oneDNN) on the full quick preset: one step of 2 x 64 is one step of 128.
    /// (Over many steps the two drift apart as one process does between 1 and 2 threads: oneDNN's
    /// sums depend on the batch and thread count, and max-pooling amplifies rounding.)
    @Test func oneStepOfTheCPUBackendAtTheMainJobsSize() throws {
        let out = try temporaryDirectory("mpi-step")
        let recipe = ["--limit", "128", "--val-limit", "64", "--epochs", "1", "--threads", "1"]
        let one = try alexnet(["train"] + recipe + ["--out", "\(out)/one"])
        #expect(one.status == 0, "\(one.error)")
        let two = try mpirun(2, ["train"] + recipe + ["--out", "\(out)/two"])
        #expect(two.status == 0, "\(two.output) \(two.error)")
        let (name, relative) = try largestDifference("\(out)/one/last.safetensors", "\(out)/two/last.safetensors")
        #expect(relative <= 1e-5, "\(name) differs by \(relative) (relative)")
        let (lossOne, lossTwo) = (try trainingLosses("\(out)/one"), try trainingLosses("\(out)/two"))
        #expect(zip(lossOne, lossTwo).allSatisfy { abs($0 - $1) <= 1e-5 * abs($0) }, "\(lossOne) vs \(lossTwo)")
    }

    /// Two "hosts" (network namespaces joined by a veth pair, ranks talking TCP) train exactly
    /// as two processes over shared memory do.
    @Test func twoHostsOverTCPTrainAsSharedMemoryDoes() throws {
        let out = try temporaryDirectory("mpi-tcp")
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("scripts/mpi-two-hosts.sh").path
        let shared = try mpirun(2, ["train"] + small + ["--epochs", "1", "--threads", "1", "--out", "\(out)/shared"])
        #expect(shared.status == 0, "\(shared.error)")
        let tcp = try run(script, [alexnetExecutable().path, "train"] + small + ["--epochs", "1", "--out", "\(out)/tcp"], limit: 120)
        #expect(tcp.status == 0 && !tcp.timedOut, "\(tcp.output) \(tcp.error)")
        #expect(tcp.output.contains("2 processes (MPI)"), "\(tcp.output)")
        let (name, relative) = try largestDifference("\(out)/shared/last.safetensors", "\(out)/tcp/last.safetensors")
        #expect(relative <= 1e-5, "TCP between namespaces vs shared memory: \(name) differs by \(relative)")
        // The namespaces are gone.
        let left = try run("/usr/sbin/ip", ["netns", "list"], limit: 10)
        #expect(!left.output.contains("alexnet-"), "\(left.output)")
    }

    @Test func aBatchThatDoesNotDivideIsRefused() throws {
        let result = try mpirun(2, ["train", "--batch", "127", "--limit", "512", "--out", try temporaryDirectory("mpi-odd")], limit: 60)
        #expect(!result.timedOut && result.status != 0)
        #expect(result.error.contains("the batch of 127 does not divide among 2 processes"), "\(result.error)")
        #expect(result.error.contains("--batch 126 or 128"), "\(result.error)")
    }

    /// kill -9 of one process ends the job; the checkpoint it leaves is whole, and a new job
    /// with another number of processes finishes the run.
    @Test func aKilledProcessEndsTheJobAndTheRunResumes() throws {
        let out = try temporaryDirectory("mpi-kill")
        let checkpoint = "\(out)/last.safetensors"
        var killedAt: Date?
        let job = try mpirun(2, ["train", "--limit", "2560", "--val-limit", "64", "--epochs", "1", "--checkpoint-every", "2",
                                 "--out", out], limit: 120) { mpirun in
            let deadline = Date().addingTimeInterval(60)
            while !FileManager.default.fileExists(atPath: checkpoint) && Date() < deadline { Thread.sleep(forTimeInterval: 0.1) }
            Thread.sleep(forTimeInterval: 1)
            if let rank = childProcesses(of: mpirun.processIdentifier).last {
                kill(rank, SIGKILL)
                killedAt = Date()
            }
        }
        #expect(killedAt != nil, "no process to kill")
        #expect(!job.timedOut && job.status != 0, "the job must stop when a process dies: \(job.error)")
        if let killedAt { #expect(Date().timeIntervalSince(killedAt) < 30) }
        let file = try SafeTensors(path: checkpoint)
        #expect(file.metadata["run"] != nil)
        let resumed = try alexnet(["train", "--resume", "--out", out])
        #expect(resumed.status == 0 && resumed.output.contains("Test accuracy:"), "\(resumed.output) \(resumed.error)")
    }

    /// Ctrl-C to mpirun reaches every process; they agree to stop after the same step, rank 0
    /// writes the checkpoint, and 2 processes resume it.
    /// mpirun sends SIGTERM 1 s after the Ctrl-C and SIGKILL 1 s later, so on a loaded CI (every
    /// other suite beside it on 2 cores) a slow step can be cut; up to three attempts, each one
    /// complete, and the test fails when none stops cleanly or when any process crashes.
    @Test func ctrlCToMpirunStopsEveryProcessAtTheSameStep() throws {
        var failures: [String] = []
        for _ in 0..<3 {
            let out = try temporaryDirectory("mpi-sigint")
            // The test runner's children inherit SIGINT ignored, which mpirun keeps; a shell at a
            // terminal would start it with SIGINT at its default, as `env --default-signal` does.
            let (_, printed, progress) = try interruptAtTenPercent(
                "/usr/bin/env", ["--default-signal=INT,TERM", "/usr/bin/mpirun", "--oversubscribe", "-np", "2", alexnetExecutable().path,
                                 "train", "--limit", "5120", "--val-limit", "64", "--epochs", "1", "--out", out],
                environment: ["OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1"])
            // Retried for a loaded machine's timing, never for a crash: a signal handled on a
            // thread inside oneDNN's sgemm once corrupted the heap of both processes here.
            let crashMarkers = ["corrupted", "corruption", "free(): ", "malloc(): ", "munmap_chunk", "malloc_consolidate",
                                "Program crashed", "Signal: ", "exited on signal 6", "exited on signal 11"]
            if let marker = crashMarkers.first(where: { progress.contains($0) || printed.contains($0) }) {
                Issue.record("a process crashed after Ctrl-C (\(marker)):\n\(printed)\n\(progress.suffix(3000))")
                return
            }
            guard printed.components(separatedBy: "Interrupted after step").count == 2,
                  FileManager.default.fileExists(atPath: "\(out)/last.safetensors") else {
                failures.append("rank 0 alone must say so and write last.safetensors: \(printed) \(progress)")
                continue
            }
            let resumed = try mpirun(2, ["train", "--resume", "--out", out])
            #expect(resumed.status == 0 && resumed.output.contains("Test accuracy:"), "\(resumed.output) \(resumed.error)")
            return
        }
        Issue.record("no attempt stopped cleanly:\n\(failures.joined(separator: "\n"))")
    }

    /// A process that meets a broken image stops the whole job, naming the file.
    @Test func aDataErrorInOneProcessStopsTheJob() throws {
        let out = try temporaryDirectory("mpi-broken")
        let test = try FashionMNIST.test()
        for split in ["train", "val"] {
            for k in 0..<2 {
                try FileManager.default.createDirectory(atPath: "\(out)/data/\(split)/class\(k)", withIntermediateDirectories: true)
                for i in 0..<8 {
                    try Data(ImageCodec.encodePNG(try test.image(at: k * 8 + i))).write(
                        to: URL(fileURLWithPath: "\(out)/data/\(split)/class\(k)/\(i).png"))
                }
            }
        }
        try Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0, 0]).write(to: URL(fileURLWithPath: "\(out)/data/train/class1/broken.png"))
        let result = try mpirun(2, ["train", "--data", "\(out)/data", "--batch", "4", "--epochs", "1", "--out", "\(out)/run"], limit: 60)
        #expect(!result.timedOut && result.status != 0, "\(result.error)")
        #expect(result.error.contains("class1/broken.png") && result.error.contains("(rank "), "\(result.error)")
    }
}
