@testable import AlexNetBackends
import Foundation
import Testing

/// What of the cuda backend can be checked without a GPU: the libraries are found at run time
/// and a missing one is named, and every kernel compiles with NVRTC (which needs no GPU).
@Suite struct CUDATests {
    /// NVRTC from `ALEXNET_CUDA_LIBRARY_PATH`, or from PyPI's `nvidia-cuda-nvrtc` wheel in
    /// `.venv-peers` (`.venv-peers/bin/pip install nvidia-cuda-nvrtc`), or on the loader's path.
    static let nvrtc: NVRTC? = {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../..").standardized.path
        let wheels = (try? FileManager.default.contentsOfDirectory(atPath: "\(root)/.venv-peers/lib"))?.flatMap { python in
            ["cu13/lib", "cuda_nvrtc/lib"].map { "\(root)/.venv-peers/lib/\(python)/site-packages/nvidia/\($0)" }
        } ?? []
        return try? NVRTC(directories: CUDALibraries.searchDirectories + wheels)
    }()

    @Test func aMissingLibraryIsNamed() throws {
        do {
            _ = try DynamicLibrary.open(["libalexnet-absent.so.1"], directories: ["/nonexistent"], what: "a library no machine has")
            Issue.record("a library that does not exist opened")
        } catch {
            #expect(error.description.hasPrefix("libalexnet-absent.so.1: cannot open shared object file"), "\(error)")
            #expect(error.description.contains("a library no machine has") && error.description.contains("/nonexistent"))
        }
    }

    /// `--backend cuda` fails at once with the probe's reason: on this machine the missing
    /// driver, on a GPU machine what it found and that the plans are not written yet.
    @Test func theCudaBackendSaysWhyItCannotRun() throws {
        let reason: String
        do {
            let machine = try CUDALibraries.probe()
            reason = "found \(machine.summary), but the cuda backend's plans are not written yet (issue 17)"
        } catch {
            reason = error.description
        }
        #expect(throws: BackendError.unavailable("cuda", reason: reason)) { try Backends.make("cuda") }
        if !FileManager.default.fileExists(atPath: "/dev/nvidiactl") {
            #expect(reason.contains("libcuda.so.1"), "\(reason)")
        }
    }

    @Test(.enabled(if: nvrtc != nil, "NVRTC not found: pip install nvidia-cuda-nvrtc into .venv-peers, or set ALEXNET_CUDA_LIBRARY_PATH"),
          arguments: ["sm_80", "sm_90"])
    func everyKernelCompiles(architecture: String) throws {
        let nvrtc = try #require(Self.nvrtc)
        for (name, source) in CUDAKernels.all {
            let cubin = try nvrtc.compile(source, name: name, architecture: architecture)
            #expect(cubin.starts(with: [0x7F, 0x45, 0x4C, 0x46]), "\(name): a cubin is an ELF file")
        }
        // A compile error comes back with NVRTC's log, naming the line.
        #expect(throws: CUDAUnavailable.self) {
            try nvrtc.compile("extern \"C\" __global__ void broken(float *x) { x[0] = y; }", name: "broken.cu", architecture: architecture)
        }
    }
}
