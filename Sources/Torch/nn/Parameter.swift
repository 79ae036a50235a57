import CTorch

/// A value a `@Parameter` or `@Buffer` can hold: a tensor, or an optional one (`bias: Tensor?`).
public protocol TensorSlot {
    var slotTensor: Tensor? { get }
    init(slotTensor: Tensor?)
}
extension Tensor: TensorSlot {
    public var slotTensor: Tensor? { self }
    public convenience init(slotTensor: Tensor?) {
        guard let t = slotTensor else { preconditionFailure("a non-optional tensor slot cannot be cleared") }
        self.init(owning: t.detachedHandle())
    }
}
extension Optional: TensorSlot where Wrapped == Tensor {
    public var slotTensor: Tensor? { self }
    public init(slotTensor: Tensor?) { self = slotTensor }
}

extension Tensor {
    /// A new handle to the same tensor (so a slot shares, not copies, the data it is given).
    func detachedHandle() -> OpaquePointer {
        guard let h = ct_alias(handle) else { preconditionFailure("libtorch could not alias a tensor") }
        return h
    }
}

/// Type-erased view of `@Parameter` / `@Buffer` storage, used by `Module` to discover them by reflection.
protocol TensorSlotBox: AnyObject {
    var tensor: Tensor? { get }
    var key: String? { get }
}

/// A trainable tensor of a `Module`. The stored tensor is a leaf with `requiresGrad` on, like torch.nn.Parameter.
/// Its state-dict key is the property name in snake_case unless `key` names it (for diffusers names such as
/// `scale_shift_table` the default already matches).
@propertyWrapper
public final class Parameter<Value: TensorSlot>: TensorSlotBox {
    private var value: Value
    public let key: String?

    public init(wrappedValue: Value, _ key: String? = nil) {
        self.key = key
        self.value = Value(slotTensor: Parameter.leaf(wrappedValue.slotTensor))
    }

    public var wrappedValue: Value {
        get { value }
        set { value = Value(slotTensor: Parameter.leaf(newValue.slotTensor)) }
    }

    var tensor: Tensor? { value.slotTensor }

    private static func leaf(_ t: Tensor?) -> Tensor? {
        guard let t else { return nil }
        if t.isLeaf && t.requiresGrad { return t }
        guard let d = try? t.detach(), (try? d.requiresGrad(d.dtype.isFloatingPoint)) != nil else {
            preconditionFailure("libtorch could not make a parameter leaf")
        }
        return d
    }
}

/// A non-trainable tensor of a `Module` that belongs to its state (torch's register_buffer).
/// `persistent: false` keeps it out of `stateDict()`.
@propertyWrapper
public final class Buffer<Value: TensorSlot>: TensorSlotBox {
    private var value: Value
    public let key: String?
    public let persistent: Bool

    public init(wrappedValue: Value, _ key: String? = nil, persistent: Bool = true) {
        self.value = wrappedValue
        self.key = key
        self.persistent = persistent
    }

    public var wrappedValue: Value {
        get { value }
        set { value = newValue }
    }

    var tensor: Tensor? { value.slotTensor }
}

/// A child module whose state-dict key differs from the property name (diffusers' `linear_1`, say).
@propertyWrapper
public final class Child<M: Module> {
    public var wrappedValue: M
    public let key: String
    public init(wrappedValue: M, _ key: String) {
        self.wrappedValue = wrappedValue
        self.key = key
    }
}

protocol ChildBox { var module: Module { get }; var key: String { get } }
extension Child: ChildBox { var module: Module { wrappedValue } }
