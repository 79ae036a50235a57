import Foundation

/// Base class of layers and models. Parameters (`@Parameter`), buffers (`@Buffer`) and child modules (stored
/// properties of Module type, optionals and arrays of them, or `@Child("key")`) are found by reflection, so no
/// module lists them by hand. Keys follow PyTorch's state_dict: `blocks.0.attn.to_q.weight`.
open class Module {
    /// Training mode (dropout active). Set it with `train()` / `eval()`, which recurse.
    public private(set) var training = true

    public init() {}

    // MARK: Discovery

    /// Direct children in declaration order, with their keys.
    open func namedChildren() -> [(String, Module)] {
        var out: [(String, Module)] = []
        forEachStoredProperty { label, value in
            if let m = value as? Module {
                out.append((snakeCase(label), m))
            } else if let c = value as? ChildBox {
                out.append((c.key, c.module))
            } else if let list = value as? [Module] {
                for (i, m) in list.enumerated() { out.append(("\(snakeCase(label)).\(i)", m)) }
            } else if let opt = value as? Module? {
                if let m = opt { out.append((snakeCase(label), m)) }
            }
        }
        return out
    }

    /// This module's own parameters, without those of children.
    public func directParameters() -> [(String, Tensor)] {
        var out: [(String, Tensor)] = []
        forEachStoredProperty { label, value in
            guard let box = value as? TensorSlotBox, !(value is AnyBuffer), let t = box.tensor else { return }
            out.append((box.key ?? snakeCase(label), t))
        }
        return out
    }

    /// This module's own buffers, with whether each is saved in the state dict.
    public func directBuffers() -> [(String, Tensor, persistent: Bool)] {
        var out: [(String, Tensor, persistent: Bool)] = []
        forEachStoredProperty { label, value in
            guard let b = value as? AnyBuffer, let box = value as? TensorSlotBox, let t = box.tensor else { return }
            out.append((box.key ?? snakeCase(label), t, b.isPersistent))
        }
        return out
    }

    /// Every parameter with its dotted key, own first and then each child's, like named_parameters().
    /// A tensor shared by two modules is listed once, under its first key.
    public func namedParameters() -> [(String, Tensor)] {
        var seen = Set<UInt64>()
        var out: [(String, Tensor)] = []
        visit(prefix: "") { prefix, module in
            for (name, t) in module.directParameters() where seen.insert(t.implID).inserted {
                out.append((prefix + name, t))
            }
        }
        return out
    }

    public func parameters() -> [Tensor] { namedParameters().map(\.1) }

    public func namedBuffers() -> [(String, Tensor)] {
        var out: [(String, Tensor)] = []
        visit(prefix: "") { prefix, module in
            for (name, t, _) in module.directBuffers() { out.append((prefix + name, t)) }
        }
        return out
    }

    /// Every module below and including this one, with dotted keys ("" for self).
    public func namedModules() -> [(String, Module)] {
        var out: [(String, Module)] = []
        visit(prefix: "") { prefix, m in out.append((prefix.isEmpty ? "" : String(prefix.dropLast()), m)) }
        return out
    }

    /// Parameters and persistent buffers by key, in PyTorch's state_dict order.
    public func stateDict() -> [(String, Tensor)] {
        var out: [(String, Tensor)] = []
        visit(prefix: "") { prefix, module in
            for (name, t) in module.directParameters() { out.append((prefix + name, t)) }
            for (name, t, persistent) in module.directBuffers() where persistent { out.append((prefix + name, t)) }
        }
        return out
    }

    // MARK: Loading

    /// Copies `stateDict` into this module's tensors (in place, converting dtype/device as needed).
    /// With `strict`, any missing, unexpected or mis-shaped key is an error listing all of them, and nothing is
    /// changed; without it, matching keys load and the report tells what was skipped.
    @discardableResult
    public func load(stateDict: [String: Tensor], strict: Bool = true) throws -> StateDictReport {
        let own = self.stateDict()
        var report = StateDictReport()
        let ownKeys = Set(own.map { $0.0 })
        for (key, t) in own {
            guard let src = stateDict[key] else { report.missing.append(key); continue }
            if src.shape != t.shape { report.mismatched.append((key, expected: t.shape, found: src.shape)) }
        }
        report.unexpected = stateDict.keys.filter { !ownKeys.contains($0) }.sorted()
        if strict && !report.isClean { throw StateDictError(report: report) }
        let bad = Set(report.mismatched.map(\.key))
        try withNoGrad {
            for (key, t) in own where !bad.contains(key) {
                if let src = stateDict[key] { try t.copy_(src) }
            }
        }
        return report
    }

    /// Moves every parameter and buffer to `device` / `dtype` (floating-point tensors only change dtype), in
    /// place like PyTorch's Module.to: the same tensors keep their identity, so an optimizer or EMA made earlier
    /// still holds them, and requires_grad and sharing are kept.
    public func to(_ device: Device? = nil, dtype: DType? = nil) throws {
        var done = Set<UInt64>()
        try visitSlots { box in
            guard let t = box.tensor, done.insert(t.implID).inserted else { return }
            let targetType = (dtype != nil && t.dtype.isFloatingPoint) ? dtype! : t.dtype
            let targetDevice = device ?? t.device
            if targetType == t.dtype && targetDevice == t.device { return }
            try t.setData(try withNoGrad { try t.to(targetDevice, targetType) })
            t.zeroGrad()
        }
    }

    // MARK: Modes and gradients

    public func train(_ on: Bool = true) {
        visit(prefix: "") { _, m in m.training = on }
    }
    public func eval() { train(false) }

    /// Clears every parameter's gradient.
    public func zeroGrad() {
        for p in parameters() { p.zeroGrad() }
    }

    public var parameterCount: Int { parameters().reduce(0) { $0 + $1.count } }

    // MARK: Reflection helpers

    private func forEachStoredProperty(_ body: (String, Any) -> Void) {
        var mirror: Mirror? = Mirror(reflecting: self)
        var levels: [Mirror] = []
        while let m = mirror, m.subjectType != Module.self {
            levels.append(m)
            mirror = m.superclassMirror
        }
        // Superclass properties first, as PyTorch registers a base class's members before a subclass's.
        for m in levels.reversed() {
            for child in m.children {
                guard var label = child.label else { continue }
                if label.hasPrefix("_") { label.removeFirst() }
                body(label, child.value)
            }
        }
    }

    func visit(prefix: String, _ body: (String, Module) -> Void) {
        body(prefix, self)
        for (name, child) in namedChildren() { child.visit(prefix: prefix + name + ".", body) }
    }

    private func visitSlots(_ body: (TensorSlotBox) throws -> Void) throws {
        var modules: [Module] = []
        visit(prefix: "") { _, m in modules.append(m) }
        for m in modules {
            var boxes: [TensorSlotBox] = []
            m.forEachStoredProperty { _, value in if let b = value as? TensorSlotBox { boxes.append(b) } }
            for b in boxes { try body(b) }
        }
    }
}

protocol AnyBuffer { var isPersistent: Bool { get } }
extension Buffer: AnyBuffer { var isPersistent: Bool { persistent } }

/// camelCase → snake_case, leaving digits alone: `scaleShiftTable` → `scale_shift_table`, `toQ` → `to_q`,
/// `attn1` → `attn1`.
public func snakeCase(_ name: String) -> String {
    var out = ""
    for c in name {
        if c.isUppercase {
            if !out.isEmpty { out.append("_") }
            out.append(contentsOf: c.lowercased())
        } else {
            out.append(c)
        }
    }
    return out
}

/// What `load(stateDict:)` found.
public struct StateDictReport: Sendable, CustomStringConvertible {
    public var missing: [String] = []
    public var unexpected: [String] = []
    public var mismatched: [(key: String, expected: [Int], found: [Int])] = []
    public var isClean: Bool { missing.isEmpty && unexpected.isEmpty && mismatched.isEmpty }

    public var description: String {
        var lines: [String] = []
        if !missing.isEmpty { lines.append("missing keys: " + missing.joined(separator: ", ")) }
        if !unexpected.isEmpty { lines.append("unexpected keys: " + unexpected.joined(separator: ", ")) }
        if !mismatched.isEmpty {
            lines.append("mis-shaped keys: " + mismatched.map { "\($0.key) (expected \($0.expected), found \($0.found))" }
                .joined(separator: ", "))
        }
        return lines.isEmpty ? "all keys matched" : lines.joined(separator: "\n")
    }
}

public struct StateDictError: Error, CustomStringConvertible {
    public let report: StateDictReport
    public var description: String { "state dict does not match the model:\n\(report)" }
}
