import CDNNL

/// Row-major single-precision matrix products through oneDNN's JIT sgemm, for the work around
/// the network that is a matrix product too: nearest-neighbour distances, PCA covariances.
public enum MatrixMultiply {
    /// C = alpha op(A) op(B) + beta C, all row-major; C is m x n, op(A) m x k, op(B) k x n.
    /// Runs on oneDNN's threads (`CPUBackend.threads`, all cores by default).
    public static func sgemm(transposeA: Bool = false, transposeB: Bool = false, m: Int, n: Int, k: Int, alpha: Float = 1,
                             _ a: UnsafePointer<Float>, lda: Int, _ b: UnsafePointer<Float>, ldb: Int,
                             beta: Float = 0, _ c: UnsafeMutablePointer<Float>, ldc: Int) {
        guard m > 0, n > 0 else { return }
        let status = dnnl_sgemm(transposeA ? 84 : 78, transposeB ? 84 : 78, dnnl_dim_t(m), dnnl_dim_t(n), dnnl_dim_t(k),  // 'T' or 'N'
                                alpha, a, dnnl_dim_t(lda), b, dnnl_dim_t(ldb), beta, c, dnnl_dim_t(ldc))
        precondition(status == dnnl_success, "oneDNN: dnnl_sgemm failed with status \(status.rawValue)")
    }

    /// Sets the number of threads oneDNN uses on the calling thread.
    public static func setThreads(_ count: Int) { DNNLThreads.set(count) }
}
