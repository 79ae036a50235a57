import Foundation
import Recipe
import Schedulers
import Torch

/// What one optimizer step reports to the loop.
struct StepResult {
    /// The global batch's loss (averaged over ranks).
    let loss: Double
    let lr: Double
    /// Before clipping.
    let gradNorm: Double
    /// Ctrl-C or SIGTERM reached some rank during the step.
    let stopRequested: Bool
}

extension Trainer {
    /// The shuffled order of `epoch`: a permutation drawn from its own generator, seeded by the run's seed and the
    /// epoch, so a resumed run rebuilds it without replaying the random stream.
    func epochOrder(_ epoch: Int) throws -> [Int64] {
        let g = try Generator(seed: UInt64(config.run.seed) &+ UInt64(epoch) &* 1_000_003)
        return try Tensor.randperm(data.count, generator: g).toArray(Int64.self)
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

    /// One optimizer step: the micro-batches' forward and backward passes, the gradient average across ranks,
    /// clipping, AdamW and EMA. Stops with the last good checkpoint named when the loss or gradients are not finite.
    func optimizerStep() throws -> StepResult {
        let accumulation = config.training.gradientAccumulationSteps
        let params = optimizer.parameters.map(\.1)
        let lr = config.optimizer.learningRate * schedule.multiplier(at: state.step)
        optimizer.lr = lr
        var stepLoss = 0.0
        for _ in 0..<accumulation {
            let loss = try microBatchLoss() / Double(accumulation)
            try (scaler?.scaled(loss) ?? loss).backward()
            stepLoss += try loss.item()
        }
        // Ranks agree on the loss (their mean, the global batch's loss) and on whether to stop, so that a NaN
        // or Ctrl-C seen by one rank stops all of them at the same step.
        var stopRequested = Interrupt.isRequested
        if let parallel {
            try parallel.averageGradients(params)
            let agreed = try parallel.mean(try Tensor([stepLoss, stopRequested ? 1 : 0])).to(.cpu).toArray(Double.self)
            stepLoss = agreed[0]
            stopRequested = agreed[1] > 0
        }
        // fp16: an overflow in the forward pass is the scaler's to handle (the step is skipped, the scale backs off).
        guard stepLoss.isFinite || scaler != nil else {
            throw TrainingError("loss became \(stepLoss.isNaN ? "NaN" : "\(stepLoss)") at step \(state.step + 1); training stopped. "
                + lastGoodCheckpoint())
        }
        // fp16: unscale before clipping; an overflowed step is skipped and the scale backs off.
        let overflow = try scaler?.unscale(params) ?? false
        let gradNorm = try config.optimizer.maxGradNorm.map { try clipGradNorm(params, maxNorm: $0) }
            ?? clipGradNorm(params, maxNorm: .infinity)  // measures the norm, scales by 1
        // A finite loss can still hide a NaN gradient (0 × inf in backward); stepping on it would poison the
        // weights, and the next checkpoint with them. fp16 runs leave this to the scaler (an overflowed step).
        guard gradNorm.isFinite || scaler != nil else {
            throw TrainingError("the gradient norm became \(gradNorm.isNaN ? "NaN" : "\(gradNorm)") at step \(state.step + 1) (loss \(stepLoss)); "
                + "training stopped before the weights were changed. " + lastGoodCheckpoint())
        }
        if !overflow { try optimizer.step() }
        scaler?.update(foundInf: overflow)
        optimizer.zeroGrad()
        state.step += 1
        try ema?.update(step: state.step)
        state.loss = stepLoss
        return StepResult(loss: stepLoss, lr: lr, gradNorm: gradNorm, stopRequested: stopRequested)
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
