/// The `Philox` streams of a run, so that initial weights, dropout masks and data
/// augmentation never draw the same numbers. A stream number packs a purpose tag (8 bits), a
/// layer or tensor index (16 bits) and a step (40 bits).
public enum RandomStream {
    public static func initialization(tensor: Int) -> UInt64 { pack(1, tensor, 0) }
    public static func dropout(layer: Int, step: UInt64) -> UInt64 { pack(2, layer, step) }
    /// Crops, flips and lighting of epoch `step` (indexed by example within the stream).
    public static func augmentation(step: UInt64) -> UInt64 { pack(3, 0, step) }
    /// The order of the examples in epoch `epoch`.
    public static func shuffle(epoch: UInt64) -> UInt64 { pack(4, 0, epoch) }

    private static func pack(_ purpose: UInt64, _ index: Int, _ step: UInt64) -> UInt64 {
        purpose << 56 | (UInt64(truncatingIfNeeded: index) & 0xFFFF) << 40 | (step & 0xFF_FFFF_FFFF)
    }
}
