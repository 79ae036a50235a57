@testable import Core
@testable import Schedulers
import Foundation
import TestSupport
import Testing
import Torch

let schedulerCases = (try? FileManager.default.contentsOfDirectory(
    atPath: fixturesDirectory.appendingPathComponent("schedulers").path))?.sorted() ?? []

@Suite("Schedulers vs diffusers", .serialized)
struct SchedulerTests {
    @Test func fixturesArePresent() { #expect(schedulerCases.count >= 25) }

    @Test(arguments: schedulerCases)
    func matchesDiffusers(_ name: String) throws {
        let dir = fixturesDirectory.appendingPathComponent("schedulers/\(name)")
        let file = try SafeTensorsFile(dir.appendingPathComponent("data.safetensors").path)
        let t = try file.loadAll(device: .cpu)
        // The fixtures' numbers come from the CPU that ran python/make_scheduler_fixtures.py. Integer tables must be
        // equal anywhere; float tables are bit-exact on that CPU, but libm's vector paths differ between CPUs by a few
        // float32 ulps, which zero-SNR's rescaling (a difference of square roots) magnifies to 2e-6 in the betas
        // (diffusers itself differs from the fixtures by that much on another CPU).
        func exact(_ a: Tensor, _ key: String) throws {
            let ref = try #require(t[key], "\(key) missing")
            #expect(a.shape == ref.shape, "\(name) \(key): shape \(a.shape) vs \(ref.shape)")
            if a.dtype.isFloatingPoint {
                #expect(try maxAbsDiff(a, ref) <= 3e-6, "\(name) \(key) differs")
            } else {
                #expect(try a.to(.float64).doubles() == ref.to(.float64).doubles(), "\(name) \(key) differs")
            }
        }
        // Steps: 1e-6 relative to the sample's scale (DPM's samples reach 400). A step that draws noise (DDPM, DDIM
        // with eta > 0, SDE solvers) also depends on torch's randn, whose vectorised Box-Muller differs between CPUs.
        let config = try jsonObject(dir.appendingPathComponent("scheduler_config.json"))
        let drawsNoise = config["_class_name"] == .string("DDPMScheduler")
            || Double(file.metadata["eta"] ?? "0").map { $0 > 0 } ?? false
            || config["algorithm_type"] == .string("sde-dpmsolver++") || config["stochastic_sampling"] == .bool(true)
        func close(_ a: Tensor, _ key: String) throws {
            let ref = try #require(t[key], "\(key) missing")
            let d = try maxAbsDiff(a, ref), scale = max(1, try ref.abs().max().item())
            #expect(d <= (drawsNoise ? 1e-3 : 1e-6) * scale, "\(name) \(key): max abs diff \(d)")
        }
        let scheduler = try SchedulerFactory.load(from: dir)
        let steps = Int(file.metadata["steps"]!)!
        if let ddpm = scheduler as? DDPMScheduler {
            try exact(ddpm.betas, "betas")
            try exact(ddpm.alphasCumprod, "alphas_cumprod")
        } else if let ddim = scheduler as? DDIMScheduler {
            try exact(ddim.betas, "betas")
            try exact(ddim.alphasCumprod, "alphas_cumprod")
            ddim.eta = Double(file.metadata["eta"]!)!
        } else if let dpm = scheduler as? DPMSolverMultistepScheduler {
            try exact(dpm.betas, "betas")
            try exact(dpm.alphasCumprod, "alphas_cumprod")
        }
        if let flow = scheduler as? FlowMatchEulerDiscreteScheduler {
            try exact(flow.sigmas, "train_sigmas")
            try exact(flow.timesteps, "train_timesteps")
            try flow.setTimesteps(steps, mu: Double(file.metadata["mu"] ?? ""))
            try exact(flow.sigmas, "sigmas")
        } else {
            try scheduler.setTimesteps(steps)
        }
        try exact(scheduler.timesteps, "timesteps")
        #expect(scheduler.timesteps.dtype == t["timesteps"]!.dtype)

        var sample = try t.tensor("sample0")
        let generator = try Generator(seed: 7)
        for (i, ts) in scheduler.timestepValues.enumerated() {
            let out = try scheduler.step(try t.tensor("model_output.\(i)"), timestep: ts, sample: sample,
                                         generator: generator)
            try close(out.prevSample, "prev_sample.\(i)")
            // diffusers returns x̂₀ from DDPM and DDIM only; DiTKit's DPM-Solver and Euler give theirs too (for
            // dit explain trajectory), with no reference to compare with.
            if let x0 = out.predOriginalSample, t["pred_original_sample.\(i)"] != nil {
                try close(x0, "pred_original_sample.\(i)")
            }
            sample = try t.tensor("prev_sample.\(i)")  // no drift: each step starts from the reference
        }
        let x0 = try t.tensor("x0"), noise = try t.tensor("noise"), picked = try t.tensor("noise_timesteps")
        if let flow = scheduler as? FlowMatchEulerDiscreteScheduler {
            try close(try flow.scaleNoise(x0, timesteps: picked, noise: noise), "noisy")
        } else {
            try close(try scheduler.addNoise(x0, noise: noise, timesteps: picked), "noisy")
        }
        if let ddpm = scheduler as? DDPMScheduler {
            try close(try ddpm.velocity(sample: x0, noise: noise, timesteps: picked), "velocity")
        }
    }

    @Test func configRoundTripAndErrors() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        for name in schedulerCases {
            let original = try SchedulerFactory.load(from: fixturesDirectory.appendingPathComponent("schedulers/\(name)"))
            try original.save(to: dir)
            let again = try SchedulerFactory.load(from: dir)
            #expect(type(of: again) == type(of: original))
            if let a = original as? FlowMatchEulerDiscreteScheduler, let b = again as? FlowMatchEulerDiscreteScheduler {
                try a.setTimesteps(5, mu: 0.7)
                try b.setTimesteps(5, mu: 0.7)
            } else {
                try original.setTimesteps(5)
                try again.setTimesteps(5)
            }
            #expect(try original.timesteps.to(.float64).doubles() == again.timesteps.to(.float64).doubles(), "\(name)")
        }
        func error(_ json: String) -> String {
            let file = dir.appendingPathComponent("bad.json")
            return errorText {
                try Data(json.utf8).write(to: file)
                return try SchedulerFactory.load(from: file)
            }
        }
        #expect(error(#"{"_class_name": "PNDMScheduler"}"#).contains("'PNDMScheduler' is not supported"))
        #expect(error(#"{"beta_schedule": "linear"}"#).contains("_class_name: missing"))
        #expect(error(#"{"_class_name": "DDPMScheduler", "beta_schedule": "exp"}"#).contains("beta_schedule: 'exp'"))
        #expect(error(#"{"_class_name": "DDIMScheduler", "prediction_type": "flow"}"#).contains("prediction_type"))
        #expect(error(#"{"_class_name": "DDIMScheduler", "num_train_timesteps": "1000"}"#).contains("expected an integer"))
        #expect(error(#"{"_class_name": "FlowMatchEulerDiscreteScheduler", "shift": -1}"#).contains("shift: must be > 0"))
        #expect(error(#"{"_class_name": "FlowMatchEulerDiscreteScheduler", "use_beta_sigmas": true}"#).contains("use_beta_sigmas"))
        #expect(error(#"{"_class_name": "DDPMScheduler", "trained_betas": [0.1]}"#).contains("trained_betas"))
        let ddim = try DDIMScheduler()
        #expect(throws: SchedulerError.self) { try ddim.setTimesteps(2000) }
        #expect(throws: SchedulerError.self) { try ddim.setTimesteps(0) }
    }

    @Test func trainingTargets() throws {
        let x0 = try Tensor.randn([2, 3, 4, 4]), noise = try Tensor.randn([2, 3, 4, 4])
        let ts = try Tensor([10, 900] as [Int64], shape: [2])
        let ddpm = try DDPMScheduler()
        #expect(try maxAbsDiff(ddpm.trainingTarget(sample: x0, noise: noise, timesteps: ts), noise) == 0)
        // v-prediction: x0 = √ᾱ·x_t − √(1−ᾱ)·v recovers the clean sample.
        var vConfig = DDPMFamilyConfig()
        vConfig.predictionType = .vPrediction
        let vSched = try DDPMScheduler(vConfig)
        let xt = try vSched.addNoise(x0, noise: noise, timesteps: ts)
        let v = try vSched.trainingTarget(sample: x0, noise: noise, timesteps: ts)
        let ab = try vSched.alphasCumprod.indexSelect(dim: 0, index: ts).reshaped(2, 1, 1, 1)
        #expect(try maxAbsDiff(ab.sqrt() * xt - (1 - ab).sqrt() * v, x0) < 1e-5)
        // Rectified flow: x_t = (1−σ)x0 + σε and one Euler step with the true velocity from σ to 0 lands on x0.
        let flow = try FlowMatchEulerDiscreteScheduler()
        let sigmaT = try Tensor([250.0, 750.0] as [Float], shape: [2])
        let xs = try flow.addNoise(x0, noise: noise, timesteps: sigmaT)
        let velocity = try flow.trainingTarget(sample: x0, noise: noise, timesteps: sigmaT)
        let sigma = try (sigmaT / 1000).reshaped(2, 1, 1, 1)
        #expect(try maxAbsDiff(xs - sigma * velocity, x0) < 1e-5)
    }
}
