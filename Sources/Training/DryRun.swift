import Foundation
import Torch

/// `dit train --dry-run`: what a config costs before a long run — parameter counts, and the peak tensor memory and
/// time per step measured over a few real optimizer steps (nothing is written).
public struct DryRunReport: Sendable {
    public let ditParameters: Int
    public let textEncoderParameters: Int?
    public let trainableParameters: Int
    public let steps: Int
    public let secondsPerStep: Double
    /// Bytes of live tensors at most, and (CUDA) the most the caching allocator held.
    public let peakAllocated: Int
    public let peakReserved: Int
    public let device: Device
    /// What one optimizer step costs the host, counted on a plain step and on a report step (logging, checkpoint).
    public let plainStep: OpRecorder.Count
    public let reportStep: OpRecorder.Count

    /// The report as `dit train --dry-run` prints it; `budget` is the card size it is compared with.
    public func lines(budget: Double = 24) -> [String] {
        let gib = { (b: Int) in
            b >= 1 << 30 ? String(format: "%.2f GiB", Double(b) / Double(1 << 30)) : String(format: "%.1f MiB", Double(b) / Double(1 << 20))
        }
        let millions = { (n: Int) in String(format: "%.2f M", Double(n) / 1e6) }
        var out = ["DiT parameters          \(millions(ditParameters))"]
        if let textEncoderParameters { out.append("text encoder parameters \(millions(textEncoderParameters))") }
        out.append("trained parameters      \(millions(trainableParameters))")
        out.append("peak tensor memory      \(gib(peakAllocated)) on \(device)"
            + (peakReserved > peakAllocated ? " (\(gib(peakReserved)) reserved by the caching allocator)" : "")
            + " over \(steps) steps")
        out.append(String(format: "time per step           %.3f s (after the first)", secondsPerStep))
        out.append("host syncs per step     \(plainStep.syncs) (a logging or checkpoint step: \(reportStep.syncs))")
        out.append("ATen ops per step       \(plainStep.ops) (a logging or checkpoint step: \(reportStep.ops))")
        if plainStep.syncs > 0 {
            out.append("  where the step waits: " + plainStep.syncSummary)
        }
        let fits = Double(max(peakAllocated, peakReserved)) / Double(1 << 30) <= budget * 0.9
        out.append(String(format: "fits a %.0f GB card:      %@", budget, fits ? "yes" : "no: lower training.batch_size (raise "
            + "gradient_accumulation_steps to keep the effective batch) or use mixed_precision"))
        return out
    }
}

extension Trainer {
    /// Trains `steps` optimizer steps of this config (at least 2) in memory and measures them; the run directory is
    /// not touched. The first step is not timed (it allocates the optimizer state and warms the kernels). Two more
    /// steps are counted, op by op: a plain one and a report step, which reads the loss and gradient norm back.
    public func dryRun(steps: Int = 3) throws -> DryRunReport {
        let steps = max(2, steps)
        try Runtime.resetPeakMemory(on: device)
        var seconds: [Double] = []
        for _ in 0..<steps {
            let start = DispatchTime.now().uptimeNanoseconds
            _ = try optimizerStep(report: false)
            try Runtime.synchronize(device)
            seconds.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
        }
        let memory = try Runtime.memory(on: device)
        let plain = try OpRecorder.count { try optimizerStep(report: false) }.count
        let report = try OpRecorder.count { try optimizerStep(report: true) }.count
        return DryRunReport(ditParameters: models.transformer.parameterCount,
                            textEncoderParameters: models.textEncoder?.parameterCount,
                            trainableParameters: optimizer.parameters.reduce(0) { $0 + $1.1.count },
                            steps: steps, secondsPerStep: seconds.dropFirst().reduce(0, +) / Double(steps - 1),
                            peakAllocated: memory.peakAllocated, peakReserved: memory.peakReserved, device: device,
                            plainStep: plain, reportStep: report)
    }
}
