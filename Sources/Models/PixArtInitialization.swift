import Foundation
import Torch

extension PixArtTransformer2DModel {
    /// How a new DiT's weights start (`training.initialization`).
    public enum Initialization: String, Sendable, CaseIterable {
        /// PyTorch's layer defaults (Kaiming-uniform linears), what diffusers' `PixArtTransformer2DModel(config)`
        /// starts from.
        case pytorch
        /// PixArt-α's `initialize_weights`: Xavier-uniform linears (and the patch embedding, as a linear over its
        /// flattened kernel) with zero biases, N(0, 0.02) for the timestep embedder, adaLN-single and caption projection,
        /// and zeros for every block's cross-attention output and the final projection.
        case pixart
    }

    /// Re-draws the weights as `how` says (from the global generator, so a run's seed decides them). With `.pixart`
    /// the model predicts exactly 0 at step 0 and each block's cross-attention adds nothing until it has learned to:
    /// the identity-at-start idea of DiT's adaLN-Zero, applied where PixArt applies it.
    public func initialize(_ how: Initialization) throws {
        guard how == .pixart else { return }
        try withNoGrad {
            // In the module's own order, so that a seed always draws the same weights.
            var seen = Set<String>()
            for (name, p) in namedParameters() where seen.insert(name).inserted {
                let isZeroed = name.hasPrefix("proj_out.") || (name.contains(".attn2.to_out.0."))
                let isSmallNormal = name.hasPrefix("adaln_single.") || name.hasPrefix("caption_projection.")
                if isZeroed {
                    try p.zero_()
                } else if name.hasSuffix(".bias") {
                    // Linear biases start at 0; the patch embedding's convolution keeps its default bias, as in PixArt.
                    if !name.hasPrefix("pos_embed.") { try p.zero_() }
                } else if name.hasSuffix(".weight") && isSmallNormal && p.rank == 2 {
                    try p.normal_(mean: 0, std: 0.02)
                } else if name.hasSuffix(".weight") && p.rank >= 2 {
                    // Xavier-uniform over [out, everything else]: fan_out = rows, fan_in = the rest.
                    let fanOut = p.size(0), fanIn = p.count / max(1, fanOut)
                    let bound = (6.0 / Double(fanIn + fanOut)).squareRoot()
                    try p.uniform_(-bound, bound)
                }
                // scale_shift_table keeps its N(0, 1/dim) draw, as in PixArt and diffusers.
            }
        }
    }
}
