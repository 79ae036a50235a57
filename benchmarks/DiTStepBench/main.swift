import Foundation
import Models
import Torch

// One training step of a library model on the weights in `--model DIR` (a diffusers directory the Python driver
// writes), answering each "step" line on stdin with "<seconds> <loss>" so that the driver can alternate it with
// diffusers' model in one run, "memory" with "<peak allocated bytes> <peak reserved bytes>", and "count" with
// "<ATen ops> <host syncs>" of one more step (OpRecorder.count; the driver counts PyTorch's the same way).
// The step is the trainer's: forward, backward, gradient clipping at norm 1 (multi-tensor), fused AdamW, an EMA
// (one multi-tensor lerp) and the loss summed on the device; the loss is read after the clock stops.
//   --kind dit     DiTTransformer2DModel, class-conditional: 32×32×3 pixels, 10 classes (bench_dit_step.py)
//   --kind pixart  PixArtTransformer2DModel, text-conditional: latents from the model's config and random caption
//                  features [B, --caption-length, caption_channels] (bench_seed_gpu.py, the seed config)
// `--precision bf16` runs the forward pass under autocast, as `mixed_precision: bf16` does in training.
//
// Launched with torchrun's variables (WORLD_SIZE > 1, RANK, MASTER_ADDR, MASTER_PORT; benchmarks/bench_ddp.py sets
// them) it trains data-parallel over c10d Gloo like `dit train`: every rank draws the global batch and takes its
// slice, gradients are averaged by DataParallel, and each rank answers with its own time and loss.

let args = CommandLine.arguments
func option(_ name: String) -> String? { args.firstIndex(of: name).flatMap { $0 + 1 < args.count ? args[$0 + 1] : nil } }
let worker = args.contains("--worker")
let seed = UInt64(option("--seed").flatMap(Int.init) ?? 0)
let batch = option("--batch").flatMap(Int.init) ?? 32
let deviceName = option("--device") ?? "cpu"
let modelDirectory = option("--model")
let kind = option("--kind") ?? "dit"
let precision = option("--precision") ?? "fp32"
let captionLength = option("--caption-length").flatMap(Int.init) ?? 64

/// Unbuffered line to stdout (the driver waits for each answer).
func emit(_ line: String) { FileHandle.standardOutput.write(Data((line + "\n").utf8)) }

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("dit-bench: \(message)\n".utf8))
    exit(1)
}

do {
    guard let device = Device(name: deviceName) else { fail("unknown device '\(deviceName)'") }
    guard let modelDirectory else { fail("--model DIR (a diffusers model directory) is required") }
    guard ["dit", "pixart"].contains(kind), ["fp32", "bf16"].contains(precision) else {
        fail("--kind is dit or pixart, --precision fp32 or bf16")
    }
    let directory = URL(fileURLWithPath: modelDirectory)
    // Eval mode keeps class labels (no random drop to the null class), so both sides compute the same step.
    let dit = kind == "dit" ? try DiTTransformer2DModel.load(from: directory, device: device) : nil
    let pixArt = kind == "pixart" ? try PixArtTransformer2DModel.load(from: directory, device: device) : nil
    let model: Module = dit ?? pixArt!
    let env = ProcessInfo.processInfo.environment
    let world = env["WORLD_SIZE"].flatMap(Int.init) ?? 1, rank = env["RANK"].flatMap(Int.init) ?? 0
    var parallel: DataParallel?
    if world > 1 {
        guard let address = env["MASTER_ADDR"], let port = env["MASTER_PORT"].flatMap(Int.init) else {
            fail("WORLD_SIZE > 1 needs MASTER_ADDR and MASTER_PORT")
        }
        guard batch % world == 0 else { fail("--batch \(batch) does not split over \(world) processes") }
        let group = try ProcessGroup(masterAddress: address, masterPort: port, rank: rank, worldSize: world,
                                     backend: .gloo, timeout: 300)
        parallel = DataParallel(group: group)
        try parallel?.broadcast(model.stateDict().map(\.1))
    }
    let rows = rank * batch / world..<(rank + 1) * batch / world
    let local = { (t: Tensor) throws -> Tensor in world == 1 ? t : try t.slice(dim: 0, start: rows.lowerBound, end: rows.upperBound) }
    manualSeed(seed)
    let optimizer = try AdamW(model, lr: 1e-4, weightDecay: 0)
    let ema = try EMA(model, decay: 0.9999)
    let lossSum = try Tensor.zeros([], dtype: .float64, device: device)
    var steps = 0
    // Linear β schedule of DDPM; the step draws data, timesteps, labels and noise in the Python script's order.
    let betas = try Tensor.linspace(1e-4, 0.02, steps: 1000, dtype: .float64)
    let alphasCumprod = try (1 - betas).log().cumsum(dim: 0).exp().to(device, .float32)

    /// The loss of one global batch's slice, drawn in the Python drivers' order.
    func loss() throws -> Tensor {
        if let dit {
            let x0 = try local(Tensor.randn([batch, 3, 32, 32], device: device))
            let y = try local(Tensor.randint(0, 10, [batch], device: device))
            let t = try local(Tensor.randint(0, 1000, [batch], device: device))
            let noise = try local(Tensor.randn([batch, 3, 32, 32], device: device))
            let ab = try alphasCumprod.indexSelect(dim: 0, index: t).reshaped(rows.count, 1, 1, 1)
            let xt = try ab.sqrt() * x0 + (1 - ab).sqrt() * noise
            return try F.mseLoss(try dit(xt, timestep: t, classLabels: y), noise)
        }
        let c = pixArt!.config
        let shape = [batch, c.inChannels, c.sampleSize, c.sampleSize]
        let x0 = try local(Tensor.randn(shape, device: device))
        let caption = try local(Tensor.randn([batch, captionLength, c.captionChannels ?? 0], device: device))
        let t = try local(Tensor.randint(0, 1000, [batch], device: device))
        let noise = try local(Tensor.randn(shape, device: device))
        let ab = try alphasCumprod.indexSelect(dim: 0, index: t).reshaped(rows.count, 1, 1, 1)
        let xt = try ab.sqrt() * x0 + (1 - ab).sqrt() * noise
        let mask = try Tensor.ones([rows.count, captionLength], dtype: .int64, device: device)
        var pred = try pixArt!(xt, encoderHiddenStates: caption, timestep: t, encoderAttentionMask: mask)
        if pred.size(1) != c.inChannels { pred = try pred.slice(dim: 1, start: 0, end: c.inChannels) }
        return try F.mseLoss(pred.to(.float32), noise)
    }

    /// The step as the trainer takes it: nothing in it waits for the device.
    func step() throws -> Tensor {
        let l = precision == "bf16" ? try withAutocast(device: device, dtype: .bfloat16, loss) : try loss()
        optimizer.zeroGrad()
        try l.backward()
        try parallel?.averageGradients(model.parameters())
        try clipGradNorm_(model.parameters(), maxNorm: 1)
        try optimizer.step()
        steps += 1
        try ema.update(step: steps)
        let value = try l.detach()
        try lossSum.add_(value)
        return value
    }

    func trainStep() throws -> (Double, Double) {
        let start = DispatchTime.now().uptimeNanoseconds
        let l = try step()
        try Runtime.synchronize(device)  // the clock stops when the device has finished
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        return (seconds, try l.item())
    }

    if worker {
        emit("ready \(model.parameterCount)")
        while let line = readLine() {
            if line == "quit" { break }
            if line == "count" {
                let counted = try OpRecorder.count { _ = try step() }.count
                emit("\(counted.ops) \(counted.syncs)")
                if counted.syncs > 0 { FileHandle.standardError.write(Data("dit-bench: syncs: \(counted.syncSummary)\n".utf8)) }
                continue
            }
            if line == "memory" {
                let m = try Runtime.memory(on: device)
                emit("\(m.peakAllocated) \(m.peakReserved)")
                continue
            }
            let (seconds, loss) = try trainStep()
            emit(String(format: "%.6f %.8f", seconds, loss))
        }
    } else {
        print("\(kind) \(model.parameterCount) parameters, batch \(batch), \(device), \(precision), \(Runtime.threads) threads")
        for i in 1...5 {
            let (s, l) = try trainStep()
            print(String(format: "step %d  %.3f s  loss %.6f", i, s, l))
        }
    }
} catch {
    fail("\(error)")
}
