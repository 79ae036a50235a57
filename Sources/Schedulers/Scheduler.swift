import Core
import Foundation
import Torch

/// What the denoiser predicts (diffusers' `prediction_type`); flow models predict a velocity.
public enum PredictionType: String, Codable, Sendable, CaseIterable {
    case epsilon, sample, vPrediction = "v_prediction", flow = "flow"
}

/// One sampler step's result.
public struct SchedulerStepOutput {
    public let prevSample: Tensor
    /// The model's estimate of the clean sample x̂₀ at this step (diffusers' `pred_original_sample`; DiTKit's
    /// DPM-Solver and flow Euler samplers give it too, for `dit explain trajectory`).
    public let predOriginalSample: Tensor?
}

/// A diffusers-compatible noise scheduler: the training-time forward process and the sampler.
public protocol NoiseScheduler: AnyObject {
    /// The scheduler_config.json this scheduler is built from.
    associatedtype Config: HFConfig
    init(_ config: Config) throws
    static var className: String { get }
    /// The name `run.sampler` and `--sampler` choose it by.
    static var samplerName: String { get }
    /// Whether it solves the flow-matching ODE (else the DDPM/DDIM family's process).
    static var solvesFlow: Bool { get }
    var numTrainTimesteps: Int { get }
    var predictionType: PredictionType { get }
    /// Inference timesteps after `setTimesteps` (int64 for DDPM/DDIM, float32 for flow matching).
    var timesteps: Tensor { get }
    var initNoiseSigma: Double { get }
    func setTimesteps(_ numInferenceSteps: Int) throws
    /// One denoising step from `sample` at `timestep` (a value of `timesteps`).
    func step(_ modelOutput: Tensor, timestep: Double, sample: Tensor, generator: Generator?) throws
        -> SchedulerStepOutput
    /// x_t for training: the clean `sample` noised to `timesteps` (one per batch element).
    func addNoise(_ sample: Tensor, noise: Tensor, timesteps: Tensor) throws -> Tensor
    /// What the model should output at `timesteps` for this prediction type.
    func trainingTarget(sample: Tensor, noise: Tensor, timesteps: Tensor) throws -> Tensor
    /// The scheduler_config.json diffusers writes.
    var configJSON: JSONValue { get }
}

extension NoiseScheduler {
    /// The timesteps as numbers, for loops.
    public var timestepValues: [Double] { (try? timesteps.to(.float64).doubles()) ?? [] }

    public func save(to directory: URL) throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try AtomicFile.write(configJSON.serialized(),
                                           to: directory.appendingPathComponent("scheduler_config.json"))
    }
}

/// Broadcasts per-sample values [B] over the remaining dimensions of a [B, ...] tensor.
func broadcastPerSample(_ values: Tensor, like x: Tensor) throws -> Tensor {
    var v = try values.flattened()
    while v.rank < x.rank { v = try v.unsqueezed(-1) }
    return v
}

/// The most training timesteps a scheduler config may ask for: its tables are allocated from this number.
let maxTrainTimesteps = 1 << 20
