import CCUDA

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Why the cuda backend cannot run here, naming the library, symbol or device that is missing.
public struct CUDAUnavailable: Error, Equatable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// A shared library opened with `dlopen` (and never closed: the process keeps it).
struct DynamicLibrary: @unchecked Sendable {
    let handle: UnsafeMutableRawPointer
    /// The name or path that opened.
    let path: String

    /// The first of `names` that opens: each tried in `directories` first, then through the
    /// loader's own search (`LD_LIBRARY_PATH`, the cache). The error quotes `dlerror()` for the
    /// first name, which is the one a user would install.
    static func open(_ names: [String], directories: [String], what: String) throws(CUDAUnavailable) -> DynamicLibrary {
        var firstError: String?
        for name in names {
            for path in directories.map({ "\($0)/\(name)" }) + [name] {
                if let handle = dlopen(path, RTLD_NOW | RTLD_LOCAL) { return DynamicLibrary(handle: handle, path: path) }
                let message = dlerror().map { String(cString: $0) } ?? "\(path): cannot be opened"
                if firstError == nil, path == name { firstError = message }
            }
        }
        throw CUDAUnavailable("\(firstError ?? names[0]) (\(what); tried \(names.joined(separator: ", "))"
            + (directories.isEmpty ? "" : " in \(directories.joined(separator: ":")) and") + " on the loader's path)")
    }

    /// The function `name` as the C function-pointer type `T`.
    func function<T>(_ name: String, as type: T.Type) throws(CUDAUnavailable) -> T {
        guard let pointer = dlsym(handle, name) else {
            throw CUDAUnavailable("\(path) has no \(name): it is older than this backend needs")
        }
        return unsafeBitCast(pointer, to: type)
    }
}

/// One GPU as the driver describes it.
public struct CUDADevice: Sendable, Equatable, CustomStringConvertible {
    public var ordinal: Int
    public var name: String
    /// Compute capability, e.g. (9, 0) for an H100 or H200.
    public var capability: (major: Int, minor: Int)
    public var memoryBytes: Int
    public var multiprocessors: Int

    /// The architecture NVRTC compiles our kernels for: `sm_90`.
    public var architecture: String { "sm_\(capability.major)\(capability.minor)" }

    public var description: String {
        "\(name) (\(architecture), \(multiprocessors) SMs, \(memoryBytes / (1 << 30)) GiB)"
    }

    public static func == (a: CUDADevice, b: CUDADevice) -> Bool {
        a.ordinal == b.ordinal && a.name == b.name && a.capability == b.capability && a.memoryBytes == b.memoryBytes
            && a.multiprocessors == b.multiprocessors
    }
}

/// NVIDIA's libraries, found at run time: nothing NVIDIA is needed to build or to run on the
/// cpu backend. `probe` says what this machine has, or throws naming what is missing.
public enum CUDALibraries {
    static let driverNames = ["libcuda.so.1"]
    static let nvrtcNames = ["libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so"]
    static let cublasLtNames = ["libcublasLt.so.13", "libcublasLt.so.12", "libcublasLt.so"]
    static let cudnnNames = ["libcudnn.so.9", "libcudnn.so"]

    /// Folders searched before the loader's path: `ALEXNET_CUDA_LIBRARY_PATH` (colon-separated),
    /// e.g. a Python environment's `site-packages/nvidia/cu13/lib` and `cudnn/lib`.
    public static var searchDirectories: [String] {
        guard let value = getenv("ALEXNET_CUDA_LIBRARY_PATH") else { return [] }
        return String(cString: value).split(separator: ":").map(String.init)
    }

    /// What the cuda backend would run on: the driver and its devices, NVRTC, cuBLASLt and cuDNN.
    public struct Machine: Sendable {
        /// The driver's CUDA version, e.g. 13000 for 13.0.
        public var driverVersion: Int
        public var devices: [CUDADevice]
        public var nvrtcVersion: (major: Int, minor: Int)
        public var cublasLtVersion: Int
        public var cudnnVersion: Int

        public var summary: String {
            "driver CUDA \(driverVersion / 1000).\(driverVersion % 1000 / 10), NVRTC \(nvrtcVersion.major).\(nvrtcVersion.minor), "
                + "cuBLASLt \(cublasLtVersion), cuDNN \(cudnnVersion); "
                + devices.map(\.description).joined(separator: ", ")
        }
    }

    /// Opens every library and asks the driver for its devices; throws at the first thing
    /// missing (a library, a symbol, a device), saying which.
    public static func probe(directories: [String] = searchDirectories) throws(CUDAUnavailable) -> Machine {
        let driver = try DynamicLibrary.open(driverNames, directories: directories, what: "the NVIDIA driver")
        let cuInit = try driver.function("cuInit", as: alexnet_cuInit.self)
        let errorString = try? driver.function("cuGetErrorString", as: alexnet_cuGetErrorString.self)
        func check(_ result: CUresult, _ what: String) throws(CUDAUnavailable) {
            guard result != 0 else { return }
            var text: UnsafePointer<CChar>?
            _ = errorString?(result, &text)
            throw CUDAUnavailable("\(what) failed: \(text.map { String(cString: $0) } ?? "CUresult \(result)")")
        }
        try check(cuInit(0), "cuInit (starting the driver)")
        var version: Int32 = 0
        try check(try driver.function("cuDriverGetVersion", as: alexnet_cuDriverGetVersion.self)(&version), "cuDriverGetVersion")
        var count: Int32 = 0
        try check(try driver.function("cuDeviceGetCount", as: alexnet_cuDeviceGetCount.self)(&count), "cuDeviceGetCount")
        guard count > 0 else { throw CUDAUnavailable("the NVIDIA driver is installed but sees no GPU") }
        let deviceGet = try driver.function("cuDeviceGet", as: alexnet_cuDeviceGet.self)
        let deviceName = try driver.function("cuDeviceGetName", as: alexnet_cuDeviceGetName.self)
        let attribute = try driver.function("cuDeviceGetAttribute", as: alexnet_cuDeviceGetAttribute.self)
        let totalMemory = try driver.function("cuDeviceTotalMem_v2", as: alexnet_cuDeviceTotalMem.self)
        var devices: [CUDADevice] = []
        for ordinal in 0..<Int(count) {
            var device: CUdevice = 0
            try check(deviceGet(&device, Int32(ordinal)), "cuDeviceGet(\(ordinal))")
            var name = [CChar](repeating: 0, count: 256)
            try check(deviceName(&name, Int32(name.count), device), "cuDeviceGetName")
            func value(_ key: Int32) throws(CUDAUnavailable) -> Int {
                var result: Int32 = 0
                try check(attribute(&result, key, device), "cuDeviceGetAttribute(\(key))")
                return Int(result)
            }
            var bytes = 0
            try check(totalMemory(&bytes, device), "cuDeviceTotalMem")
            devices.append(CUDADevice(
                ordinal: ordinal, name: String(decoding: name.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self),
                capability: (try value(ALEXNET_CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR),
                             try value(ALEXNET_CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR)),
                memoryBytes: bytes, multiprocessors: try value(ALEXNET_CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT)))
        }
        let nvrtc = try NVRTC(directories: directories)
        let cublasLt = try DynamicLibrary.open(cublasLtNames, directories: directories, what: "cuBLASLt, for the linear layers")
        let cudnn = try DynamicLibrary.open(cudnnNames, directories: directories, what: "cuDNN 9, for convolution, LRN and pooling")
        return Machine(driverVersion: Int(version), devices: devices, nvrtcVersion: nvrtc.version,
                       cublasLtVersion: try cublasLt.function("cublasLtGetVersion", as: alexnet_cublasLtGetVersion.self)(),
                       cudnnVersion: try cudnn.function("cudnnGetVersion", as: alexnet_cudnnGetVersion.self)())
    }
}

/// NVIDIA's run-time compiler: our kernels' CUDA C to a cubin for one architecture (a cubin,
/// not PTX, so a newer compiler never meets an older driver). Needs no GPU.
public final class NVRTC: @unchecked Sendable {
    private let library: DynamicLibrary
    public let version: (major: Int, minor: Int)

    public init(directories: [String] = CUDALibraries.searchDirectories) throws(CUDAUnavailable) {
        library = try DynamicLibrary.open(CUDALibraries.nvrtcNames, directories: directories,
                                          what: "NVRTC, which compiles our kernels")
        var major: Int32 = 0, minor: Int32 = 0
        guard try library.function("nvrtcVersion", as: alexnet_nvrtcVersion.self)(&major, &minor) == 0 else {
            throw CUDAUnavailable("\(library.path): nvrtcVersion failed")
        }
        version = (Int(major), Int(minor))
    }

    /// The library that opened.
    public var path: String { library.path }

    /// `source` compiled for `architecture` (`sm_90`): the cubin's bytes. A compile error
    /// throws with NVRTC's log, which names the line.
    public func compile(_ source: String, name: String, architecture: String, options: [String] = []) throws(CUDAUnavailable) -> [UInt8] {
        let create = try library.function("nvrtcCreateProgram", as: alexnet_nvrtcCreateProgram.self)
        let compile = try library.function("nvrtcCompileProgram", as: alexnet_nvrtcCompileProgram.self)
        let logSize = try library.function("nvrtcGetProgramLogSize", as: alexnet_nvrtcGetProgramLogSize.self)
        let log = try library.function("nvrtcGetProgramLog", as: alexnet_nvrtcGetProgramLog.self)
        let cubinSize = try library.function("nvrtcGetCUBINSize", as: alexnet_nvrtcGetCUBINSize.self)
        let cubin = try library.function("nvrtcGetCUBIN", as: alexnet_nvrtcGetCUBIN.self)
        let destroy = try library.function("nvrtcDestroyProgram", as: alexnet_nvrtcDestroyProgram.self)
        var program: nvrtcProgram?
        guard create(&program, source, name, 0, nil, nil) == 0, program != nil else {
            throw CUDAUnavailable("NVRTC could not create the program \(name)")
        }
        defer { _ = destroy(&program) }
        let arguments = ["--gpu-architecture=\(architecture)", "--std=c++17"] + options
        var pointers = arguments.map { strdup($0) }
        defer { pointers.forEach { free($0) } }
        let status = pointers.withUnsafeMutableBufferPointer { buffer in
            buffer.withMemoryRebound(to: UnsafePointer<CChar>?.self) { compile(program, Int32(buffer.count), $0.baseAddress) }
        }
        guard status == 0 else {
            var size = 0
            _ = logSize(program, &size)
            var text = [CChar](repeating: 0, count: max(size, 1))
            _ = log(program, &text)
            let message = String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            throw CUDAUnavailable("NVRTC could not compile \(name) for \(architecture):\n\(message)")
        }
        var size = 0
        guard cubinSize(program, &size) == 0, size > 0 else { throw CUDAUnavailable("NVRTC gave no cubin for \(name)") }
        var bytes = [CChar](repeating: 0, count: size)
        guard cubin(program, &bytes) == 0 else { throw CUDAUnavailable("NVRTC could not hand over the cubin of \(name)") }
        return bytes.map { UInt8(bitPattern: $0) }
    }
}
