import Foundation
import TestSupport
import Testing
@testable import Torch

/// Compares autograd's gradients with central finite differences in float64.
/// Returns the largest relative error over the inputs: ‖analytic − numeric‖∞ / max(‖numeric‖∞, 1e-12).
func gradcheck(_ inputs: [Tensor], eps: Double = 1e-6, _ f: ([Tensor]) throws -> Tensor) throws -> Double {
    for x in inputs { try x.requiresGrad(true) }
    let out = try f(inputs)
    // A fixed random projection makes every output element contribute to the scalar.
    let projection = try Tensor.randn(out.shape, dtype: .float64, generator: Generator(seed: 99))
    try (out * projection).sum().backward()
    var worst = 0.0
    for x in inputs {
        let analytic = try #require(x.grad, "no gradient reached an input").doubles()
        var numeric = [Double](repeating: 0, count: x.count)
        let flat = try x.detach().view([-1])
        for j in 0..<x.count {
            let element = try flat.select(dim: 0, index: j)
            func loss() throws -> Double { try withNoGrad { try (f(inputs) * projection).sum().item() } }
            try element.add_(eps)
            let plus = try loss()
            try element.add_(-2 * eps)
            let minus = try loss()
            try element.add_(eps)
            numeric[j] = (plus - minus) / (2 * eps)
        }
        let diff = zip(analytic, numeric).map { Swift.abs($0 - $1) }.max() ?? 0
        let scale = Swift.max(numeric.map(Swift.abs).max() ?? 0, 1e-12)
        worst = Swift.max(worst, diff / scale)
    }
    return worst
}

/// float64 inputs from a fixed seed; `offset` moves values away from kinks (abs, relu, clamp, sqrt, log).
func inputs(_ shapes: [[Int]], seed: UInt64 = 1, positive: Bool = false) throws -> [Tensor] {
    let g = try Generator(seed: seed)
    return try shapes.map { s in
        let t = try Tensor.randn(s, dtype: .float64, generator: g)
        return positive ? try t.abs() + 0.5 : t
    }
}

struct GradCase: CustomTestStringConvertible, Sendable {
    let name: String
    let make: @Sendable () throws -> [Tensor]
    let f: @Sendable ([Tensor]) throws -> Tensor
    var testDescription: String { name }
    init(_ name: String, _ make: @escaping @Sendable () throws -> [Tensor],
         _ f: @escaping @Sendable ([Tensor]) throws -> Tensor) {
        self.name = name
        self.make = make
        self.f = f
    }
}

let s23: @Sendable () throws -> [Tensor] = { try inputs([[2, 3]]) }
let two23: @Sendable () throws -> [Tensor] = { try inputs([[2, 3], [2, 3]]) }
let pos23: @Sendable () throws -> [Tensor] = { try inputs([[2, 3]], positive: true) }

let gradCases: [GradCase] = [
    // element-wise arithmetic
    GradCase("add", two23) { try $0[0] + $0[1] },
    GradCase("add broadcast", { try inputs([[2, 3], [3]]) }) { try $0[0] + $0[1] },
    GradCase("sub", two23) { try $0[0] - $0[1] },
    GradCase("mul", two23) { try $0[0] * $0[1] },
    GradCase("div", { try inputs([[2, 3]]) + inputs([[2, 3]], seed: 2, positive: true) }) { try $0[0] / $0[1] },
    GradCase("scalar ops", s23) { try (2 - $0[0]) * 3 + 1 / ($0[0].square() + 1) },
    GradCase("neg", s23) { try -$0[0] },
    GradCase("pow tensor", { try inputs([[2, 3]], positive: true) + inputs([[2, 3]], seed: 3) }) { try $0[0].pow($0[1]) },
    GradCase("pow scalar", pos23) { try $0[0].pow(2.5) },
    GradCase("exp", s23) { try $0[0].exp() },
    GradCase("log", pos23) { try $0[0].log() },
    GradCase("sqrt", pos23) { try $0[0].sqrt() },
    GradCase("rsqrt", pos23) { try $0[0].rsqrt() },
    GradCase("abs", pos23) { try (-$0[0]).abs() },
    GradCase("sin cos", s23) { try $0[0].sin() * $0[0].cos() },
    GradCase("square reciprocal", pos23) { try $0[0].square() + $0[0].reciprocal() },
    GradCase("maximum minimum", two23) { try $0[0].maximum($0[1]) + $0[0].minimum($0[1]) * 2 },
    GradCase("addcmul", { try inputs([[2, 3], [2, 3], [3]]) }) { try $0[0].addcmul($0[1], $0[2], value: 0.5) },
    GradCase("lerp", { try inputs([[2, 3], [2, 3], [2, 3]]) }) { try $0[0].lerp($0[1], $0[2]) },
    // activations
    GradCase("tanh", s23) { try $0[0].tanh() },
    GradCase("sigmoid", s23) { try $0[0].sigmoid() },
    GradCase("relu", pos23) { try $0[0].relu() + (-$0[0]).relu() },
    GradCase("silu", s23) { try $0[0].silu() },
    GradCase("gelu", s23) { try $0[0].gelu() },
    GradCase("gelu tanh", s23) { try $0[0].gelu(approximate: .tanh) },
    GradCase("quick gelu", s23) { try $0[0].quickGelu() },
    GradCase("softmax", s23) { try $0[0].softmax(dim: -1) },
    GradCase("log softmax", s23) { try $0[0].logSoftmax(dim: 0) },
    // selection
    GradCase("where", two23) { x in try Tensor.where(x[0].gt(0), x[0], x[1]) },
    GradCase("clamp", { try inputs([[2, 3]]).map { try $0 * 3 } }) { try $0[0].clamp(min: -1.01, max: 0.99) },
    GradCase("masked fill", s23) { x in try x[0].maskedFill(try Tensor([true, false, true], shape: [3]), 0.5) },
    // reductions
    GradCase("sum", { try inputs([[2, 3, 4]]) }) { try $0[0].sum(dims: [1]) },
    GradCase("mean", { try inputs([[2, 3, 4]]) }) { try $0[0].mean(dims: [0, 2], keepDim: true) },
    GradCase("var", { try inputs([[2, 5]]) }) { try $0[0].variance(dims: [1]) },
    GradCase("max all", s23) { try $0[0].max() },
    GradCase("max dim", s23) { try $0[0].max(dim: 1).values },
    GradCase("logsumexp", s23) { try $0[0].logsumexp(dims: [1]) },
    GradCase("prod", pos23) { try $0[0].prod(dims: [1]) },
    GradCase("cumsum", s23) { try $0[0].cumsum(dim: 1) },
    GradCase("cumprod", pos23) { try $0[0].cumprod(dim: 1) },
    GradCase("quantile", { try inputs([[2, 5]]) }) { try $0[0].quantile(0.3, dim: 1) },
    GradCase("norm", s23) { try $0[0].norm() },
    // linear algebra
    GradCase("matmul", { try inputs([[2, 3], [3, 4]]) }) { try $0[0].matmul($0[1]) },
    GradCase("matmul batched", { try inputs([[2, 2, 3], [3, 2]]) }) { try $0[0].matmul($0[1]) },
    GradCase("bmm", { try inputs([[2, 2, 3], [2, 3, 2]]) }) { try $0[0].bmm($0[1]) },
    GradCase("baddbmm", { try inputs([[2, 2, 2], [2, 2, 3], [2, 3, 2]]) }) {
        try $0[0].baddbmm($0[1], $0[2], beta: 0.5, alpha: 2)
    },
    GradCase("linear", { try inputs([[2, 3], [4, 3], [4]]) }) { try F.linear($0[0], weight: $0[1], bias: $0[2]) },
    // shapes and indexing
    GradCase("reshape view", { try inputs([[2, 6]]) }) { try $0[0].reshaped(3, 4).view([4, 3]) * 2 },
    GradCase("permute transpose", { try inputs([[2, 3, 4]]) }) { try $0[0].permuted(2, 0, 1).transposed(0, 1) * 2 },
    GradCase("squeeze unsqueeze flatten", { try inputs([[2, 1, 3]]) }) {
        try $0[0].squeezed(1).unsqueezed(0).flattened() * 2
    },
    GradCase("expand repeat", { try inputs([[1, 3]]) }) { try $0[0].expanded([2, 3]) * $0[0].repeated([2, 1]) },
    GradCase("cat", { try inputs([[2, 3], [1, 3]]) }) { try Tensor.cat([$0[0], $0[1]], dim: 0) * 2 },
    GradCase("stack", two23) { try Tensor.stack([$0[0], $0[1]], dim: 1) * 2 },
    GradCase("chunk", { try inputs([[2, 6]]) }) { x in
        let c = try x[0].chunked(3, dim: 1)
        return try c[0] * c[1] + c[2]
    },
    GradCase("split", { try inputs([[5, 2]]) }) { x in
        let s = try x[0].split(sizes: [2, 3], dim: 0)
        return try s[0].sum(dims: [0]) * s[1].sum(dims: [0])
    },
    GradCase("slice select", { try inputs([[4, 3]]) }) { x in
        try x[0].slice(dim: 0, start: 1, end: 4, step: 2) * x[0].select(dim: 0, index: 0)
    },
    GradCase("index select", { try inputs([[4, 3]]) }) { x in
        try x[0].indexSelect(dim: 0, index: Tensor([3, 0, 3], shape: [3])) * 2
    },
    GradCase("gather", { try inputs([[3, 4]]) }) { x in
        try x[0].gather(dim: 1, index: Tensor([0, 3, 1, 1, 2, 0], shape: [3, 2])) * 2
    },
    GradCase("tril triu flip", { try inputs([[3, 3]]) }) { try $0[0].tril() * 2 + $0[0].triu(1).flipped([0]) },
    // neural-network ops
    GradCase("layer norm", { try inputs([[2, 3, 4], [4], [4]]) }) {
        try F.layerNorm($0[0], normalizedShape: [4], weight: $0[1], bias: $0[2], eps: 1e-6)
    },
    GradCase("group norm", { try inputs([[2, 4, 2, 2], [4], [4]]) }) {
        try F.groupNorm($0[0], groups: 2, weight: $0[1], bias: $0[2], eps: 1e-6)
    },
    GradCase("conv2d", { try inputs([[1, 2, 5, 5], [3, 2, 3, 3], [3]]) }) {
        try F.conv2d($0[0], weight: $0[1], bias: $0[2], stride: (2, 2), padding: (1, 1))
    },
    GradCase("conv2d groups dilation", { try inputs([[1, 4, 5, 5], [4, 2, 2, 2]]) }) {
        try F.conv2d($0[0], weight: $0[1], dilation: (2, 2), groups: 2)
    },
    GradCase("conv transpose2d", { try inputs([[1, 3, 3, 3], [3, 2, 3, 3], [2]]) }) {
        try F.convTranspose2d($0[0], weight: $0[1], bias: $0[2], stride: (2, 2), padding: (1, 1),
                              outputPadding: (1, 1))
    },
    GradCase("interpolate nearest", { try inputs([[1, 2, 2, 3]]) }) { try F.interpolate($0[0], scaleFactor: 2) },
    GradCase("interpolate bilinear", { try inputs([[1, 2, 3, 3]]) }) {
        try F.interpolate($0[0], size: (5, 4), mode: .bilinear)
    },
    GradCase("pad constant", { try inputs([[1, 2, 3]]) }) { try F.pad($0[0], [1, 2], value: 0.5) },
    GradCase("pad reflect replicate", { try inputs([[1, 2, 3, 3]]) }) {
        try F.pad($0[0], [1, 1, 2, 0], mode: .reflect) + F.pad($0[0], [1, 1, 2, 0], mode: .replicate)
    },
    GradCase("sdpa", { try inputs([[1, 2, 3, 4], [1, 2, 5, 4], [1, 2, 5, 4]]) }) {
        try F.scaledDotProductAttention($0[0], $0[1], $0[2])
    },
    GradCase("sdpa bool mask", { try inputs([[1, 2, 3, 4], [1, 2, 5, 4], [1, 2, 5, 4]]) }) { x in
        let keep = try Tensor([true, true, false, true, false], shape: [1, 1, 1, 5])
        return try F.scaledDotProductAttention(x[0], x[1], x[2], mask: keep)
    },
    GradCase("sdpa additive mask", { try inputs([[1, 1, 3, 4], [1, 1, 5, 4], [1, 1, 5, 4], [3, 5]]) }) {
        try F.scaledDotProductAttention($0[0], $0[1], $0[2], mask: $0[3], scale: 0.7)
    },
    GradCase("embedding", { try inputs([[5, 3]]) }) { x in
        try F.embedding(try Tensor([4, 0, 4, 2], shape: [2, 2]), weight: x[0])
    },
    GradCase("dropout", { try inputs([[4, 5]]) }) { x in
        manualSeed(7)  // the same mask on every evaluation
        return try F.dropout(x[0], p: 0.3)
    },
    GradCase("mse loss", two23) { try F.mseLoss($0[0], $0[1]) },
    GradCase("cross entropy", { try inputs([[4, 5]]) }) { x in
        try F.crossEntropy(x[0], try Tensor([1, 4, 0, 2], shape: [4]), labelSmoothing: 0.1)
    },
]

@Suite("Gradients vs finite differences (float64)", .serialized)
struct GradCheckTests {
    @Test(arguments: gradCases)
    func gradientMatchesFiniteDifferences(_ c: GradCase) throws {
        let error = try gradcheck(try c.make(), c.f)
        #expect(error < 1e-6, "\(c.name): relative error \(error)")
    }

    /// The checker itself must catch a wrong gradient: a custom op whose backward is off by 1% is flagged.
    @Test func checkerDetectsAWrongGradient() throws {
        let x = try inputs([[2, 3]])
        // f(x) = x² computed so that autograd sees 1.01·x² but the numeric path sees x² (grad mode differs).
        let error = try gradcheck(x) { x in
            try isGradEnabled ? x[0].square() * 1.01 : x[0].square()
        }
        #expect(error > 1e-3)
    }
}
