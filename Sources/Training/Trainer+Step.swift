import Foundation
import Recipe
import Schedulers
import Torch

/// What one optimizer step leaves behind. The values stay on the device; the host reads them only on a report step
/// (logging, checkpoint, sample grid, last step, a stop), all in one read: every other step never waits for the GPU.
struct StepResult {
    let lr: Double
    /// What the host read, on a report step (nil on the others).
    let report: StepReport?
    /// Ctrl-C or SIGTERM reached this process (alone) or some rank (agreed on a report step).
    let stopRequested: Bool
}

/// One host read of a step's values: the global batch's loss (averaged over ranks), the gradient norm before clipping,
/// and what accumulated on the device since the last report.
struct StepReport {
    let loss: Double
    /// nil when it was not measured (no clipping and a report asked for after the step).
    let gradNorm: Double?
    /// The summed loss of every step since the last report: not finite when one of them was not.
    let intervalLoss: Double
    /// Updates skipped on the device by the steps since the last report, this one not included (fp16 overflows;
    /// non-finite gradients when clipping).
    let skippedSteps: Int
    /// fp16: the loss scale this step used.
    let lossScale: Double?
}

/// Running totals on the device between two reports.
final class StepAccumulators {
    /// float64 sums: the losses and the skipped updates since the last report.
    let lossSum: Tensor, skipped: Tensor
    /// The first step of the interval (for messages that name where something went wrong).
    var firstStep: Int

    init(device: Device, firstStep: Int) throws {
        lossSum = try Tensor.zeros([], dtype: .float64, device: device)
        skipped = try Tensor.zeros([], dtype: .float64, device: device)
        self.firstStep = firstStep
    }
}

extension Trainer {
    /// The shuffled order of `epoch`: a permutation drawn from its own generator, seeded by the run's seed and the
    /// epoch, so a resumed run rebuilds it without replaying the random stream.
    func epochOrder(_ epoch: Int) throws -> [Int64] {
        let g = try Generator(seed: UInt64(config.run.seed) &+ UInt64(epoch) &* 1_000_003)
        // Drawn and read on the host (its own CPU generator): no wait for the device, on any device.
        return try OpRecorder.hostData { try Tensor.randperm(data.count, generator: g).toArray(Int64.self) }
    }

    func ensureOrder() throws {
        if order.isEmpty || state.position + config.training.batchSize > order.count {
            if !order.isEmpty { state.epoch += 1; state.position = 0 }
            order = try epochOrder(state.epoch)
        }
    }

    /// The global batch's indices (the same on every rank).
    func nextIndices() throws -> [Int64] {
        try ensureOrder()
        let b = min(config.training.batchSize, data.count)
        let slice = Array(order[state.position..<(state.position + b)])
        state.position += b
        return slice
    }

    /// This rank's rows of a global batch: rank r of w takes the r-th of w equal parts.
    func localRows(of globalBatch: Int) -> Range<Int> {
        let per = globalBatch / distributed.worldSize
        return distributed.rank * per..<(distributed.rank + 1) * per
    }

    /// One optimizer step: the micro-batches' forward and backward passes, the gradient average across ranks, and
    /// the tail — fp16 unscaling with its overflow check, clipping, AdamW and EMA — in multi-tensor kernels on the
    /// device. Nothing is read back unless `report`: then the loss, the gradient norm and the interval's totals come
    /// back in one read, before the weights change, and a non-finite loss or gradient stops the run there with the
    /// last good checkpoint named. Between reports, a non-finite gradient (when clipping) or an fp16 overflow skips
    /// the update on the device, and the next report says so.
    func optimizerStep(report asked: Bool) throws -> StepResult {
        let accumulation = config.training.gradientAccumulationSteps
        let params = optimizer.parameters.map(\.1)
        let lr = config.optimizer.learningRate * schedule.multiplier(at: state.step)
        optimizer.lr = lr
        if accumulators == nil { accumulators = try StepAccumulators(device: device, firstStep: state.step + 1) }
        let totals = accumulators!
        var stepLoss: Tensor?
        for _ in 0..<accumulation {
            let loss = try microBatchLoss() / Double(accumulation)
            try (scaler?.scaled(loss) ?? loss).backward()
            let value = try loss.detach()
            stepLoss = try stepLoss.map { try $0 + value } ?? value
        }
        try totals.lossSum.add_(stepLoss!)
        if let parallel { try parallel.averageGradients(params) }
        var stopRequested = Interrupt.isRequested
        // Alone, a stop makes this a report step: the checkpoint it leads to needs the step's loss.
        let report = asked || (parallel == nil && stopRequested)
        // fp16: unscale, and learn on the device whether the gradients overflowed.
        var foundInf = try scaler?.unscale(params)
        var gradNorm: Tensor?
        if let maxNorm = config.optimizer.maxGradNorm {
            gradNorm = try clipGradNorm_(params, maxNorm: maxNorm)
            // A finite loss can hide a NaN gradient (0 × inf in backward); stepping on it would poison the weights.
            // The norm already says so: the update is skipped on the device, and the next report stops the run.
            if foundInf == nil, let gradNorm { foundInf = try gradNorm.isFinite().logicalNot().to(.float32) }
        } else if report {
            gradNorm = try gradientNorm(params)
        }
        var read: StepReport?
        if report {
            (read, stopRequested) = try readReport(loss: stepLoss!, gradNorm: gradNorm, stopRequested: stopRequested)
            try check(read!, totals: totals)
            state.loss = read!.loss
            try totals.lossSum.zero_()
            try totals.skipped.zero_()
            totals.firstStep = state.step + 2
        } else if parallel != nil {
            // Ranks agree on stopping at a report step, so that all stop at the same one.
            stopRequested = false
        }
        // Counted after the report: a report names this step's own non-finite gradient by its norm.
        if let foundInf { try totals.skipped.add_(foundInf) }
        try optimizer.step(foundInf: foundInf)
        if let foundInf { try scaler?.update(foundInf: foundInf) }
        optimizer.zeroGrad()
        state.step += 1
        try ema?.update(step: state.step)
        return StepResult(lr: lr, report: read, stopRequested: stopRequested)
    }

    /// The step's values and the interval's totals in one read from the device (one host synchronisation), averaged
    /// over ranks with the stop flags in the same collective.
    func readReport(loss: Tensor, gradNorm: Tensor?, stopRequested: Bool) throws -> (StepReport, Bool) {
        let totals = accumulators!
        let nan = try Tensor.full([], .nan, dtype: .float64, device: device)
        let values = [try loss.to(.float64), try gradNorm?.to(.float64) ?? nan, totals.lossSum, totals.skipped,
                      try scaler?.scaleTensor?.to(.float64) ?? nan,
                      try Tensor.full([], stopRequested ? 1 : 0, dtype: .float64, device: device)]
        var packed = try Tensor.stack(values)
        if let parallel { packed = try parallel.mean(packed) }
        let v = try packed.toArray(Double.self)
        let report = StepReport(loss: v[0], gradNorm: gradNorm == nil ? nil : v[1], intervalLoss: v[2],
                                skippedSteps: Int(v[3].rounded()), lossScale: scaler == nil ? nil : v[4])
        return (report, v[5] > 0)
    }

    /// Stops the run on a non-finite loss or gradient (fp32 and bf16; fp16 leaves overflows to the scaler), before
    /// this step changes the weights, naming the last good checkpoint.
    func check(_ report: StepReport, totals: StepAccumulators) throws {
        guard scaler == nil else { return }
        let step = state.step + 1
        let several = totals.firstStep < step
        let interval = several ? "between steps \(totals.firstStep) and \(step)" : "at step \(step)"
        if !report.intervalLoss.isFinite {
            let value = report.loss.isFinite ? report.intervalLoss : report.loss
            throw TrainingError("loss became \(value.isNaN ? "NaN" : "\(value)") \(interval); training stopped. "
                + lastGoodCheckpoint())
        }
        if report.skippedSteps > 0 {
            // Steps firstStep ..< step, whose updates the device skipped.
            let earlier = totals.firstStep < step - 1 ? "of the steps \(totals.firstStep) to \(step - 1)" : "step \(step - 1)"
            throw TrainingError("the gradients were not finite at \(report.skippedSteps == 1 ? "" : "\(report.skippedSteps) ")"
                + "\(earlier): those updates were skipped, so the weights stayed finite; training stopped at step \(step). "
                + lastGoodCheckpoint())
        }
        if let norm = report.gradNorm, !norm.isFinite {
            throw TrainingError("the gradient norm became \(norm.isNaN ? "NaN" : "\(norm)") at step \(step) (loss \(report.loss)); "
                + "training stopped before the weights were changed. " + lastGoodCheckpoint())
        }
    }

    /// One micro-batch: noise the clean samples, predict, and return the loss against the objective's target.
    /// Randomness is drawn for the global batch and sliced, so each sample's noise, timestep and dropout are the
    /// same whatever the number of ranks.
    func microBatchLoss() throws -> Tensor {
        let indices = try nextIndices()
        let rows = localRows(of: indices.count)
        let local = { (t: Tensor) throws -> Tensor in
            rows.count == indices.count ? t : try t.slice(dim: 0, start: rows.lowerBound, end: rows.upperBound)
        }
        let batch = try data.batch(try Tensor(Array(indices[rows])), device: device,
                                   scalingFactor: latentScale, shiftFactor: latentShift)
        let b = batch.x.size(0)
        var ids = batch.captions.ids, mask = batch.captions.mask, cached = batch.captions.text
        if config.data.captionDropout > 0 {
            // Dropped captions become the empty caption, which classifier-free guidance samples against.
            let drop = try local(Tensor.rand([indices.count], device: device)).lt(config.data.captionDropout)
            let rows = try drop.reshaped(b, 1)
            ids = try Tensor.where(rows, emptyCaption.ids.expanded([b, ids.size(1)]), ids)
            mask = try Tensor.where(rows, emptyCaption.mask.expanded([b, mask.size(1)]), mask)
            if let c = cached, let emptyText = emptyCaption.text {
                cached = try Tensor.where(drop.reshaped(b, 1, 1), emptyText.expanded([b, c.size(1), c.size(2)]), c)
            }
        }
        let context = try models.captionFeatures(ids: ids, mask: mask, cached: cached)
        var globalShape = batch.x.shape
        globalShape[0] = indices.count
        let noise = try local(Tensor.randn(globalShape, dtype: batch.x.dtype, device: device))
        let t: Tensor
        if config.scheduler.objective == .flow {
            // Logit-normal σ (SD3's default weighting): most samples at middle noise levels, where the layout of
            // the image — what the caption's position and size words decide — is formed.
            t = try local(Tensor.randn([indices.count], device: device)).sigmoid() * Double(config.scheduler.numTrainTimesteps)
        } else {
            t = try local(Tensor.randint(0, config.scheduler.numTrainTimesteps, [indices.count], device: device))
        }
        let xt = try scheduler.addNoise(batch.x, noise: noise, timesteps: t)
        let target = try scheduler.trainingTarget(sample: batch.x, noise: noise, timesteps: t)
        let run = { () throws -> Tensor in
            var pred = try self.models.transformer(xt, encoderHiddenStates: context, timestep: t, encoderAttentionMask: mask)
            if pred.size(1) != batch.x.size(1) { pred = try pred.slice(dim: 1, start: 0, end: batch.x.size(1)) }
            return try F.mseLoss(pred.to(.float32), target)
        }
        switch config.training.mixedPrecision {
        case .no: return try run()
        case .bf16: return try withAutocast(device: device, dtype: .bfloat16, run)
        case .fp16: return try withAutocast(device: device, dtype: .float16, run)
        }
    }
}
