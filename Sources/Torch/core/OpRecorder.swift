import CTorch

/// The ATen operators a closure dispatches on this thread, in order, with the dtypes of their tensor inputs and
/// outputs (libtorch's RecordFunction callbacks). Under autocast an operator shows up twice: as called, then as
/// autocast re-dispatches it with cast inputs. The fp16 audit compares this with what PyTorch does.
public enum OpRecorder {
    public struct Op: Equatable, Sendable, CustomStringConvertible {
        public let name: String
        /// Each argument's dtype ("Half", "Float", …), or "-" for a non-tensor.
        public let inputs: [String]
        public var outputs: [String]
        public var description: String {
            "\(name)(\(inputs.joined(separator: ", "))) -> \(outputs.joined(separator: ", "))"
        }
    }

    public static func record<R>(_ body: () throws -> R) throws -> (result: R, ops: [Op]) {
        try check(ct_op_recording_start())
        var result: Result<R, Error>
        do { result = .success(try body()) } catch { result = .failure(error) }
        guard let text = ct_op_recording_stop() else { throw TorchError.last() }
        defer { ct_free_string(text) }
        var ops: [Op] = [], open: [Int] = []
        for line in String(cString: text).split(separator: "\n") {
            let fields = line.split(separator: "\t", omittingEmptySubsequences: false)
            let name = String(fields[0]), types = fields.count > 1 && !fields[1].isEmpty
                ? fields[1].split(separator: ",").map(String.init) : []
            if name.hasPrefix("->") {
                // Calls nest, so a return closes the innermost open call of that name.
                if let i = open.lastIndex(where: { ops[$0].name == name.dropFirst(2) }) {
                    ops[open[i]].outputs = types
                    open.remove(at: i)
                }
            } else {
                open.append(ops.count)
                ops.append(Op(name: name, inputs: types, outputs: []))
            }
        }
        return (try result.get(), ops)
    }
}
