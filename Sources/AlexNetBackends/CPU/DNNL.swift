import CDNNL

/// Thin, owning Swift wrappers over oneDNN 2.6's C API: every handle is released in `deinit`,
/// every status is checked and turned into an error that says which call failed.

/// A failed oneDNN call.
public struct DNNLError: Error, CustomStringConvertible {
    public var call: String
    public var status: dnnl_status_t
    public var description: String { "oneDNN: \(call) failed with status \(status.rawValue) (\(statusName))" }

    private var statusName: String {
        switch status {
        case dnnl_out_of_memory: return "out of memory"
        case dnnl_invalid_arguments: return "invalid arguments"
        case dnnl_unimplemented: return "unimplemented: no kernel for these shapes or layouts"
        case dnnl_runtime_error: return "runtime error"
        default: return "error"
        }
    }
}

@inline(__always)
func check(_ status: dnnl_status_t, _ call: @autoclosure () -> String) throws {
    if status != dnnl_success { throw DNNLError(call: call(), status: status) }
}

/// oneDNN's fixed-size dims (12 entries) as an array, which Swift passes to a
/// `const dnnl_dims_t` parameter as a pointer valid for the call. (Passing `&tuple.0` instead
/// is wrong: the optimizer may hand C a copy of the first element alone.)
func dims(_ values: [Int]) -> [dnnl_dim_t] {
    values.map { dnnl_dim_t($0) } + Array(repeating: 0, count: 12 - values.count)
}

/// The CPU engine and an in-order stream on it. One per plan.
final class DNNLEngine {
    let engine: dnnl_engine_t
    let stream: dnnl_stream_t

    init() throws {
        var engine: dnnl_engine_t?
        try check(dnnl_engine_create(&engine, dnnl_cpu, 0), "dnnl_engine_create")
        var stream: dnnl_stream_t?
        try check(dnnl_stream_create(&stream, engine, dnnl_stream_default_flags.rawValue), "dnnl_stream_create")
        self.engine = engine!
        self.stream = stream!
    }

    deinit {
        dnnl_stream_destroy(stream)
        dnnl_engine_destroy(engine)
    }

    func wait() { dnnl_stream_wait(stream) }
}

/// A memory descriptor: dimensions, data type and layout.
struct MemoryDescriptor: Equatable {
    var raw: dnnl_memory_desc_t

    init(raw: dnnl_memory_desc_t) { self.raw = raw }

    /// float32 (or `type`) with a named layout (`dnnl_nchw`, `dnnl_nc`, `dnnl_any`, ...).
    init(_ shape: [Int], _ tag: dnnl_format_tag_t, type: dnnl_data_type_t = dnnl_f32) throws {
        var md = dnnl_memory_desc_t()
        try check(dnnl_memory_desc_init_by_tag(&md, Int32(shape.count), dims(shape), type, tag),
                  "dnnl_memory_desc_init_by_tag(\(shape))")
        raw = md
    }

    /// The scalar type.
    var type: dnnl_data_type_t { raw.data_type }

    /// The plain row-major layout for a shape of rank 1 to 5.
    static func plain(_ shape: [Int]) throws -> MemoryDescriptor {
        let tags = [dnnl_a, dnnl_ab, dnnl_abc, dnnl_abcd, dnnl_abcde]
        return try MemoryDescriptor(shape, tags[shape.count - 1])
    }

    static func any(_ shape: [Int]) throws -> MemoryDescriptor { try MemoryDescriptor(shape, dnnl_format_tag_any) }

    /// Channels per block in `channelBlocked`: the machine's vector width in floats.
    static var channelBlock: Int {
        let avx512 = dnnl_cpu_isa_avx512_core.rawValue
        return dnnl_get_effective_cpu_isa().rawValue & avx512 == avx512 ? 16 : 8
    }

    /// NCHW with channels in blocks of the machine's vector width: nChw16c with AVX-512,
    /// nChw8c otherwise (what oneDNN's own jit kernels choose).
    static func channelBlocked(_ shape: [Int]) throws -> MemoryDescriptor {
        try MemoryDescriptor(shape, channelBlock == 16 ? dnnl_nChw16c : dnnl_nChw8c)
    }

    /// Whether this is oneDNN's Winograd weights layout (weights transformed ahead of the call).
    var isWinogradLayout: Bool { raw.format_kind == dnnl_format_kind_wino }

    /// Bytes needed, padding of blocked layouts included.
    var byteCount: Int {
        withUnsafePointer(to: raw) { Int(dnnl_memory_desc_get_size($0)) }
    }

    var shape: [Int] {
        withUnsafeBytes(of: raw.dims) { raw in Array(raw.bindMemory(to: dnnl_dim_t.self).prefix(Int(self.raw.ndims))).map(Int.init) }
    }

    static func == (a: MemoryDescriptor, b: MemoryDescriptor) -> Bool {
        withUnsafePointer(to: a.raw) { pa in withUnsafePointer(to: b.raw) { pb in dnnl_memory_desc_equal(pa, pb) != 0 } }
    }
}

/// A primitive descriptor: the implementation oneDNN chose for an operation.
final class PrimitiveDescriptor {
    let raw: dnnl_primitive_desc_t

    /// `opDesc` points at a `dnnl_*_desc_t`; `hint` is the forward descriptor for backward passes.
    init(_ opDesc: UnsafeRawPointer, attributes: Attributes? = nil, engine: DNNLEngine,
         hint: PrimitiveDescriptor? = nil, what: String) throws {
        var pd: dnnl_primitive_desc_t?
        let attr = try attributes ?? Attributes()
        try withExtendedLifetime((attr, hint)) {
            try check(dnnl_primitive_desc_create(&pd, opDesc, attr.raw, engine.engine, hint?.raw), "creating \(what)")
        }
        raw = pd!
    }

    /// A reorder between two layouts (and data types: `attributes` may scale the values).
    init(reorderFrom source: MemoryDescriptor, to destination: MemoryDescriptor, attributes: Attributes? = nil,
         engine: DNNLEngine) throws {
        var pd: dnnl_primitive_desc_t?
        let attr = try attributes ?? Attributes()
        var s = source.raw, d = destination.raw
        try withExtendedLifetime(attr) {
            try check(dnnl_reorder_primitive_desc_create(&pd, &s, engine.engine, &d, engine.engine, attr.raw),
                      "creating a reorder \(source.shape)")
        }
        raw = pd!
    }

    deinit { dnnl_primitive_desc_destroy(raw) }

    func descriptor(_ query: dnnl_query_t, _ index: Int32 = 0) -> MemoryDescriptor {
        MemoryDescriptor(raw: dnnl_primitive_desc_query_md(raw, query, index).pointee)
    }

    var source: MemoryDescriptor { descriptor(dnnl_query_src_md) }
    var destination: MemoryDescriptor { descriptor(dnnl_query_dst_md) }
    var weights: MemoryDescriptor { descriptor(dnnl_query_weights_md) }
    var diffSource: MemoryDescriptor { descriptor(dnnl_query_diff_src_md) }
    var diffWeights: MemoryDescriptor { descriptor(dnnl_query_diff_weights_md) }
    var workspace: MemoryDescriptor { descriptor(dnnl_query_workspace_md) }
    var scratchpad: MemoryDescriptor { descriptor(dnnl_query_scratchpad_md) }

    /// The implementation's name (`jit:avx512_core`, `ref:any`, ...), for the per-layer report.
    var implementation: String {
        var name: UnsafePointer<CChar>?
        dnnl_primitive_desc_query(raw, dnnl_query_impl_info_str, 0, &name)
        return name.map { String(cString: $0) } ?? "?"
    }
}

/// Primitive attributes: user-managed scratchpad (so no step allocates), optional post-ops and
/// output scales (int8: oneDNN 2.x multiplies the int32 accumulator plus bias by them, one per
/// tensor, or one per output channel with `scaleMask` 1 << 1).
final class Attributes {
    let raw: dnnl_primitive_attr_t

    init(fusedReLU: Bool = false, outputScales: [Float]? = nil, scaleMask: Int32 = 0) throws {
        var attr: dnnl_primitive_attr_t?
        try check(dnnl_primitive_attr_create(&attr), "dnnl_primitive_attr_create")
        raw = attr!
        try check(dnnl_primitive_attr_set_scratchpad_mode(raw, dnnl_scratchpad_mode_user), "setting the scratchpad mode")
        if let outputScales {
            try check(dnnl_primitive_attr_set_output_scales(raw, dnnl_dim_t(outputScales.count), scaleMask, outputScales),
                      "setting \(outputScales.count) output scales")
        }
        if fusedReLU {
            var ops: dnnl_post_ops_t?
            try check(dnnl_post_ops_create(&ops), "dnnl_post_ops_create")
            defer { dnnl_post_ops_destroy(ops) }
            try check(dnnl_post_ops_append_eltwise(ops, 1, dnnl_eltwise_relu, 0, 0), "appending a ReLU post-op")
            try check(dnnl_primitive_attr_set_post_ops(raw, ops), "setting post-ops")
        }
    }

    deinit { dnnl_primitive_attr_destroy(raw) }
}

/// A memory object: a descriptor bound to a pointer we own.
final class Memory {
    let raw: dnnl_memory_t
    let descriptor: MemoryDescriptor

    init(_ descriptor: MemoryDescriptor, engine: DNNLEngine, pointer: UnsafeMutableRawPointer) throws {
        var memory: dnnl_memory_t?
        var md = descriptor.raw
        try check(dnnl_memory_create(&memory, &md, engine.engine, pointer), "dnnl_memory_create")
        raw = memory!
        self.descriptor = descriptor
    }

    deinit { dnnl_memory_destroy(raw) }
}

/// A primitive with its arguments bound once, so executing it allocates nothing.
final class BoundPrimitive {
    let raw: dnnl_primitive_t
    let name: String
    /// Keeps the memory objects alive as long as the primitive may use them.
    private let memories: [Memory]
    private let arguments: UnsafeMutableBufferPointer<dnnl_exec_arg_t>

    init(_ pd: PrimitiveDescriptor, name: String, arguments: [(Int32, Memory)]) throws {
        var primitive: dnnl_primitive_t?
        try check(dnnl_primitive_create(&primitive, pd.raw), "creating \(name)")
        raw = primitive!
        self.name = name
        memories = arguments.map(\.1)
        self.arguments = .allocate(capacity: arguments.count)
        for (i, (index, memory)) in arguments.enumerated() {
            self.arguments[i] = dnnl_exec_arg_t(arg: index, memory: memory.raw)
        }
    }

    deinit {
        arguments.deallocate()
        dnnl_primitive_destroy(raw)
    }

    /// Runs the primitive. With Debian's OpenMP build of oneDNN execution is synchronous; code
    /// that reads results from Swift still calls `DNNLEngine.wait()` first, as the API asks.
    func execute(_ engine: DNNLEngine) {
        let status = dnnl_primitive_execute(raw, engine.stream, Int32(arguments.count), arguments.baseAddress)
        precondition(status == dnnl_success, "oneDNN: executing \(name) failed with status \(status.rawValue)")
    }
}

/// Thread count for oneDNN (OpenMP).
enum DNNLThreads {
    static func set(_ count: Int) { omp_set_num_threads(Int32(count)) }
    static var current: Int { Int(omp_get_max_threads()) }
}
