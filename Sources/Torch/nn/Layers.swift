import Foundation

/// A module that maps one tensor to one tensor, so it can sit in a `Sequential`.
public protocol Layer: Module {
    func callAsFunction(_ x: Tensor) throws -> Tensor
}

/// PyTorch's default init for Linear/Conv weights: kaiming_uniform_(a=√5), i.e. U(-1/√fan_in, 1/√fan_in),
/// computed exactly as torch.nn.init does so the same seed gives the same weights.
func kaimingUniformBound(fanIn: Int) -> Double {
    let a = 5.0.squareRoot()
    let gain = (2.0 / (1 + a * a)).squareRoot()
    let std = gain / Double(fanIn).squareRoot()
    return 3.0.squareRoot() * std
}

func uninitialized(_ shape: [Int], dtype: DType, device: Device) -> Tensor {
    guard let t = try? Tensor.empty(shape, dtype: dtype, device: device) else {
        preconditionFailure("libtorch could not allocate \(shape) \(dtype) on \(device)")
    }
    return t
}

/// y = x·Wᵀ + b (torch.nn.Linear).
public final class Linear: Module, Layer {
    @Parameter public var weight: Tensor
    @Parameter public var bias: Tensor?

    public init(_ inFeatures: Int, _ outFeatures: Int, bias: Bool = true, dtype: DType = .float32,
                device: Device = .cpu) {
        let w = uninitialized([outFeatures, inFeatures], dtype: dtype, device: device)
        let b = bias ? uninitialized([outFeatures], dtype: dtype, device: device) : nil
        // Same RNG draws, in the same order, as torch.nn.Linear.reset_parameters.
        let bound = kaimingUniformBound(fanIn: inFeatures)
        try? w.uniform_(-bound, bound)
        if let b {
            let bb = inFeatures > 0 ? 1 / Double(inFeatures).squareRoot() : 0
            try? b.uniform_(-bb, bb)
        }
        self.weight = w
        self.bias = b
        super.init()
    }

    public func callAsFunction(_ x: Tensor) throws -> Tensor { try F.linear(x, weight: weight, bias: bias) }
}

/// torch.nn.LayerNorm over the last dimensions.
public final class LayerNorm: Module, Layer {
    @Parameter public var weight: Tensor?
    @Parameter public var bias: Tensor?
    public let normalizedShape: [Int]
    public let eps: Double

    public init(_ normalizedShape: [Int], eps: Double = 1e-5, elementwiseAffine: Bool = true, bias: Bool = true,
                dtype: DType = .float32, device: Device = .cpu) {
        self.normalizedShape = normalizedShape
        self.eps = eps
        self.weight = elementwiseAffine ? try? Tensor.ones(normalizedShape, dtype: dtype, device: device) : nil
        self.bias = elementwiseAffine && bias ? try? Tensor.zeros(normalizedShape, dtype: dtype, device: device) : nil
        super.init()
    }
    public convenience init(_ dim: Int, eps: Double = 1e-5, elementwiseAffine: Bool = true, bias: Bool = true) {
        self.init([dim], eps: eps, elementwiseAffine: elementwiseAffine, bias: bias)
    }

    public func callAsFunction(_ x: Tensor) throws -> Tensor {
        try F.layerNorm(x, normalizedShape: normalizedShape, weight: weight, bias: bias, eps: eps)
    }
}

/// torch.nn.GroupNorm over [N, C, ...].
public final class GroupNorm: Module, Layer {
    @Parameter public var weight: Tensor?
    @Parameter public var bias: Tensor?
    public let numGroups: Int
    public let eps: Double

    public init(numGroups: Int, numChannels: Int, eps: Double = 1e-5, affine: Bool = true, dtype: DType = .float32,
                device: Device = .cpu) {
        precondition(numGroups > 0 && numChannels % numGroups == 0,
                     "GroupNorm: \(numChannels) channels do not split into \(numGroups) groups")
        self.numGroups = numGroups
        self.eps = eps
        self.weight = affine ? try? Tensor.ones([numChannels], dtype: dtype, device: device) : nil
        self.bias = affine ? try? Tensor.zeros([numChannels], dtype: dtype, device: device) : nil
        super.init()
    }

    public func callAsFunction(_ x: Tensor) throws -> Tensor {
        try F.groupNorm(x, groups: numGroups, weight: weight, bias: bias, eps: eps)
    }
}

/// torch.nn.Conv2d.
public final class Conv2d: Module, Layer {
    @Parameter public var weight: Tensor
    @Parameter public var bias: Tensor?
    public let stride: (Int, Int), padding: (Int, Int), dilation: (Int, Int), groups: Int

    public init(_ inChannels: Int, _ outChannels: Int, kernelSize: (Int, Int), stride: (Int, Int) = (1, 1),
                padding: (Int, Int) = (0, 0), dilation: (Int, Int) = (1, 1), groups: Int = 1, bias: Bool = true,
                dtype: DType = .float32, device: Device = .cpu) {
        precondition(groups > 0 && inChannels % groups == 0 && outChannels % groups == 0,
                     "Conv2d: channels must divide into groups")
        self.stride = stride
        self.padding = padding
        self.dilation = dilation
        self.groups = groups
        let w = uninitialized([outChannels, inChannels / groups, kernelSize.0, kernelSize.1], dtype: dtype,
                              device: device)
        let fanIn = inChannels / groups * kernelSize.0 * kernelSize.1
        let bound = kaimingUniformBound(fanIn: fanIn)
        try? w.uniform_(-bound, bound)
        var b: Tensor? = nil
        if bias {
            b = uninitialized([outChannels], dtype: dtype, device: device)
            let bb = fanIn > 0 ? 1 / Double(fanIn).squareRoot() : 0
            try? b!.uniform_(-bb, bb)
        }
        self.weight = w
        self.bias = b
        super.init()
    }
    public convenience init(_ inChannels: Int, _ outChannels: Int, kernelSize: Int, stride: Int = 1, padding: Int = 0,
                            bias: Bool = true) {
        self.init(inChannels, outChannels, kernelSize: (kernelSize, kernelSize), stride: (stride, stride),
                  padding: (padding, padding), bias: bias)
    }

    public func callAsFunction(_ x: Tensor) throws -> Tensor {
        try F.conv2d(x, weight: weight, bias: bias, stride: stride, padding: padding, dilation: dilation,
                     groups: groups)
    }
}

/// torch.nn.Embedding (weights ~ N(0, 1)).
public final class Embedding: Module {
    @Parameter public var weight: Tensor
    public let paddingIdx: Int?

    public init(_ numEmbeddings: Int, _ embeddingDim: Int, paddingIdx: Int? = nil, dtype: DType = .float32,
                device: Device = .cpu) {
        let w = uninitialized([numEmbeddings, embeddingDim], dtype: dtype, device: device)
        try? w.normal_()
        if let p = paddingIdx { try? w.select(dim: 0, index: p).zero_() }
        self.weight = w
        self.paddingIdx = paddingIdx
        super.init()
    }

    public func callAsFunction(_ indices: Tensor) throws -> Tensor {
        try F.embedding(indices, weight: weight, paddingIdx: paddingIdx)
    }
}

/// torch.nn.Dropout: active only in training mode.
public final class Dropout: Module, Layer {
    public let p: Double
    public init(_ p: Double = 0.5) { self.p = p }
    public func callAsFunction(_ x: Tensor) throws -> Tensor {
        guard training && p > 0 else { return x }
        return try F.dropout(x, p: p, training: true)
    }
}

/// An element-wise activation as a module (for `Sequential`).
public final class Activation: Module, Layer {
    public enum Kind: Sendable { case relu, silu, gelu, geluTanh, quickGelu, sigmoid, tanh }
    public let kind: Kind
    public init(_ kind: Kind) { self.kind = kind }
    public func callAsFunction(_ x: Tensor) throws -> Tensor {
        switch kind {
        case .relu: try x.relu()
        case .silu: try x.silu()
        case .gelu: try x.gelu()
        case .geluTanh: try x.gelu(approximate: .tanh)
        case .quickGelu: try x.quickGelu()
        case .sigmoid: try x.sigmoid()
        case .tanh: try x.tanh()
        }
    }
}

/// Layers applied in order; keys are their indices ("0.weight", "2.bias"), as in torch.nn.Sequential.
public final class Sequential: Module, Layer {
    public let layers: [any Layer]
    public init(_ layers: [any Layer]) { self.layers = layers }
    public convenience init(_ layers: any Layer...) { self.init(layers) }

    public override func namedChildren() -> [(String, Module)] {
        layers.enumerated().map { ("\($0.offset)", $0.element as Module) }
    }
    public func callAsFunction(_ x: Tensor) throws -> Tensor {
        try layers.reduce(x) { try $1($0) }
    }
}

/// A list of modules keyed by index (torch.nn.ModuleList).
public final class ModuleList<M: Module>: Module, RandomAccessCollection {
    public private(set) var modules: [M]
    public init(_ modules: [M]) { self.modules = modules }

    public override func namedChildren() -> [(String, Module)] {
        modules.enumerated().map { ("\($0.offset)", $0.element as Module) }
    }
    public var startIndex: Int { modules.startIndex }
    public var endIndex: Int { modules.endIndex }
    public subscript(i: Int) -> M { modules[i] }
    public func append(_ m: M) { modules.append(m) }
}
