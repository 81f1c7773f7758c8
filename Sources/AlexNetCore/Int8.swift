/// Symmetric int8 quantization of weights, as the int8 plan, the quantized weights file and the
/// ONNX QDQ export all write it.
public enum SymmetricInt8 {
    /// Per output channel (the first dimension): scale = max|w| / 127 of each row (1 for a row
    /// of zeros), q = round(w / scale), so w ~ q * scale.
    public static func perOutputChannel(_ weights: [Float], outputs: Int) -> (values: [Int8], scales: [Float]) {
        let perOutput = weights.count / outputs
        var q = [Int8](repeating: 0, count: weights.count), scales = [Float](repeating: 1, count: outputs)
        for o in 0..<outputs {
            let row = weights[(o * perOutput)..<((o + 1) * perOutput)]
            let largest = row.reduce(0) { max($0, abs($1)) }
            scales[o] = largest > 0 ? largest / 127 : 1
            for (k, w) in row.enumerated() { q[o * perOutput + k] = Int8(max(-127, min(127, (w / scales[o]).rounded()))) }
        }
        return (q, scales)
    }
}
