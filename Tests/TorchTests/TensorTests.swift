import Foundation
import TestSupport
import Testing
@testable import Torch

@Suite("Tensor engine", .serialized)
struct TensorTests {
    @Test func shapeMismatchIsASwiftErrorWithTorchsMessage() throws {
        let a = try Tensor.ones([2, 3]), b = try Tensor.ones([4, 5])
        do {
            _ = try a.matmul(b)
            Issue.record("matmul of [2,3] and [4,5] must fail")
        } catch let e as TorchError {
            #expect(e.message.contains("cannot be multiplied"), "\(e.message)")
            #expect(!e.message.contains("Exception raised from"), "no C++ backtrace in the message")
        }
        #expect(throws: TorchError.self) { try a + b }
        #expect(throws: TorchError.self) { try a.reshaped(7) }
        #expect(throws: TorchError.self) { try Tensor([1.0, 2.0], shape: [3]) }
        // The engine still works after an error, and the error is cleared by the next successful call.
        #expect(try (a + a).sum().item() == 12)
    }

    @Test func noLeaksOverATrainingLoop() throws {
        let model = Sequential(Linear(4, 8), Activation(.silu), Linear(8, 1))
        let optimizer = try AdamW(model, lr: 1e-2)
        let x = try Tensor.randn([16, 4]), y = try Tensor.randn([16, 1])
        func step() throws {
            optimizer.zeroGrad()
            let loss = try F.mseLoss(try model(x), y)
            try loss.backward()
            try clipGradNorm(model.parameters(), maxNorm: 1)
            try optimizer.step()
        }
        try step()  // creates the optimizer state
        let start = Runtime.liveTensorCount
        for _ in 0..<20 { try step() }
        optimizer.zeroGrad()
        try step()
        optimizer.zeroGrad()
        #expect(Runtime.liveTensorCount == start, "live handles \(Runtime.liveTensorCount), started with \(start)")
        do {
            let before = Runtime.liveTensorCount
            _ = try Tensor.ones([3]) * 2
            #expect(Runtime.liveTensorCount == before)
        }
    }

    @Test func arraysRoundTripEveryDtype() throws {
        #expect(try Tensor([1.5, -2.25] as [Float], shape: [2]).floats() == [1.5, -2.25])
        #expect(try Tensor([1.5, -2.25], shape: [1, 2]).doubles() == [1.5, -2.25])
        #expect(try Tensor([Int64.max, -1], shape: [2]).toArray(Int64.self) == [Int64.max, -1])
        #expect(try Tensor([7, -8] as [Int32], shape: [2]).toArray(Int32.self) == [7, -8])
        #expect(try Tensor([255, 0] as [UInt8], shape: [2]).toArray(UInt8.self) == [255, 0])
        #expect(try Tensor([true, false], shape: [2]).toArray(Bool.self) == [true, false])
        #expect(try Tensor([0.5, 3] as [Float16], shape: [2]).floats() == [0.5, 3])
        #expect(try Tensor([0.5, 3.0] as [Float], shape: [2]).to(.bfloat16).floats() == [0.5, 3])
        let t = try Tensor([1, 2, 3, 4, 5, 6] as [Float], shape: [2, 3])
        #expect(t.shape == [2, 3] && t.rank == 2 && t.count == 6 && t.dtype == .float32 && t.device == .cpu)
        #expect(try t.transposed(0, 1).contiguous().floats() == [1, 4, 2, 5, 3, 6])
        #expect(try Tensor(scalar: 2.5, dtype: .float64).item() == 2.5)
        #expect(try t.bytes().count == 24)
    }

    @Test func creationOps() throws {
        #expect(try Tensor.arange(0, 5).ints() == [0, 1, 2, 3, 4])
        #expect(try Tensor.arange(1, 2, step: 0.25, dtype: .float64).doubles() == [1, 1.25, 1.5, 1.75])
        #expect(try Tensor.linspace(0, 1, steps: 5).floats() == [0, 0.25, 0.5, 0.75, 1])
        #expect(try Tensor.full([2], 3, dtype: .int32).toArray(Int32.self) == [3, 3])
        #expect(try Tensor.zeros([2, 2]).sum().item() == 0 && Tensor.ones([2, 2]).sum().item() == 4)
        let r = try Tensor.randint(3, 7, [1000])
        #expect(try r.min().item() >= 3 && r.max().item() <= 6)
        let u = try Tensor.rand([1000])
        #expect(try u.min().item() >= 0 && u.max().item() < 1)
        #expect(try Tensor.randperm(10).ints().sorted() == Array(0..<10))
    }

    @Test func seedsReproduceNumbers() throws {
        manualSeed(42)
        let a = try Tensor.randn([5]).floats()
        manualSeed(42)
        let b = try Tensor.randn([5]).floats()
        #expect(a == b)
        let g1 = try Generator(seed: 7), g2 = try Generator(seed: 7)
        #expect(try Tensor.rand([4], generator: g1).floats() == Tensor.rand([4], generator: g2).floats())
        // Saving and restoring a generator's state replays the stream.
        let state = try g1.state()
        let next = try Tensor.randn([3], generator: g1).floats()
        try g1.setState(state)
        #expect(try Tensor.randn([3], generator: g1).floats() == next)
        let global = try Generator.globalState()
        let n1 = try Tensor.randn([3]).floats()
        try Generator.setGlobalState(global)
        #expect(try Tensor.randn([3]).floats() == n1)
        // torch.manual_seed(0); torch.randn(3) in PyTorch 2.x.
        manualSeed(0)
        let reference: [Float] = [1.5409961, -0.2934289, -2.1787894]
        let got = try Tensor.randn([3]).floats()
        #expect(zip(got, reference).allSatisfy { Swift.abs($0 - $1) < 1e-6 }, "\(got)")
    }

    @Test func autogradBasics() throws {
        let x = try Tensor([1.0, 2.0, 3.0]).requiresGrad(true)
        #expect(x.grad == nil)
        let y = try (x * x).sum()
        try y.backward()
        #expect(try x.grad!.doubles() == [2, 4, 6])
        try (x * 3).sum().backward()  // gradients accumulate, like PyTorch
        #expect(try x.grad!.doubles() == [5, 7, 9])
        x.zeroGrad()
        #expect(x.grad == nil)
        let z = try withNoGrad { try x * 2 }
        #expect(!z.requiresGrad)
        #expect(isGradEnabled)
        #expect(try !x.detach().requiresGrad)
        #expect(throws: TorchError.self) { try (x * 2).backward() }  // non-scalar needs a gradient
    }

    @Test func autocastRunsMatmulInBFloat16() throws {
        let a = try Tensor.randn([4, 4]), b = try Tensor.randn([4, 4])
        let y = try withAutocast(device: .cpu, dtype: .bfloat16) { try a.matmul(b) }
        #expect(y.dtype == .bfloat16)
        #expect(try a.matmul(b).dtype == .float32, "autocast ends with its scope")
        // Autocast casts the inputs and runs the same matmul: exactly the bf16 product, which rounding sets apart
        // from the float32 one.
        #expect(try maxAbsDiff(y, a.to(.bfloat16).matmul(b.to(.bfloat16))) == 0)
        #expect(try maxAbsDiff(y, a.matmul(b)) > 0)
    }

    @Test func reductionsAndComparisons() throws {
        let t = try Tensor([1, 5, 3, 4, 2, 6] as [Float], shape: [2, 3])
        #expect(try t.sum(dim: 1).floats() == [9, 12])
        #expect(try t.mean().item() == 3.5)
        #expect(try t.max(dim: 1).indices.ints() == [1, 2])
        #expect(try t.argmax().item() == 5)
        #expect(try t.variance(dims: [1], correction: 0).floats() == [Float(8.0 / 3), Float(8.0 / 3)])
        #expect(try t.gt(3).toArray(Bool.self) == [false, true, false, true, false, true])
        #expect(try t.isFinite().all().item() == 1)
        #expect(try (t / 0).isFinite().any().item() == 0)
    }

    @Test func runtimeInfo() throws {
        #expect(Runtime.torchVersion.hasPrefix("2."))
        #expect(Runtime.devices.first == .cpu)
        // 0 would make at::set_num_threads throw; the shim clamps it to 1. (That a config's run.threads reaches
        // libtorch is checked through the trainer, in TrainerTests.)
        let threads = Runtime.threads
        defer { Runtime.threads = threads }
        Runtime.threads = 0
        #expect(Runtime.threads == 1)
        let library = try #require(Runtime.torchLibraryPath)
        #expect(FileManager.default.fileExists(atPath: library + "/libtorch_cpu.so"))
    }

    @Test func deviceAndDtypeNames() {
        #expect(Device(name: "cuda:1") == .cuda(1) && Device(name: "cpu") == .cpu && Device(name: "tpu") == nil)
        #expect(DType(name: "bf16") == .bfloat16 && DType(name: "nope") == nil)
    }
}

@Suite("Caching CPU allocator", .serialized)
struct CPUAllocatorTests {
    @Test func freedLargeBlocksAreReused() throws {
        #expect(Runtime.cpuCachingEnabled, "on by default")
        Runtime.emptyCPUCache()
        #expect(Runtime.cpuCachedBytes == 0)
        var address: UnsafeMutableRawPointer?
        do {
            let big = try Tensor.full([256, 1024], 1)  // 1 MiB
            address = big.unsafeDataPointer
        }
        #expect(Runtime.cpuCachedBytes >= 1 << 20, "the freed block is kept")
        let again = try Tensor.zeros([256, 1024])
        #expect(again.unsafeDataPointer == address, "the same block is handed out again")
        #expect(try again.sum().item() == 0, "and filled with what the op asked for")
        #expect(Runtime.cpuCachedBytes == 0)
        // Small tensors are malloc's business and are never cached.
        _ = try Tensor.ones([16])
        #expect(Runtime.cpuCachedBytes == 0)
    }

    @Test func cachingCanBeSwitchedOff() throws {
        Runtime.cpuCachingEnabled = false
        defer { Runtime.cpuCachingEnabled = true }
        do { _ = try Tensor.ones([512, 1024]) }
        #expect(Runtime.cpuCachedBytes == 0)
        // Switched back on, a freed large block stays cached again.
        Runtime.cpuCachingEnabled = true
        do { _ = try Tensor.ones([512, 1024]) }
        #expect(Runtime.cpuCachedBytes >= 512 * 1024 * 4)
    }
}
