import TestSupport
import Testing
@testable import Torch

/// Forward values of the ops the models use, against PyTorch's on the same inputs (Tests/Fixtures/layers).
@Suite("Ops match PyTorch", .serialized)
struct OpsParityTests {
    let t: [String: Tensor]
    init() throws { t = try fixture("layers.safetensors") }

    func expectClose(_ a: Tensor, _ key: String, _ tol: Double = 1e-5) throws {
        let d = try maxAbsDiff(a, try t.tensor(key))
        #expect(d <= tol, "\(key): max abs diff \(d)")
    }

    @Test func layerNorm() throws {
        let x = try t.tensor("ln_x")
        try expectClose(try F.layerNorm(x, normalizedShape: [8], weight: t.tensor("ln_w"), bias: t.tensor("ln_b"),
                                        eps: 1e-6), "ln_out")
        try expectClose(try F.layerNorm(x, normalizedShape: [8], eps: 1e-6), "ln_noaffine_out")
        let module = LayerNorm(8, eps: 1e-6, elementwiseAffine: false)
        try expectClose(try module(x), "ln_noaffine_out")
    }

    @Test func groupNorm() throws {
        let m = GroupNorm(numGroups: 4, numChannels: 8, eps: 1e-6)
        try m.load(stateDict: ["weight": t.tensor("gn_w"), "bias": t.tensor("gn_b")])
        try expectClose(try m(t.tensor("gn_x")), "gn_out")
    }

    @Test func conv2d() throws {
        let m = Conv2d(3, 5, kernelSize: 3, stride: 2, padding: 1)
        try m.load(stateDict: ["weight": t.tensor("conv_w"), "bias": t.tensor("conv_b")])
        try expectClose(try m(t.tensor("conv_x")), "conv_out")
    }

    @Test func convTranspose2d() throws {
        let w = try t.tensor("convt_w").repeated([1, 2, 1, 1])
        let y = try F.convTranspose2d(t.tensor("convt_x"), weight: w, bias: t.tensor("convt_b"), stride: (2, 2),
                                      padding: (1, 1), outputPadding: (1, 1))
        try expectClose(y, "convt_out")
    }

    @Test func scaledDotProductAttention() throws {
        let q = try t.tensor("sdpa_q"), k = try t.tensor("sdpa_k"), v = try t.tensor("sdpa_v")
        try expectClose(try F.scaledDotProductAttention(q, k, v), "sdpa_out")
        try expectClose(try F.scaledDotProductAttention(q, k, v, mask: t.tensor("sdpa_keep")), "sdpa_bool_out")
        try expectClose(try F.scaledDotProductAttention(q, k, v, mask: t.tensor("sdpa_add")), "sdpa_add_out")
        try expectClose(try F.scaledDotProductAttention(q, k, v, scale: 0.3), "sdpa_scale_out")
        // The explicit formula agrees too, so the mask convention (true = attend) is the one we document.
        let keep = try t.tensor("sdpa_keep")
        let scores = try q.matmul(k.transposed(-1, -2)) / Double(8).squareRoot()
        let manual = try scores.maskedFill(keep.logicalNot(), -Double.infinity).softmax(dim: -1).matmul(v)
        try expectClose(manual, "sdpa_bool_out")
    }

    @Test func activations() throws {
        let x = try t.tensor("act_x")
        try expectClose(try x.gelu(), "gelu_out")
        try expectClose(try x.gelu(approximate: .tanh), "gelu_tanh_out")
        try expectClose(try x.silu(), "silu_out")
        try expectClose(try x.softmax(dim: -1), "softmax_out")
        try expectClose(try x.logSoftmax(dim: -1), "log_softmax_out")
        try expectClose(try x.quickGelu(), "quick_gelu_out")
    }

    @Test func interpolate() throws {
        let x = try t.tensor("interp_x")
        try expectClose(try F.interpolate(x, scaleFactor: 2), "interp_nearest2", 0)
        try expectClose(try F.interpolate(x, scaleFactor: 2, mode: .bilinear), "interp_bilinear2")
        try expectClose(try F.interpolate(x, size: (4, 7), mode: .bilinear), "interp_bilinear_size")
        try expectClose(try F.interpolate(x, size: (4, 7), mode: .bilinear, alignCorners: true), "interp_bilinear_ac")
    }

    @Test func crossEntropy() throws {
        let logits = try t.tensor("ce_logits"), target = try t.tensor("ce_target")
        try expectClose(try F.crossEntropy(logits, target), "ce_out")
        try expectClose(try F.crossEntropy(logits, target, labelSmoothing: 0.1), "ce_smooth_out")
    }
}
