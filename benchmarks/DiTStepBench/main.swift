import Foundation
import Models
import Torch

// One training step of the library's class-conditional DiT (DiTTransformer2DModel: 32×32×3 pixels, patch 2, hidden
// 256, 6 blocks, 4 heads, 10 classes, batch 32, AdamW, float32) on the weights in `--model DIR` (a diffusers
// directory that benchmarks/bench_dit_step.py writes). `dit-bench --worker` answers each "step" line on stdin with
// "<seconds> <loss>", so that the script can alternate it with diffusers' model in one run.
//
// Launched with torchrun's variables (WORLD_SIZE > 1, RANK, MASTER_ADDR, MASTER_PORT; benchmarks/bench_ddp.py sets
// them) it trains data-parallel over c10d Gloo like `dit train`: every rank draws the global batch and takes its
// slice, gradients are averaged by DataParallel, and each rank answers with its own time and loss.

let args = CommandLine.arguments
let worker = args.contains("--worker")
let seed = UInt64(args.firstIndex(of: "--seed").flatMap { Int(args[$0 + 1]) } ?? 0)
let batch = args.firstIndex(of: "--batch").flatMap { Int(args[$0 + 1]) } ?? 32
let deviceName = args.firstIndex(of: "--device").map { args[$0 + 1] } ?? "cpu"
let modelDirectory = args.firstIndex(of: "--model").map { args[$0 + 1] }

/// Unbuffered line to stdout (the driver waits for each answer).
func emit(_ line: String) { FileHandle.standardOutput.write(Data((line + "\n").utf8)) }

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("dit-bench: \(message)\n".utf8))
    exit(1)
}

do {
    guard let device = Device(name: deviceName) else { fail("unknown device '\(deviceName)'") }
    guard let modelDirectory else { fail("--model DIR (a diffusers DiTTransformer2DModel directory) is required") }
    // Eval mode keeps class labels (no random drop to the null class), so both sides compute the same step.
    let model = try DiTTransformer2DModel.load(from: URL(fileURLWithPath: modelDirectory), device: device)
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
    // Linear β schedule of DDPM; the step draws data, timesteps, labels and noise in the Python script's order.
    let betas = try Tensor.linspace(1e-4, 0.02, steps: 1000, dtype: .float64)
    let alphasCumprod = try (1 - betas).log().cumsum(dim: 0).exp().to(device, .float32)

    func trainStep() throws -> (Double, Double) {
        let start = DispatchTime.now().uptimeNanoseconds
        let x0 = try local(Tensor.randn([batch, 3, 32, 32], device: device))
        let y = try local(Tensor.randint(0, 10, [batch], device: device))
        let t = try local(Tensor.randint(0, 1000, [batch], device: device))
        let noise = try local(Tensor.randn([batch, 3, 32, 32], device: device))
        let ab = try alphasCumprod.indexSelect(dim: 0, index: t).reshaped(rows.count, 1, 1, 1)
        let xt = try ab.sqrt() * x0 + (1 - ab).sqrt() * noise
        let loss = try F.mseLoss(try model(xt, timestep: t, classLabels: y), noise)
        optimizer.zeroGrad()
        try loss.backward()
        try parallel?.averageGradients(model.parameters())
        try optimizer.step()
        let value = try loss.item()
        return (Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9, value)
    }

    if worker {
        emit("ready \(model.parameterCount)")
        while let line = readLine() {
            if line == "quit" { break }
            let (seconds, loss) = try trainStep()
            emit(String(format: "%.6f %.8f", seconds, loss))
        }
    } else {
        print("DiT \(model.parameterCount) parameters, batch \(batch), \(device), \(Runtime.threads) threads")
        for i in 1...5 {
            let (s, l) = try trainStep()
            print(String(format: "step %d  %.3f s  loss %.6f", i, s, l))
        }
    }
} catch {
    fail("\(error)")
}
