import CDNNL
import Dispatch

#if canImport(Glibc)
import Glibc
#endif

/// Measurements of the machine itself, so benchmark figures can be read as a fraction of what
/// it can do right now (this kind of machine drifts by up to 2x between runs).
public enum MachineProbe {
    /// The best sgemm rate (oneDNN's JIT sgemm, the one the linear layers use) on `threads`
    /// threads, in GFLOP/s, over `repeats` runs of an n x n x n product.
    public static func sgemmPeak(threads: Int, n: Int = 2048, repeats: Int = 5) -> Double {
        DNNLThreads.set(threads)
        let a = [Float](repeating: 0.5, count: n * n), b = [Float](repeating: 0.25, count: n * n)
        var c = [Float](repeating: 0, count: n * n)
        var best = Double.infinity
        for _ in 0..<repeats {
            let start = DispatchTime.now().uptimeNanoseconds
            _ = dnnl_sgemm(78, 78, dnnl_dim_t(n), dnnl_dim_t(n), dnnl_dim_t(n), 1, a, dnnl_dim_t(n), b, dnnl_dim_t(n), 0, &c, dnnl_dim_t(n))
            best = min(best, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
        }
        return 2 * Double(n) * Double(n) * Double(n) / best / 1e9
    }

    /// The process's peak resident memory in bytes (VmHWM), or nil where /proc is missing.
    public static func peakResidentBytes() -> Int? { MemoryBudget.kilobytes("VmHWM:", in: "/proc/self/status").map { $0 * 1024 } }
}
