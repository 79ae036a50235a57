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

    /// What a closure costs: ATen ops dispatched (those it calls and those they call, forward and backward alike)
    /// and host synchronisations — scalar reads (`item()`), copies between host and device that the host waits for,
    /// outputs whose shape depends on the data, and host reads of tensor data. Counted the same on the CPU, where
    /// nothing waits, as on a GPU, where each of them stalls the host until the device has caught up.
    public struct Count: Sendable, Equatable {
        /// Every ATen op, also those an op calls inside itself.
        public let ops: Int
        /// The ops called from outside any other op: what the program (and autograd) asked for. On a GPU a
        /// multi-tensor kernel is one of these whatever the number of tensors; the CPU runs it as a loop inside.
        public let calls: Int
        public let syncs: Int
        /// One "op: reason" entry per synchronisation, in order ("outer > inner" when an op made it inside another).
        public let syncSites: [String]

        /// The sites once each, with how often they occurred, in order of first occurrence.
        public var syncSummary: String {
            var order: [String] = [], times: [String: Int] = [:]
            for site in syncSites {
                if times[site] == nil { order.append(site) }
                times[site, default: 0] += 1
            }
            return order.map { times[$0]! > 1 ? "\($0) ×\(times[$0]!)" : $0 }.joined(separator: "; ")
        }
    }

    /// Runs `body`, whose host reads are of data made on the host (a permutation drawn by a CPU generator): on a GPU
    /// they wait for nothing, so `count` leaves them out.
    public static func hostData<R>(_ body: () throws -> R) rethrows -> R {
        ct_op_counting_host_side(true)
        defer { ct_op_counting_host_side(false) }
        return try body()
    }

    public static func count<R>(_ body: () throws -> R) throws -> (result: R, count: Count) {
        try check(ct_op_counting_start())
        var result: Result<R, Error>
        do { result = .success(try body()) } catch { result = .failure(error) }
        var ops: Int64 = 0, calls: Int64 = 0, syncs: Int64 = 0
        guard let text = ct_op_counting_stop(&ops, &calls, &syncs) else { throw TorchError.last() }
        defer { ct_free_string(text) }
        let sites = String(cString: text).split(separator: "\n").map { $0.split(separator: "\t").joined(separator: ": ") }
        return (try result.get(), Count(ops: Int(ops), calls: Int(calls), syncs: Int(syncs), syncSites: sites))
    }
}
