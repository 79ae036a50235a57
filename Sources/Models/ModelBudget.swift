import Core

/// The most parameter and buffer elements a model built from a config file may hold: 2^32 (16 GiB of float32), several
/// times the largest model DiTKit is meant for (PixArt-XL, 0.6 billion). A config beyond it is a typo or a damaged
/// file: it is refused, naming the sizes that cause it, before anything is allocated (libtorch cannot report a failed
/// allocation inside a layer's initialiser as an error).
public enum ModelBudget {
    public static let maxElements = Double(1 << 32)

    /// Reports `elements` (an upper bound of what the config allocates) when it is over the budget; skipped when one
    /// of `keys` already has a problem, so the estimate only ever reads checked sizes.
    static func check<Key>(_ elements: @autoclosure () -> Double, _ rules: ConfigRules<Key>, keys: [Key]) {
        guard rules.valid(keys) else { return }
        let n = elements()
        if n > maxElements {
            rules.problems.report("", String(format: "the model would hold about %.3g parameters (%.0f GiB in float32), "
                + "over DiTKit's limit of %.3g: check ", n, n * 4 / Double(1 << 30), maxElements)
                + keys.map(\.stringValue).joined(separator: ", "))
        }
    }
}
