@testable import Core
@testable import Models
import Foundation
import TestSupport
import Testing
import Torch

/// The fp16 path, audited on the CPU before a GPU runs it: one micro-batch of the seed config's DiT (384 wide, 8 blocks,
/// 6 heads, patch 2, 32×32×4 latents, 384-wide caption features) under fp16 autocast, DiTKit against diffusers'
/// PixArtTransformer2DModel under torch's autocast, same weights and inputs. Every operator that computes (matrix
/// products, attention, convolution, norms, activations) must run with the same input dtypes as in PyTorch, and the loss
/// and gradients must agree as closely as two runs of the same kernels can.
@Suite("fp16 autocast audit against diffusers", .serialized)
struct FP16AuditTests {
    /// Operators whose input dtypes tell what autocast cast: torch's dispatch-level names, as both sides see them.
    static let audited: Set = [
        "aten::addmm", "aten::mm", "aten::bmm", "aten::baddbmm", "aten::convolution",
        "aten::_scaled_dot_product_flash_attention_for_cpu", "aten::native_layer_norm", "aten::gelu", "aten::silu",
        "aten::_softmax", "aten::mse_loss",
    ]

    @Test func oneMicroBatchMatchesDiffusersUnderFP16Autocast() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        // diffusers builds the seed model and the batch, runs the step under autocast and records what it dispatched
        // (a TorchDispatchMode sees each operator with the dtypes it really runs in).
        let python = try runPython("""
            import json, sys, torch
            from diffusers import PixArtTransformer2DModel
            from safetensors.torch import save_file
            from torch.utils._python_dispatch import TorchDispatchMode
            out = sys.argv[1]
            torch.manual_seed(0)
            model = PixArtTransformer2DModel(num_attention_heads=6, attention_head_dim=64, in_channels=4, out_channels=4,
                num_layers=8, sample_size=32, patch_size=2, cross_attention_dim=384, caption_channels=384,
                norm_type="ada_norm_single", use_additional_conditions=False)
            model.save_pretrained(out + "/model", safe_serialization=True)
            g = torch.Generator().manual_seed(1)
            x = {"xt": torch.randn(2, 4, 32, 32, generator=g), "target": torch.randn(2, 4, 32, 32, generator=g),
                 "t": torch.tensor([10, 900]), "caption": torch.randn(2, 16, 384, generator=g),
                 "mask": torch.tensor([[1] * 16, [1] * 9 + [0] * 7])}
            save_file(x, out + "/inputs.safetensors")
            ops = []
            class Record(TorchDispatchMode):
                def __torch_dispatch__(self, func, types, args=(), kwargs=None):
                    flat = [a for a in list(args) + list((kwargs or {}).values()) if isinstance(a, torch.Tensor)]
                    ops.append([func.overloadpacket._qualified_op_name,
                                [str(a.dtype).replace("torch.", "") for a in flat]])
                    return func(*args, **(kwargs or {}))
            with Record():
                with torch.autocast("cpu", dtype=torch.float16):
                    pred = model.train()(x["xt"], encoder_hidden_states=x["caption"], timestep=x["t"],
                                         encoder_attention_mask=x["mask"]).sample
                loss = torch.nn.functional.mse_loss(pred.float(), x["target"])
            loss.backward()
            grads = {n: p.grad.contiguous() for n, p in model.named_parameters() if p.grad is not None}
            save_file(grads, out + "/grads.safetensors")
            print(json.dumps({"loss": loss.item(), "ops": ops}))
            """, arguments: [dir.path])
        let reference = try JSONSerialization.jsonObject(with: Data(python.utf8)) as! [String: Any]

        let model = try PixArtTransformer2DModel.load(from: dir.appendingPathComponent("model"))
        let x = try SafeTensors.load(dir.appendingPathComponent("inputs.safetensors").path)
        let (loss, ops) = try OpRecorder.record {
            let pred = try withAutocast(device: .cpu, dtype: .float16) {
                try model(x["xt"]!, encoderHiddenStates: x["caption"]!, timestep: x["t"]!,
                          encoderAttentionMask: x["mask"]!)
            }
            return try F.mseLoss(pred.to(.float32), x["target"]!)
        }
        try loss.backward()

        // The same operators, as often, with the same input dtypes. (Autocast intercepts linear, conv2d, layer_norm and
        // attention above the audited operators, so each of these is dispatched once, with its inputs already cast.)
        // libtorch keeps no inputs for a few of DiTKit's calls ("?"): those count by name only.
        func table(_ entries: [(String, [String])]) -> [String: Int] {
            var counts: [String: Int] = [:]
            for (name, dtypes) in entries where Self.audited.contains(name) {
                counts["\(name)(\(dtypes.joined(separator: ",")))", default: 0] += 1
            }
            return counts
        }
        let theirs = table((reference["ops"] as! [[Any]]).map { ($0[0] as! String, ($0[1] as! [String]).map(Self.short)) })
        let ours = table(ops.map { ($0.name, $0.inputs.filter { $0 != "-" }.map(Self.short)) })
        func byName(_ t: [String: Int]) -> [String: Int] {
            t.reduce(into: [:]) { $0[String($1.key.prefix { $0 != "(" }), default: 0] += $1.value }
        }
        let report = "DiTKit \(ours.sorted { $0.key < $1.key })\nPyTorch \(theirs.sorted { $0.key < $1.key })"
        #expect(theirs["aten::addmm(half,half,half)", default: 0] > 50, "\(report)")
        #expect(byName(ours) == byName(theirs), "\(report)")
        for (signature, count) in ours where !signature.hasSuffix("(?)") {
            #expect(count <= theirs[signature, default: 0], "\(signature) ×\(count)\n\(report)")
        }
        let known = ours.filter { !$0.key.hasSuffix("(?)") }.values.reduce(0, +)
        #expect(known * 10 >= ours.values.reduce(0, +) * 8, "most calls keep their inputs\n\(report)")

        // Loss and gradients: the same kernels in the same dtypes.
        let theirLoss = reference["loss"] as! Double
        let ourLoss = try loss.item()
        #expect(abs(ourLoss - theirLoss) <= 1e-5 * theirLoss, "loss \(ourLoss) vs \(theirLoss)")
        let grads = try SafeTensors.load(dir.appendingPathComponent("grads.safetensors").path)
        let ourGrads = Dictionary(model.namedParameters().map { ($0.0, $0.1) }, uniquingKeysWith: { a, _ in a })
        #expect(grads.count == ourGrads.count)
        // Relative to each tensor's largest entry, or to a thousandth of the largest gradient anywhere: the attention
        // key biases' true gradient is zero (a shift shared by all keys leaves softmax unchanged), so theirs is
        // rounding noise on both sides.
        let largest = try grads.values.map { try $0.abs().max().item() }.max() ?? 1
        var worst = (0.0, "")
        for (name, g) in grads {
            let mine = try #require(ourGrads[name]?.grad, "no gradient for \(name)")
            let difference = try maxAbsDiff(mine, g) / max(try g.abs().max().item(), 1e-3 * largest)
            if difference > worst.0 { worst = (difference, name) }
        }
        #expect(worst.0 <= 1e-3, "largest gradient difference, relative: \(worst.0) in \(worst.1)")
    }

    /// "Half"/"float16" → "half", "Float"/"float32" → "float", "Long"/"int64" → "long": one spelling for both sides.
    static func short(_ dtype: String) -> String {
        ["float16": "half", "float32": "float", "int64": "long", "bfloat16": "bfloat16", "bool": "bool"][dtype]
            ?? dtype.lowercased()
    }
}
