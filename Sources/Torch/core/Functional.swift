import CTorch
import Foundation

/// How a loss reduces over its elements (PyTorch's `reduction=`).
public enum Reduction: Int32, Sendable {
    case none = 0, mean = 1, sum = 2
}

/// torch's interpolate modes; `antialias` on bilinear/bicubic filters when downsampling, as PIL's resize does.
public enum InterpolationMode: Sendable {
    case nearest, bilinear, bicubic
    case bilinearAntialias, bicubicAntialias

    var code: Int32 {
        switch self {
        case .nearest: Int32(CT_NEAREST)
        case .bilinear: Int32(CT_BILINEAR)
        case .bicubic: Int32(CT_BICUBIC)
        case .bilinearAntialias: Int32(CT_BILINEAR_AA)
        case .bicubicAntialias: Int32(CT_BICUBIC_AA)
        }
    }
}
public enum PaddingMode: Int32, Sendable { case constant = 0, reflect, replicate, circular }

/// torch.nn.functional, in Swift. Each function has PyTorch's semantics and defaults.
public enum F {
    public static func linear(_ x: Tensor, weight: Tensor, bias: Tensor? = nil) throws -> Tensor {
        try wrap(ct_linear(x.handle, weight.handle, bias?.handle))
    }
    public static func layerNorm(_ x: Tensor, normalizedShape: [Int], weight: Tensor? = nil, bias: Tensor? = nil,
                                 eps: Double = 1e-5) throws -> Tensor {
        try withInt64s(normalizedShape) {
            try wrap(ct_layer_norm(x.handle, $0, $1, weight?.handle, bias?.handle, eps))
        }
    }
    public static func groupNorm(_ x: Tensor, groups: Int, weight: Tensor? = nil, bias: Tensor? = nil,
                                 eps: Double = 1e-5) throws -> Tensor {
        try wrap(ct_group_norm(x.handle, Int64(groups), weight?.handle, bias?.handle, eps))
    }
    public static func conv2d(_ x: Tensor, weight: Tensor, bias: Tensor? = nil, stride: (Int, Int) = (1, 1),
                              padding: (Int, Int) = (0, 0), dilation: (Int, Int) = (1, 1), groups: Int = 1) throws
        -> Tensor
    {
        let s = [Int64(stride.0), Int64(stride.1)], p = [Int64(padding.0), Int64(padding.1)]
        let d = [Int64(dilation.0), Int64(dilation.1)]
        return try wrap(ct_conv2d(x.handle, weight.handle, bias?.handle, s, p, d, Int64(groups)))
    }
    public static func convTranspose2d(_ x: Tensor, weight: Tensor, bias: Tensor? = nil, stride: (Int, Int) = (1, 1),
                                       padding: (Int, Int) = (0, 0), outputPadding: (Int, Int) = (0, 0),
                                       groups: Int = 1, dilation: (Int, Int) = (1, 1)) throws -> Tensor {
        let s = [Int64(stride.0), Int64(stride.1)], p = [Int64(padding.0), Int64(padding.1)]
        let o = [Int64(outputPadding.0), Int64(outputPadding.1)], d = [Int64(dilation.0), Int64(dilation.1)]
        return try wrap(ct_conv_transpose2d(x.handle, weight.handle, bias?.handle, s, p, o, Int64(groups), d))
    }
    /// Resizes a [N, C, H, W] tensor to `size` (PyTorch's `size=`).
    public static func interpolate(_ x: Tensor, size: (Int, Int), mode: InterpolationMode = .nearest,
                                   alignCorners: Bool = false) throws -> Tensor {
        try wrap(ct_interpolate(x.handle, Int64(size.0), Int64(size.1), mode.code,
                                alignCorners, 0, 0))
    }
    /// Resizes by `scaleFactor` (PyTorch's `scale_factor=`: the output size is floor(in × scale) and the
    /// kernels sample with the given scale, exactly as torch does).
    public static func interpolate(_ x: Tensor, scaleFactor: Double, mode: InterpolationMode = .nearest,
                                   alignCorners: Bool = false) throws -> Tensor {
        guard x.rank == 4 else { throw TorchError("interpolate expects a 4-D [N, C, H, W] tensor, got \(x.shape)") }
        guard scaleFactor > 0, scaleFactor.isFinite, Double(max(x.size(2), x.size(3))) * scaleFactor < 1e9 else {
            throw TorchError("interpolate expects a finite scaleFactor > 0, got \(scaleFactor)")
        }
        let h = Int((Double(x.size(2)) * scaleFactor).rounded(.down))
        let w = Int((Double(x.size(3)) * scaleFactor).rounded(.down))
        return try wrap(ct_interpolate(x.handle, Int64(h), Int64(w), mode.code,
                                       alignCorners, scaleFactor, scaleFactor))
    }
    /// Pads the last dimensions: `pads` = (left, right, top, bottom, ...) as in torch.nn.functional.pad.
    public static func pad(_ x: Tensor, _ pads: [Int], mode: PaddingMode = .constant, value: Double = 0) throws
        -> Tensor
    {
        try withInt64s(pads) { try wrap(ct_pad(x.handle, $0, $1, mode.rawValue, value)) }
    }
    /// softmax(q·kᵀ·scale + mask)·v over [..., L, E] tensors. A bool mask marks the positions that may be
    /// attended (true = keep); a float mask is added to the scores.
    public static func scaledDotProductAttention(_ q: Tensor, _ k: Tensor, _ v: Tensor, mask: Tensor? = nil,
                                                 dropout: Double = 0, isCausal: Bool = false,
                                                 scale: Double? = nil) throws -> Tensor {
        try wrap(ct_sdpa(q.handle, k.handle, v.handle, mask?.handle, dropout, isCausal, scale ?? .nan))
    }
    public static func embedding(_ indices: Tensor, weight: Tensor, paddingIdx: Int? = nil) throws -> Tensor {
        try wrap(ct_embedding(weight.handle, indices.handle, Int64(paddingIdx ?? -1)))
    }
    public static func dropout(_ x: Tensor, p: Double, training: Bool = true) throws -> Tensor {
        guard (0...1).contains(p) else { throw TorchError("dropout probability must be in [0, 1], got \(p)") }
        return try wrap(ct_dropout(x.handle, p, training))
    }
    public static func mseLoss(_ input: Tensor, _ target: Tensor, reduction: Reduction = .mean) throws -> Tensor {
        try wrap(ct_mse_loss(input.handle, target.handle, reduction.rawValue))
    }
    /// Cross entropy over class logits [N, C] (or [N, C, ...]) with int64 class targets.
    public static func crossEntropy(_ logits: Tensor, _ target: Tensor, weight: Tensor? = nil,
                                    reduction: Reduction = .mean, ignoreIndex: Int = -100,
                                    labelSmoothing: Double = 0) throws -> Tensor {
        try wrap(ct_cross_entropy(logits.handle, target.handle, weight?.handle, reduction.rawValue,
                                  Int64(ignoreIndex), labelSmoothing))
    }
}

extension Tensor {
    public func matmul(_ other: Tensor) throws -> Tensor { try wrap(ct_matmul(handle, other.handle)) }
    public func bmm(_ other: Tensor) throws -> Tensor { try wrap(ct_bmm(handle, other.handle)) }
    /// beta·self + alpha·(b1 @ b2) over batches.
    public func baddbmm(_ b1: Tensor, _ b2: Tensor, beta: Double = 1, alpha: Double = 1) throws -> Tensor {
        try wrap(ct_baddbmm(handle, b1.handle, b2.handle, beta, alpha))
    }
}
