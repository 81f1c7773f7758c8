/// The numeric precision a backend computes in.
public enum Precision: String, Codable, Sendable, CaseIterable {
    /// IEEE single precision everywhere (the default, and what every check is made against).
    case float32
    /// Inference in 8-bit integers (`Int8Plan`, on the CPU), with ranges calibrated
    /// beforehand: a quantized file from `alexnet quantize`, or calibration on the fly
    /// (`alexnet bench`). No backend computes plain plans in it, so asking one to fails.
    case int8
}

/// What every backend can be asked for, whatever it is.
public struct BackendOptions: Sendable, Equatable {
    /// Threads for host work; nil uses every core.
    public var threads: Int?
    public var precision: Precision
    /// May 3x3 stride-1 convolutions use Winograd where it is faster (cpu: `CPUBackend.Winograd.whereFaster`)?
    public var winograd: Bool

    public init(threads: Int? = nil, precision: Precision = .float32, winograd: Bool = true) {
        self.threads = threads
        self.precision = precision
        self.winograd = winograd
    }
}

/// The registry of backends by name: what `--backend NAME` finds.
public enum Backends {
    public struct Entry: Sendable {
        public var name: String
        /// One line for `--help`.
        public var summary: String
        public var precisions: [Precision]
        public var make: @Sendable (BackendOptions) throws -> any Backend
    }

    public static let all: [Entry] = [
        Entry(name: "cpu", summary: "oneDNN on this machine's cores", precisions: [.float32]) {
            CPUBackend(threads: $0.threads, winograd: $0.winograd ? .whereFaster : .never)
        },
        Entry(name: "reference", summary: "the layers' plain-Swift math: slow, the oracle", precisions: [.float32]) { _ in
            ReferenceBackend()
        },
        // Finds the driver, the GPU, NVRTC, cuBLASLt and cuDNN at run time and says which is
        // missing; the plans themselves are not written yet (issue 17), so even a machine with
        // all of them gets an error naming what it found.
        Entry(name: "cuda", summary: "an NVIDIA GPU through cuDNN and cuBLASLt: not written yet", precisions: [.float32]) { _ in
            let machine = try CUDALibraries.probe()
            throw CUDAUnavailable("found \(machine.summary), but the cuda backend's plans are not written yet (issue 17)")
        },
    ]

    public static var names: [String] { all.map(\.name) }

    /// The backend called `name`, set up with `options`.
    public static func make(_ name: String, options: BackendOptions = BackendOptions()) throws(BackendError) -> any Backend {
        guard let entry = all.first(where: { $0.name == name }) else { throw .unknown(name, known: names) }
        guard entry.precisions.contains(options.precision) else {
            throw .unsupportedPrecision(options.precision, backend: name, supported: entry.precisions)
        }
        if let threads = options.threads, threads <= 0 { throw .threads(threads) }
        do {
            return try entry.make(options)
        } catch {
            throw .unavailable(name, reason: "\(error)")
        }
    }
}

public enum BackendError: Error, Equatable, CustomStringConvertible {
    case unknown(String, known: [String])
    case unsupportedPrecision(Precision, backend: String, supported: [Precision])
    case threads(Int)
    case unavailable(String, reason: String)

    public var description: String {
        switch self {
        case let .unknown(name, known): "unknown backend '\(name)'; choose \(known.joined(separator: " or "))"
        case let .unsupportedPrecision(precision, backend, supported):
            "backend \(backend) computes in \(supported.map(\.rawValue).joined(separator: ", ")), not \(precision.rawValue)"
        case let .threads(count): "threads must be positive, got \(count)"
        case let .unavailable(name, reason): "backend \(name) is not available here: \(reason)"
        }
    }
}
