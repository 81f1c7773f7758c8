import AlexNet
import AlexNetDistributed
import ArgumentParser

/// Data-parallel runs under `mpirun`: detected from the launcher's environment or forced.
struct DistributedOptions: ParsableArguments {
    @Flag(help: ArgumentHelp("Join an MPI job (automatic under mpirun). Each of N processes takes batch/N examples of every batch; gradients are averaged with one all-reduce, so the run equals one process's up to float rounding. Batch norm uses each process's own statistics (as PyTorch DDP does). Only rank 0 prints and writes files."))
    var distributed = false

    @Option(name: .customLong("bucket-mb"), parsing: .unconditional,
            help: ArgumentHelp("With MPI: all-reduce gradients in buckets of this many MiB as backward produces them (25, PyTorch DDP's default).", valueName: "MiB"))
    var bucketMB: Double = 25

    func validate() throws {
        guard bucketMB > 0, bucketMB <= 2048 else { throw ValidationError("--bucket-mb must be between 0 and 2048, got \(bucketMB)") }
    }

    var isRequested: Bool { distributed || MPIEnvironment.isLaunched }

    /// Runs `body` in the MPI job when there is one (nil alone), then ends MPI. A process that
    /// fails prints its error with its rank and stops the whole job (MPI_Abort), so the others
    /// never wait for it.
    func withProcessGroup(_ body: (MPIReducer?) throws -> Void) throws {
        guard isRequested else { return try body(nil) }
        let group = try MPIReducer.start(bucketBytes: Int(bucketMB * 1_048_576))
        do {
            try body(group)
        } catch let exit as ExitCode {
            group.finish()
            throw exit
        } catch {
            guard group.worldSize > 1 else {
                group.finish()
                throw error
            }
            flushStandardOutput()
            printError("Error (rank \(group.rank) of \(group.worldSize)): \(error)")
            group.abort(code: 1)
        }
        group.finish()
    }
}

extension ComputeOptions {
    /// Threads per process: --threads, or the host's cores shared among the job's processes on it.
    var threadsPerProcess: Int? {
        threads ?? (MPIEnvironment.isLaunched ? max(1, CPUBackend.coreCount / MPIEnvironment.localSize) : nil)
    }
}
