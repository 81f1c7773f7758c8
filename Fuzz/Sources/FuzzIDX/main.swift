import AlexNetFuzzTargets

/// libFuzzer's entry point: one input, handed to FuzzTargets.idx.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ count: Int) -> Int32 {
    FuzzTargets.idx(data.map { Array(UnsafeBufferPointer(start: $0, count: count)) } ?? [])
    return 0
}
