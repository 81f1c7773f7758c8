import AlexNetCore
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// One batch: `input` is always `[batchSize] + shape` so that a plan compiled for that batch
/// size can take it; when the epoch's last batch is short, `count` says how many rows are real
/// and the rest are zeros (their labels are 0 and must be ignored).
public struct Batch: Sendable {
    public var epoch: Int
    /// Position of the batch within its epoch.
    public var index: Int
    public var count: Int
    public var input: Tensor
    public var labels: [Int]
    /// The source's index of each real row (`count` of them): where a training batch took the
    /// next readable image for a bad one, or an evaluation batch left a bad one out.
    public var examples: [Int]
}

/// One process's share of data-parallel batches: `rank` of `count` processes.
public struct Shard: Sendable, Equatable {
    public var rank: Int
    public var count: Int

    public init(rank: Int, count: Int) {
        precondition(count > 0 && (0..<count).contains(rank), "Shard: rank \(rank) of \(count)")
        self.rank = rank
        self.count = count
    }

    /// One process takes every batch whole.
    public static let whole = Shard(rank: 0, count: 1)
}

/// Turns a source into batches of network inputs: shuffled by seed and epoch, preprocessed on
/// worker threads ahead of the consumer, in a bounded queue.
///
/// Everything a batch contains is a pure function of (seed, epoch, batch index), so iteration
/// can start at any batch of any epoch (resuming a run mid-epoch) and gives the same batches no
/// matter how many workers made them.
public final class DataLoader: Sendable {
    public let source: any ImageSource
    public let preprocessing: Preprocessing
    /// Per-example shape of the input (what the network takes).
    public let shape: Shape
    public let batchSize: Int
    /// Augment (random crop, flip, lighting) and shuffle: the training mode.
    public let training: Bool
    public let seed: UInt64
    /// Worker threads preparing batches.
    public let workers: Int
    /// Most batches prepared ahead of the consumer.
    public let prefetch: Int
    /// Leave out images that cannot be read or decoded instead of failing (`--skip-bad-images`):
    /// in training the next readable example of the epoch's order takes the bad one's place,
    /// so batches stay full and deterministic; in evaluation the batch is one row shorter.
    public let skipBadImages: Bool
    /// In data-parallel training, which slice of every global batch this process takes:
    /// batch k of an epoch is the examples at positions k x globalBatchSize ..< (k + 1) x
    /// globalBatchSize of the epoch's order, and rank r takes the `batchSize` of them starting
    /// at r x batchSize. Every example keeps the augmentation it has in one process.
    public let shard: Shard
    private let skipped = SkipLog()
    private let pool = BatchPool()

    /// The examples skipped so far (each once), with why, in index order.
    public var skippedImages: [(example: Int, reason: String)] { skipped.entries }

    /// Training drops the epoch's last short batch (every example still gets used, since each
    /// epoch has its own order); evaluation keeps it.
    public var batchesPerEpoch: Int {
        training ? source.count / globalBatchSize : (source.count + globalBatchSize - 1) / globalBatchSize
    }

    /// The examples of one step over all processes.
    public var globalBatchSize: Int { batchSize * shard.count }

    /// The position within the global batch of this process's first row.
    public var firstRow: Int { shard.rank * batchSize }

    public init(source: any ImageSource, preprocessing: Preprocessing, shape: Shape, batchSize: Int,
                training: Bool, seed: UInt64 = 0, workers: Int = 2, prefetch: Int = 4,
                skipBadImages: Bool = false, shard: Shard = .whole) throws(DataError) {
        try preprocessing.validate()
        guard batchSize > 0 else { throw DataError(source.name, "batch size must be positive") }
        guard source.count > 0 else { throw DataError(source.name, "has no examples") }
        guard !training || source.count >= batchSize * shard.count else {
            throw DataError(source.name, "has \(source.count) examples, fewer than one batch of \(batchSize * shard.count)")
        }
        self.source = source
        self.preprocessing = preprocessing
        self.shape = shape
        self.batchSize = batchSize
        self.training = training
        self.seed = seed
        self.workers = max(1, workers)
        self.prefetch = max(1, prefetch)
        self.skipBadImages = skipBadImages
        self.shard = shard
    }

    /// Decodes one example; nil (and logged) when it is bad and bad images are skipped.
    private func decode(_ example: Int) throws(DataError) -> Image? {
        try source.image(at: example, shorterSideAtLeast: preprocessing.resize,
                         skipping: skipBadImages ? { [skipped] in skipped.record($0, "\($1)") } : nil)
    }

    /// The order of the examples in `epoch`: a Fisher-Yates shuffle drawn from the seed and the
    /// epoch when training, the identity otherwise.
    public func order(epoch: Int) -> [Int] {
        var order = Array(0..<source.count)
        guard training else { return order }
        let random = Philox(seed: seed, stream: RandomStream.shuffle(epoch: UInt64(epoch)))
        for i in stride(from: order.count - 1, to: 0, by: -1) {
            let words = random.block(at: UInt64(i))
            let j = Int((UInt64(words.0) << 32 | UInt64(words.1)) % UInt64(i + 1))
            order.swapAt(i, j)
        }
        return order
    }

    /// Prepares batch `index` of `epoch` on the calling thread.
    public func batch(epoch: Int, index: Int, order: [Int]? = nil) throws(DataError) -> Batch {
        let order = order ?? self.order(epoch: epoch)
        precondition(index >= 0 && index * globalBatchSize < order.count, "DataLoader: batch \(index) is past the end of the epoch")
        // A process's slice of the epoch's last, short batch may be short or empty.
        let start = index * globalBatchSize + firstRow
        let available = max(0, min(batchSize, order.count - start))
        let random = Philox(seed: seed, stream: RandomStream.augmentation(step: UInt64(epoch)))
        let size = shape.elementCount
        var scalars = pool.take() ?? Self.uninitializedBatch(batchSize * size)
        var labels = [Int](repeating: 0, count: batchSize)
        var examples: [Int] = []
        examples.reserveCapacity(available)
        var count = 0
        for position in start..<(start + available) {
            var example = order[position]
            var readable = try decode(example)
            // Training: the next readable examples of the order stand in for a bad one.
            var step = 1
            while readable == nil && training && step <= min(order.count - 1, 1000) {
                example = order[(position + step) % order.count]
                readable = try decode(example)
                step += 1
            }
            guard let decoded = readable else {
                if training { throw DataError(source.name, "has no readable image near example \(order[position]) (\(skipped.entries.count) skipped)") }
                continue
            }
            let row = count
            count += 1
            try scalars.withUnsafeMutableBufferPointer { buffer throws(DataError) in
                try preprocessing.prepare(decoded, as: shape, training: training, random: random, index: example,
                                          into: buffer.baseAddress! + row * size, source: "\(source.name) example \(example)")
            }
            labels[row] = source.label(at: example)
            examples.append(example)
        }
        // Rows past `count` (a short last batch, or skipped images) are zeros.
        scalars.withUnsafeMutableBufferPointer { buffer in
            (buffer.baseAddress! + count * size).update(repeating: 0, count: (batchSize - count) * size)
        }
        return Batch(epoch: epoch, index: index, count: count,
                     input: Tensor(shape: [batchSize] + shape.dimensions, scalars: scalars), labels: labels, examples: examples)
    }

    /// Gives a used batch's input memory back for the next batches to fill, which saves the
    /// kernel zeroing fresh pages for every batch (15-25% of the loader's time on JPEGs).
    /// `batch.input` is empty afterwards. Optional: a batch never given back is simply freed.
    public func recycle(_ batch: inout Batch) {
        var scalars: [Float] = []
        swap(&scalars, &batch.input.scalars)
        guard scalars.count == batchSize * shape.elementCount else { return }
        pool.put(scalars, keeping: prefetch + workers + 1)
    }

    /// An array for a batch whose every element the caller writes. A batch is tens of
    /// megabytes, so it is a fresh mapping each time: rather than zeroing it and then taking a
    /// page fault every 4 KiB, it asks for transparent huge pages (2 MiB) first.
    static func uninitializedBatch(_ count: Int) -> [Float] {
        [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
            let bytes = count * MemoryLayout<Float>.stride
            if bytes >= 4 << 20, let base = buffer.baseAddress {
                let page = 2 << 20
                let start = (Int(bitPattern: base) + page - 1) / page * page
                let end = (Int(bitPattern: base) + bytes) / page * page
                if end > start { _ = madvise(UnsafeMutableRawPointer(bitPattern: start), end - start, MADV_HUGEPAGE) }
            }
            initialized = count
        }
    }

    /// The batches of `epoch` from batch `first` on, prepared by the workers.
    public func batches(epoch: Int, from first: Int = 0) -> BatchStream {
        BatchStream(loader: self, epoch: epoch, first: first)
    }
}

/// The batches of one epoch in order, made ahead by worker threads. Stops its workers when it
/// is exhausted, when `stop()` is called, or when it is released.
public final class BatchStream: Sequence, IteratorProtocol {
    private let queue: BatchQueue

    init(loader: DataLoader, epoch: Int, first: Int) {
        queue = BatchQueue(loader: loader, epoch: epoch, first: first)
    }

    deinit { queue.stop() }

    /// The next batch, waiting for a worker if needed; nil at the end of the epoch. A batch that
    /// could not be prepared throws its error.
    public func nextBatch() throws(DataError) -> Batch? { try queue.next() }

    /// Sequence conformance; a failed batch ends the sequence (use `nextBatch()` to see why).
    public func next() -> Batch? { try? queue.next() }

    /// Asks the workers to finish and waits until they have.
    public func stop() { queue.stop() }
}

/// The workers' shared state: which batch to make next, the finished ones, and the stop flag.
/// Workers hold this, not the stream, so that releasing the stream stops them.
private final class BatchQueue: @unchecked Sendable {
    private let loader: DataLoader
    private let epoch: Int
    private let order: [Int]
    private let end: Int
    private let condition = NSCondition()
    // Guarded by `condition`:
    private var nextToClaim: Int
    private var nextToReturn: Int
    private var ready: [Int: Result<Batch, DataError>] = [:]
    private var stopped = false
    private var running = 0

    init(loader: DataLoader, epoch: Int, first: Int) {
        self.loader = loader
        self.epoch = epoch
        order = loader.order(epoch: epoch)
        end = loader.batchesPerEpoch
        nextToClaim = first
        nextToReturn = first
        running = loader.workers
        for _ in 0..<loader.workers {
            let thread = Thread { [self] in work() }
            thread.name = "alexnet.loader"
            thread.start()
        }
    }

    private func work() {
        while true {
            condition.lock()
            while !stopped && nextToClaim < end && nextToClaim - nextToReturn >= loader.prefetch { condition.wait() }
            guard !stopped && nextToClaim < end else {
                running -= 1
                condition.broadcast()
                condition.unlock()
                return
            }
            let index = nextToClaim
            nextToClaim += 1
            condition.unlock()
            let result: Result<Batch, DataError>
            do throws(DataError) {
                result = .success(try loader.batch(epoch: epoch, index: index, order: order))
            } catch {
                result = .failure(error)
            }
            condition.lock()
            ready[index] = result
            condition.broadcast()
            condition.unlock()
        }
    }

    func next() throws(DataError) -> Batch? {
        condition.lock()
        defer { condition.unlock() }
        guard !stopped && nextToReturn < end else { return nil }
        while ready[nextToReturn] == nil { condition.wait() }
        let result = ready.removeValue(forKey: nextToReturn)!
        nextToReturn += 1
        condition.broadcast()
        return try result.get()
    }

    func stop() {
        condition.lock()
        stopped = true
        condition.broadcast()
        while running > 0 { condition.wait() }
        condition.unlock()
    }
}

/// The examples a loader skipped, shared by its worker threads.
private final class SkipLog: @unchecked Sendable {
    private let lock = NSLock()
    private var reasons: [Int: String] = [:]

    func record(_ example: Int, _ reason: String) { lock.withLock { reasons[example] = reasons[example] ?? reason } }

    var entries: [(example: Int, reason: String)] {
        lock.withLock { reasons.sorted { $0.key < $1.key }.map { (example: $0.key, reason: $0.value) } }
    }
}

/// Batch-sized arrays given back by the consumer, for the workers to fill again. An array still
/// shared with the consumer is copied on write, as any Swift array is, so reuse is always safe.
private final class BatchPool: @unchecked Sendable {
    private let lock = NSLock()
    private var arrays: [[Float]] = []

    func take() -> [Float]? { lock.withLock { arrays.popLast() } }

    func put(_ array: [Float], keeping limit: Int) {
        lock.withLock { if arrays.count < limit { arrays.append(array) } }
    }
}
