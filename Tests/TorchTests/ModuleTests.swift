import Foundation
import TestSupport
import Testing
@testable import Torch

// Swift twins of the Python modules in python/make_fixtures.py (Attention, Block, Net).

final class TwinAttention: Module {
    let toQ: Linear, toK: Linear, toV: Linear
    let toOut: ModuleList<Module>
    init(_ dim: Int) {
        toQ = Linear(dim, dim)
        toK = Linear(dim, dim, bias: false)
        toV = Linear(dim, dim, bias: false)
        toOut = ModuleList([Linear(dim, dim), Dropout(0)])
    }
}

final class TwinBlock: Module {
    let norm1: LayerNorm
    let attn1: TwinAttention
    let norm2: LayerNorm
    let ff: Sequential
    @Parameter var scaleShiftTable: Tensor
    init(_ dim: Int) throws {
        norm1 = LayerNorm(dim, eps: 1e-6, elementwiseAffine: false)
        attn1 = TwinAttention(dim)
        norm2 = LayerNorm(dim)
        ff = Sequential(Linear(dim, 4 * dim), Activation(.geluTanh), Linear(4 * dim, dim))
        scaleShiftTable = try Tensor.randn([6, dim])
    }
}

final class TwinNet: Module {
    let proj = Conv2d(3, 8, kernelSize: 2, stride: 2)
    @Buffer var posEmbed: Tensor
    @Buffer var scratch: Tensor
    let transformerBlocks: [TwinBlock]
    let normOut = GroupNorm(numGroups: 2, numChannels: 8)
    @Child("linear_1") var linear1 = Linear(8, 8)
    let emb = Embedding(10, 8)
    init(dim: Int = 8) throws {
        posEmbed = try Tensor.arange(0, Double(dim), dtype: .float32)
        _scratch = Buffer(wrappedValue: try Tensor.zeros([1]), persistent: false)
        transformerBlocks = try [TwinBlock(8), TwinBlock(8)]
    }
}

@Suite("Modules", .serialized)
struct ModuleTests {
    func pythonKeys(_ field: String) throws -> [String] {
        let file = try SafeTensorsFile(fixturesDirectory.appendingPathComponent("named_module.safetensors").path)
        let json = try #require(file.metadata[field])
        return try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String])
    }

    @Test func namedParametersEqualPyTorchStateDictNames() throws {
        let net = try TwinNet()
        #expect(net.namedParameters().map(\.0) == (try pythonKeys("named_parameters")))
        #expect(net.stateDict().map(\.0) == (try pythonKeys("state_dict")))
        #expect(net.namedBuffers().map(\.0) == ["pos_embed", "scratch"])
    }

    @Test func loadsPyTorchStateDictStrictly() throws {
        let net = try TwinNet()
        let weights = try fixture("named_module.safetensors")
        let report = try net.load(stateDict: weights)
        #expect(report.isClean)
        for (key, t) in net.stateDict() {
            #expect(try maxAbsDiff(t, weights.tensor(key)) == 0, "\(key)")
        }
        // Parameters stay trainable leaves after loading.
        #expect(net.parameters().allSatisfy { $0.requiresGrad && $0.isLeaf })
    }

    @Test func loadReportsMissingUnexpectedAndMisshapedKeys() throws {
        let net = try TwinNet()
        var weights = try fixture("named_module.safetensors")
        weights["emb.weight"] = nil
        weights["extra.bias"] = try Tensor.zeros([2])
        weights["linear_1.weight"] = try Tensor.zeros([8, 9])
        let before = try net.linear1.bias!.floats()
        do {
            try net.load(stateDict: weights)
            Issue.record("a strict load of a mismatched state dict must fail")
        } catch let e as StateDictError {
            #expect(e.report.missing == ["emb.weight"])
            #expect(e.report.unexpected == ["extra.bias"])
            #expect(e.report.mismatched.map(\.key) == ["linear_1.weight"])
            #expect(e.description.contains("linear_1.weight (expected [8, 8], found [8, 9])"))
        }
        #expect(try net.linear1.bias!.floats() == before, "a failed strict load changes nothing")
        let report = try net.load(stateDict: weights, strict: false)
        #expect(report.missing == ["emb.weight"])
        #expect(try maxAbsDiff(net.linear1.bias!, weights.tensor("linear_1.bias")) == 0)
    }

    @Test func trainEvalAndDropout() throws {
        let net = Sequential(Linear(4, 4), Dropout(0.5))
        let x = try Tensor.ones([64, 4])
        net.eval()
        #expect(net.namedModules().allSatisfy { !$0.1.training })
        let linear = try #require(net.layers.first as? Linear)
        #expect(try maxAbsDiff(net(x), x.matmul(linear.weight.transposed(0, 1)) + linear.bias!) < 1e-6,
                "in eval mode dropout passes the Linear's output through")
        net.train()
        #expect(try maxAbsDiff(net(x), net(x)) > 0, "dropout in training mode")
    }

    @Test func defaultInitializationMatchesPyTorchBounds() throws {
        manualSeed(0)
        let l = Linear(100, 50)
        let bound = 1 / Double(100).squareRoot()
        let w = try l.weight.doubles()
        #expect(w.allSatisfy { Swift.abs($0) <= bound })
        #expect(w.max()! > bound * 0.9 && w.min()! < -bound * 0.9)
        #expect(l.parameterCount == 5050)
        let e = Embedding(1000, 10)
        let std = try e.weight.variance().item().squareRoot()
        #expect(Swift.abs(std - 1) < 0.05)  // N(0, 1): the sample std of 10,000 draws is within 1% of 1
        // The same seed gives PyTorch's very weights (kaiming-uniform Linear, normal Embedding).
        manualSeed(0)
        let ours = try [Linear(100, 50).weight, Embedding(1000, 10).weight]
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("init.safetensors").path
        _ = try runPython("""
            import sys, torch
            from safetensors.torch import save_file
            torch.manual_seed(0)
            save_file({"linear": torch.nn.Linear(100, 50).weight.detach(), "embedding": torch.nn.Embedding(1000, 10).weight.detach()}, sys.argv[1])
            """, arguments: [out])
        let torchWeights = try SafeTensors.load(out)
        #expect(try maxAbsDiff(ours[0], torchWeights.tensor("linear")) < 1e-6)
        #expect(try maxAbsDiff(ours[1], torchWeights.tensor("embedding")) < 1e-6)
    }

    @Test func moduleToDtype() throws {
        let net = Sequential(Linear(3, 2))
        try net.to(dtype: .float64)
        #expect(net.parameters().allSatisfy { $0.dtype == .float64 && $0.requiresGrad })
        let y = try net(try Tensor.ones([1, 3], dtype: .float64))
        #expect(y.dtype == .float64)
    }

    @Test func snakeCaseNames() {
        #expect(snakeCase("scaleShiftTable") == "scale_shift_table")
        #expect(snakeCase("toQ") == "to_q")
        #expect(snakeCase("attn1") == "attn1")
        #expect(snakeCase("adalnSingle") == "adaln_single")
    }
}

/// A weight used in two places (tied embeddings, say).
final class SharedWeights: Module {
    let a: Linear
    @Parameter var tied: Tensor
    override init() {
        let linear = Linear(3, 3)
        a = linear
        tied = linear.weight
    }
}

@Suite("Module edge cases", .serialized)
struct ModuleEdgeCaseTests {
    /// Like PyTorch, `to()` converts in place: an optimizer created before still trains the same tensors.
    @Test func toKeepsParameterIdentityForOptimizers() throws {
        manualSeed(0)
        let net = Sequential(Linear(3, 2))
        let before = net.parameters().map(\.implID)
        let optimizer = try AdamW(net, lr: 0.1)
        let frozen = net.parameters()[1]
        try frozen.requiresGrad(false)
        try net.to(dtype: .float64)
        #expect(net.parameters().map(\.implID) == before)
        #expect(net.parameters()[0].dtype == .float64 && !frozen.requiresGrad, "dtype changed, requires_grad kept")
        let w0 = try net.parameters()[0].doubles()
        try net(try Tensor.ones([4, 3], dtype: .float64)).sum().backward()
        try optimizer.step()
        #expect(try net.parameters()[0].doubles() != w0, "the optimizer still updates the converted weight")
    }

    @Test func sharedTensorsAreListedOnce() throws {
        let m = SharedWeights()
        // As in PyTorch, the first name wins: own parameters come before children's.
        #expect(m.namedParameters().map(\.0) == ["tied", "a.bias"], "the tied weight is the same tensor as a.weight")
        #expect(m.stateDict().count == 3, "the state dict still names both")
    }

    @Test func scalarDividedByTensorIsPythons() throws {
        let ints = try Tensor([2, 4] as [Int64], shape: [2])
        #expect(try (0.5 / ints).doubles() == [0.25, 0.125])
        let x = try Tensor([3.0, 7.0] as [Float], shape: [2])
        #expect(try (1 / x).floats() == x.reciprocal().floats())
        // Clipping with an infinite bound measures the norm and leaves gradients alone.
        let p = try Tensor([3.0, 4.0] as [Float]).requiresGrad(true)
        try (p * p).sum().backward()
        #expect(Swift.abs(try clipGradNorm([p], maxNorm: .infinity) - 10) < 1e-5)
        #expect(try p.grad!.floats() == [6, 8])
    }

    @Test func deviceNamesRejectOutOfRangeIndices() {
        #expect(Device(name: "cuda:127") == .cuda(127))
        #expect(Device(name: "cuda:128") == nil && Device(name: "cuda:4294967296") == nil && Device(name: "cuda:-1") == nil)
    }
}
