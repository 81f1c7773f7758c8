import CDNNL

extension PrimitiveDescriptor {
    /// The index of the candidate that runs fastest here, timed on zeroed scratch memory: each
    /// runs once untimed, then three times, the candidates interleaved so that the machine's
    /// drift hits them alike; a candidate's time is its best run.
    ///
    /// For primitives that read a source and weights and write a destination (convolutions and
    /// inner products, with a bias of `destination.shape[1]` values bound whether or not they
    /// use it). Used where the faster kernel depends on the CPU and the batch size, so is
    /// measured when a plan is built: an int8 linear layer's two forms.
    static func fastest(_ candidates: [PrimitiveDescriptor], engine: DNNLEngine) throws -> Int {
        guard candidates.count > 1 else { return 0 }
        var storages: [RawStorage] = []
        func memory(_ descriptor: MemoryDescriptor) throws -> Memory {
            let count = max(descriptor.byteCount, 1)
            let storage = RawStorage(byteCount: count)
            storage.pointer.initializeMemory(as: UInt8.self, repeating: 0, count: count)
            storages.append(storage)
            return try Memory(descriptor, engine: engine, pointer: storage.pointer)
        }
        let primitives = try candidates.map { pd in
            try BoundPrimitive(pd, name: "timing", arguments: [
                (CDNNL_ARG_SRC, try memory(pd.source)), (CDNNL_ARG_WEIGHTS, try memory(pd.weights)),
                (CDNNL_ARG_BIAS, try memory(try MemoryDescriptor.plain([pd.destination.shape[1]]))),
                (CDNNL_ARG_DST, try memory(pd.destination)), (CDNNL_ARG_SCRATCHPAD, try memory(pd.scratchpad))])
        }
        var best = [Double](repeating: .infinity, count: candidates.count)
        let clock = ContinuousClock()
        for run in 0..<4 {
            for (index, primitive) in primitives.enumerated() {
                let start = clock.now
                primitive.execute(engine)
                engine.wait()
                let elapsed = clock.now - start
                let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
                if run > 0 { best[index] = min(best[index], seconds) }
            }
        }
        withExtendedLifetime(storages) {}
        return best.indices.min { best[$0] < best[$1] }!
    }
}
