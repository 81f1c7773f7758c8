import AlexNetNetwork

#if canImport(Glibc)
import Glibc
#endif

/// A plan's memory, estimated from the network description before anything is allocated, and
/// checked against what the machine has free: a batch or a layer too large for the machine is
/// refused with both numbers instead of ending in an allocation failure or the kernel's OOM
/// killer.
public enum MemoryBudget {
    /// A lower bound of what a plan needs: the parameters (with their gradients and one
    /// optimizer buffer when training) and every layer's output for the whole batch.
    public static func estimate(_ network: ResolvedNetwork, batchSize: Int, mode: PlanMode) -> Int {
        let (fixed, perImage) = parts(network, mode: mode)
        let (activations, overflow) = perImage.multipliedReportingOverflow(by: batchSize)
        return overflow ? Int.max : fixed &+ activations
    }

    /// The bytes that do not depend on the batch, and those of one image.
    static func parts(_ network: ResolvedNetwork, mode: PlanMode) -> (fixed: Int, perImage: Int) {
        let summary = Summary(network)
        return ((summary.parameterBytes + 4 * summary.stateScalars) * (mode == .training ? 3 : mode == .attribution ? 2 : 1),
                summary.trainingActivationBytesPerImage)
    }

    /// Bytes the kernel reports available (MemAvailable), or nil where /proc is missing.
    public static func availableBytes() -> Int? { kilobytes("MemAvailable:", in: "/proc/meminfo").map { $0 * 1024 } }

    /// The number after `key` in a /proc file that counts in kB (`/proc/meminfo`,
    /// `/proc/self/status`).
    static func kilobytes(_ key: String, in path: String) -> Int? {
        guard let file = fopen(path, "r") else { return nil }
        defer { fclose(file) }
        var line = [CChar](repeating: 0, count: 256)
        while fgets(&line, Int32(line.count), file) != nil {
            let text = String(cString: line)
            if text.hasPrefix(key) { return text.split(separator: " ").compactMap { Int($0) }.first }
        }
        return nil
    }

    /// Throws when the plan cannot fit in the memory available now.
    public static func check(_ network: ResolvedNetwork, batchSize: Int, mode: PlanMode) throws(PlanError) {
        guard let available = availableBytes() else { return }
        let needed = estimate(network, batchSize: batchSize, mode: mode)
        guard needed > available else { return }
        let (fixed, perImage) = parts(network, mode: mode)
        let fitting = perImage > 0 ? max(0, (available - fixed) / perImage) : 0
        throw .memory(network: network.network.name, batchSize: batchSize, mode: mode, needed: needed, available: available,
                      largestBatch: fitting)
    }
}

/// Bytes as GiB with two decimals.
func gibibytes(_ bytes: Int) -> String {
    bytes == Int.max ? "more than 8 EiB" : "\((Double(bytes) / 1_073_741_824 * 100).rounded() / 100) GiB"
}
