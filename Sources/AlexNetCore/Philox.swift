/// Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC 2011): a
/// counter-based random number generator. The `n`-th number of a stream is a pure function of
/// the key (the seed) and the counter `n`, so any element can be drawn in any order, on any
/// thread or device, and a run that resumes at step `s` draws exactly what it would have drawn.
///
/// Dropout masks, initial weights and data augmentation all draw from it with their own
/// `stream` so that they never share numbers.
public struct Philox: Sendable, Hashable {
    public let key: (UInt32, UInt32)
    public let stream: UInt64

    public init(seed: UInt64, stream: UInt64 = 0) {
        key = (UInt32(truncatingIfNeeded: seed), UInt32(truncatingIfNeeded: seed >> 32))
        self.stream = stream
    }

    public static func == (a: Philox, b: Philox) -> Bool {
        a.key == b.key && a.stream == b.stream
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(key.0)
        hasher.combine(key.1)
        hasher.combine(stream)
    }

    /// Four independent 32-bit words for counter `index` of this stream.
    public func block(at index: UInt64) -> (UInt32, UInt32, UInt32, UInt32) {
        var counter = (
            UInt32(truncatingIfNeeded: index), UInt32(truncatingIfNeeded: index >> 32),
            UInt32(truncatingIfNeeded: stream), UInt32(truncatingIfNeeded: stream >> 32)
        )
        var k = key
        for round in 0..<10 {
            if round > 0 {
                k.0 &+= 0x9E37_79B9
                k.1 &+= 0xBB67_AE85
            }
            let product0 = UInt64(0xD251_1F53) &* UInt64(counter.0)
            let product1 = UInt64(0xCD9E_8D57) &* UInt64(counter.2)
            counter = (
                UInt32(truncatingIfNeeded: product1 >> 32) ^ counter.1 ^ k.0,
                UInt32(truncatingIfNeeded: product1),
                UInt32(truncatingIfNeeded: product0 >> 32) ^ counter.3 ^ k.1,
                UInt32(truncatingIfNeeded: product0)
            )
        }
        return counter
    }

    /// A uniform float in [0, 1) for counter `index` (24 random bits, so every value is exact).
    public func uniform(at index: UInt64) -> Float {
        Float(block(at: index).0 >> 8) * (1.0 / 16_777_216.0)
    }

    /// A standard normal float for counter `index` (Box-Muller on two words of the block).
    public func normal(at index: UInt64) -> Float {
        let words = block(at: index)
        // u1 in (0, 1] so that the logarithm is finite.
        let u1 = (Double(words.0 >> 8) + 1) * (1.0 / 16_777_216.0)
        let u2 = Double(words.1 >> 8) * (1.0 / 16_777_216.0)
        let radius = (-2 * log(u1)).squareRoot()
        return Float(radius * cos(2 * Double.pi * u2))
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
