import AlexNetCore
import AlexNetTraining
import CMPI
import Dispatch
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// What the launcher (`mpirun`) told this process, read from its environment before MPI starts.
public enum MPIEnvironment {
    /// Whether this process was started by an MPI launcher (Open MPI's `mpirun`, or a PMI one).
    public static var isLaunched: Bool {
        ["OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_SIZE"].contains { (name: String) in getenv(name) != nil }
    }

    /// This process's rank as the launcher numbered it (0 when not launched by MPI).
    public static var rank: Int { integer("OMPI_COMM_WORLD_RANK") ?? integer("PMIX_RANK") ?? integer("PMI_RANK") ?? 0 }

    /// How many processes of the job share this host (1 when not launched by MPI).
    public static var localSize: Int { integer("OMPI_COMM_WORLD_LOCAL_SIZE") ?? 1 }

    private static func integer(_ name: String) -> Int? { getenv(name).flatMap { Int(String(cString: $0)) } }
}

/// An MPI call that failed, with MPI's own words for why.
public struct MPIError: Error, CustomStringConvertible {
    public var call: String
    public var code: Int32

    public var description: String {
        var text = [CChar](repeating: 0, count: Int(MPI_MAX_ERROR_STRING) + 1)
        var length: Int32 = 0
        MPI_Error_string(code, &text, &length)
        let message = String(decoding: text.prefix(Int(max(0, length))).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return "\(call) failed: \(message)"
    }
}

/// Time and bytes of the all-reduces, summed since the last `resetStatistics()`.
public struct CommunicationStatistics: Sendable {
    /// Steps whose gradients were reduced.
    public var steps = 0
    /// Seconds the communication thread spent inside all-reduces of gradients.
    public var allReduceSeconds = 0.0
    /// Seconds the training thread waited for them after backward: the part not hidden.
    public var exposedSeconds = 0.0
    /// Gradient bytes all-reduced (each process's buffer, once per step).
    public var bytes = 0
    /// Buckets sent.
    public var buckets = 0

    /// The share of all-reduce time that ran while backward was still computing.
    public var hiddenFraction: Double { allReduceSeconds > 0 ? max(0, 1 - exposedSeconds / allReduceSeconds) : 0 }
}

/// Data-parallel training over MPI: the `GradientReducer` that averages every process's
/// gradients with `MPI_Allreduce` over the flat gradient buffer.
///
/// All MPI calls run on one communication thread (a serial queue), so MPI needs only
/// `MPI_THREAD_SERIALIZED`. During backward the trainer reports how much of the buffer is final
/// (`gradientsReady`); once that exceeds a bucket (25 MiB by default, PyTorch DDP's), the bucket
/// is all-reduced on the communication thread while the training thread computes earlier
/// layers' gradients. AlexNet's fully connected layers, 96% of its bytes, are last in the buffer
/// and finish first, so most of the traffic hides behind the convolutions' backward.
/// `reduce(gradients:)` sends what is left and waits.
public final class MPIReducer: GradientReducer, @unchecked Sendable {
    public let rank: Int
    public let worldSize: Int
    /// Gradients per bucket (floats).
    public let bucketFloats: Int
    public var overlapsBackward: Bool { worldSize > 1 }

    private let queue = DispatchQueue(label: "alexnet.mpi")
    private let inFlight = DispatchGroup()
    /// `gradients[posted...]` have been handed to the communication thread this step (the
    /// training thread's own variable).
    private var posted: Int?
    /// What the communication thread measured and the first error it met.
    private let shared = Mutex<(statistics: CommunicationStatistics, failure: MPIError?)>((CommunicationStatistics(), nil))
    private nonisolated(unsafe) static var started: MPIReducer?

    /// Starts MPI (once per process) and joins `MPI_COMM_WORLD`.
    public static func start(bucketBytes: Int = 25 << 20) throws -> MPIReducer {
        if let started { return started }
        var provided: Int32 = 0
        let status = MPI_Init_thread(nil, nil, Int32(MPI_THREAD_SERIALIZED), &provided)
        guard status == MPI_SUCCESS else { throw MPIError(call: "MPI_Init_thread", code: status) }
        guard provided >= Int32(MPI_THREAD_SERIALIZED) else {
            throw MPIError(call: "MPI_Init_thread (this MPI offers no MPI_THREAD_SERIALIZED)", code: MPI_ERR_OTHER)
        }
        // Errors come back as codes (the default aborts the whole job with MPI's message only).
        MPI_Comm_set_errhandler(alexnet_mpi_comm_world(), alexnet_mpi_errors_return())
        var rank: Int32 = 0, size: Int32 = 0
        MPI_Comm_rank(alexnet_mpi_comm_world(), &rank)
        MPI_Comm_size(alexnet_mpi_comm_world(), &size)
        let reducer = MPIReducer(rank: Int(rank), worldSize: Int(size), bucketFloats: max(1, bucketBytes / 4))
        started = reducer
        return reducer
    }

    private init(rank: Int, worldSize: Int, bucketFloats: Int) {
        self.rank = rank
        self.worldSize = worldSize
        self.bucketFloats = bucketFloats
    }

    public var statistics: CommunicationStatistics { shared.withLock { $0.statistics } }
    public func resetStatistics() { shared.withLock { $0.statistics = CommunicationStatistics() } }

    // MARK: GradientReducer

    public func gradientsReady(from offset: Int, in gradients: FloatBuffer) {
        let end = posted ?? gradients.count
        guard end - offset >= bucketFloats else { return }
        post(offset..<end, of: gradients)
        posted = offset
    }

    public func reduce(gradients: FloatBuffer) throws {
        let end = posted ?? gradients.count
        posted = nil
        if end > 0 { post(0..<end, of: gradients) }
        let start = DispatchTime.now().uptimeNanoseconds
        inFlight.wait()
        let waited = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        let failure = shared.withLock { state in
            state.statistics.exposedSeconds += waited
            state.statistics.steps += 1
            state.statistics.bytes += gradients.count * 4
            return state.failure
        }
        if let failure { throw failure }
    }

    public func sum(_ values: inout [Double]) throws {
        let count = Int32(values.count)
        let status = values.withUnsafeMutableBufferPointer { buffer in
            queue.sync {
                MPI_Allreduce(alexnet_mpi_in_place(), buffer.baseAddress, count, alexnet_mpi_double(), alexnet_mpi_sum(),
                              alexnet_mpi_comm_world())
            }
        }
        guard status == MPI_SUCCESS else { throw MPIError(call: "MPI_Allreduce of \(count) sums", code: status) }
    }

    public func broadcast(_ buffer: FloatBuffer) throws {
        guard buffer.count > 0 else { return }
        precondition(buffer.count <= Int(Int32.max), "MPIReducer: a buffer of \(buffer.count) floats is too large for one call")
        let status = queue.sync {
            MPI_Bcast(buffer.pointer.baseAddress, Int32(buffer.count), alexnet_mpi_float(), 0, alexnet_mpi_comm_world())
        }
        guard status == MPI_SUCCESS else { throw MPIError(call: "MPI_Bcast of \(buffer.count) floats", code: status) }
    }

    /// All-reduces `range` of `gradients` on the communication thread, then divides by the
    /// number of processes.
    private func post(_ range: Range<Int>, of gradients: FloatBuffer) {
        precondition(range.count <= Int(Int32.max), "MPIReducer: a bucket of \(range.count) floats is too large for one call")
        inFlight.enter()
        let scale = 1 / Float(worldSize)
        queue.async { [self] in
            defer { inFlight.leave() }
            let start = DispatchTime.now().uptimeNanoseconds
            let bucket = gradients.pointer.baseAddress! + range.lowerBound
            let status = MPI_Allreduce(alexnet_mpi_in_place(), bucket, Int32(range.count), alexnet_mpi_float(), alexnet_mpi_sum(),
                                       alexnet_mpi_comm_world())
            for i in 0..<range.count { bucket[i] *= scale }
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            shared.withLock { state in
                state.statistics.allReduceSeconds += seconds
                state.statistics.buckets += 1
                if status != MPI_SUCCESS, state.failure == nil {
                    state.failure = MPIError(call: "MPI_Allreduce of \(range.count) gradients", code: status)
                }
            }
        }
    }

    // MARK: Ending

    /// Ends MPI normally; every process must call it.
    public func finish() {
        queue.sync { _ = MPI_Finalize() }
    }

    /// Stops every process of the job (after this one failed), with `code` as the exit status.
    public func abort(code: Int32) -> Never {
        MPI_Abort(alexnet_mpi_comm_world(), code)
        exit(code)
    }
}
