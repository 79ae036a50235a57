import Foundation
import TestSupport
import Testing
@testable import Torch

/// A process group of one that enforces NCCL's rule on a machine without a GPU: every collective's tensors must be on
/// the group's device. Its device is `meta`, the one device besides the CPU that a CPU-only torch has, so a tensor
/// left on the CPU fails here as ProcessGroupNCCL would fail it on a GPU ("Tensors must be CUDA and dense").
final class NCCLRuleGroup: Collectives {
    let rank = 0, worldSize = 1
    let device: Device
    private(set) var collectives = 0

    init(device: Device = .meta) { self.device = device }

    struct Done: CollectiveWork { func wait() throws {} }

    private func check(_ tensor: Tensor) throws {
        guard tensor.device == device else {
            throw TorchError("NCCL rule: a collective's tensor is on \(tensor.device), the group's device is \(device)")
        }
        collectives += 1
    }

    func allReduceAsync(_ tensor: Tensor, op: ProcessGroup.ReduceOp) throws -> any CollectiveWork {
        try check(tensor)
        return Done()
    }
    func broadcast(_ tensor: Tensor, from root: Int) throws { try check(tensor) }
    func barrier() throws {}
}

@Suite("Device discipline without a GPU (meta device)")
struct DeviceDisciplineTests {
    @Test func metaTensorsHaveShapesButNoData() throws {
        let x = try Tensor.randn([2, 3], device: .meta)
        #expect(x.device == .meta && x.shape == [2, 3])
        let y = try (x * 2 + 1).sum()
        #expect(y.device == .meta)
        // Mixing a CPU tensor into meta math fails, as mixing it into CUDA math does.
        #expect(throws: TorchError.self) { _ = try x + Tensor.ones([2, 3]) }
        #expect(throws: TorchError.self) { _ = try y.item() }
    }

    /// Data-parallel training's three collectives keep every tensor on the group's device: the loss-and-stop mean
    /// (which used to all-reduce a CPU float64 tensor, refused by NCCL at the first step), the gradient buckets and
    /// the initial broadcast.
    @Test func dataParallelObeysNCCLsRule() throws {
        let group = NCCLRuleGroup()
        let parallel = DataParallel(group: group)
        let agreed = try parallel.mean(try Tensor([0.25, 1]))  // the host values the trainer hands over
        #expect(agreed.device == .meta && agreed.shape == [2] && agreed.dtype == .float64)

        let model = Sequential(Linear(4, 8), Activation(.silu), Linear(8, 2))
        let optimizer = try AdamW(model, lr: 1e-3)
        try model.to(.meta)  // the parameters the optimizer holds move with the module
        #expect(optimizer.parameters.allSatisfy { $0.1.device == .meta })
        try parallel.broadcast(model.stateDict().map(\.1))
        try model(try Tensor.randn([3, 4], device: .meta)).sum().backward()
        let parameters = model.parameters()
        #expect(parameters.allSatisfy { $0.grad?.device == .meta })
        try parallel.averageGradients(parameters)
        #expect(group.collectives == 3, "the mean, one broadcast bucket and one gradient bucket")
    }

    /// The preflight compares the driver's CUDA with the torch's numerically ("12.10" is newer than "12.9").
    @Test func driverVersionsCompareNumerically() {
        #expect(DevicePreflight.versionLess("12.4", "13.0") && DevicePreflight.versionLess("12.9", "12.10"))
        #expect(!DevicePreflight.versionLess("13.0", "13") && !DevicePreflight.versionLess("13.1", "12.8"))
    }

    /// The CPU and meta need no preflight; this CPU-only torch refuses CUDA with a DeviceError naming itself.
    @Test func preflightOnThisMachine() throws {
        try DevicePreflight.check(.cpu)
        try DevicePreflight.check(.meta)
        let torch = TorchInstallation.current
        #expect(torch.version.hasPrefix("2.") && FileManager.default.fileExists(atPath: torch.path + "/lib"))
        if !Runtime.cudaBuilt {
            #expect(torch.cudaBuild == nil)
            let error = #expect(throws: DeviceError.self) { try DevicePreflight.check(.cuda(0)) }
            #expect(error?.description.contains("CPU-only") == true)
        }
    }
}
