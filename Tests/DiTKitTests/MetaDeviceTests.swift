@testable import Core
@testable import Schedulers
import Foundation
import TestSupport
import Testing
import Torch

/// Wrong-device mistakes that only a GPU would reveal, caught on the CPU: the schedulers run on the meta device,
/// where a CPU tensor mixed into the math fails as it would on CUDA. (Models cannot run there: the C++ library has no
/// meta kernels for convolution, embedding or index_select; those live in PyTorch's Python layer.)
@Suite("Schedulers on a non-CPU device (meta)", .serialized)
struct MetaDeviceTests {
    /// Every scheduler's forward process, training target and sampling steps keep their tables where the sample is.
    @Test(arguments: SchedulerFactory.classes.map(\.className))
    func schedulerStepsStayOnTheSamplesDevice(_ className: String) throws {
        let scheduler = try SchedulerFactory.make(className, config: [:], file: "defaults")
        let shape = [2, 4, 8, 8]
        let sample = try Tensor.randn(shape, device: .meta), noise = try Tensor.randn(shape, device: .meta)
        try scheduler.setTimesteps(3)
        // DPM-Solver++ looks each timestep up among its inference timesteps on the host (as diffusers does), so its
        // timesteps come from the CPU; the others take them on the sample's device.
        let timesteps = className == FlowMatchEulerDiscreteScheduler.className
            ? try Tensor.rand([2], device: .meta) * 1000
            : className == DPMSolverMultistepScheduler.className ? try scheduler.timesteps.slice(dim: 0, start: 0, end: 2)
            : try Tensor.randint(0, 1000, [2], device: .meta)
        let noisy = try scheduler.addNoise(sample, noise: noise, timesteps: timesteps)
        #expect(noisy.device == .meta && noisy.shape == shape)
        if className != DPMSolverMultistepScheduler.className {  // a sampler only: it refuses to give training targets
            #expect(try scheduler.trainingTarget(sample: sample, noise: noise, timesteps: timesteps).device == .meta)
        }
        if let flow = scheduler as? FlowMatchEulerDiscreteScheduler {
            let scaled = try flow.scaleNoise(sample, timesteps: flow.timesteps.slice(dim: 0, start: 0, end: 2), noise: noise)
            #expect(scaled.device == .meta)
        }
        var x = sample
        for t in scheduler.timestepValues {
            x = try scheduler.step(try Tensor.randn(shape, device: .meta), timestep: t, sample: x,
                                   generator: try Generator(seed: 1)).prevSample
        }
        #expect(x.device == .meta && x.shape == shape)
    }
}
