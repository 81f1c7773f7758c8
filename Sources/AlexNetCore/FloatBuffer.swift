/// An owned, 64-byte aligned block of float32 scalars with a stable address.
///
/// The network's parameters live in one of these, their gradients in a mirror of it, so that
/// zeroing gradients is one fill, the optimizer is one loop, and libraries (oneDNN, BLAS,
/// CUDA copies) can be handed plain pointers that stay valid as long as the buffer lives.
public final class FloatBuffer: @unchecked Sendable {
    public let count: Int
    public let baseAddress: UnsafeMutablePointer<Float>

    public init(count: Int, repeating value: Float = 0) {
        precondition(count >= 0, "FloatBuffer: negative count \(count)")
        self.count = count
        let raw = UnsafeMutableRawPointer.allocate(
            byteCount: max(count, 1) * MemoryLayout<Float>.stride, alignment: 64)
        baseAddress = raw.bindMemory(to: Float.self, capacity: max(count, 1))
        baseAddress.initialize(repeating: value, count: max(count, 1))
    }

    public convenience init(_ values: [Float]) {
        self.init(count: values.count)
        values.withUnsafeBufferPointer { source in
            if let from = source.baseAddress { baseAddress.update(from: from, count: values.count) }
        }
    }

    deinit { baseAddress.deallocate() }

    /// The whole buffer.
    public var pointer: UnsafeMutableBufferPointer<Float> {
        UnsafeMutableBufferPointer(start: baseAddress, count: count)
    }

    /// A view of `count` scalars starting at `offset`.
    public func view(offset: Int, count viewCount: Int) -> UnsafeMutableBufferPointer<Float> {
        precondition(offset >= 0 && viewCount >= 0 && offset + viewCount <= count,
                     "FloatBuffer: view \(offset)..<\(offset + viewCount) outside 0..<\(count)")
        return UnsafeMutableBufferPointer(start: baseAddress + offset, count: viewCount)
    }

    public func fill(with value: Float) { pointer.update(repeating: value) }

    public var array: [Float] { Array(pointer) }

    public subscript(index: Int) -> Float {
        get { pointer[index] }
        set { pointer[index] = newValue }
    }
}
