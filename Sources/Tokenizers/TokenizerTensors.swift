import Foundation
import Torch

extension Tokenizer {
    /// A batch as int64 tensors `[texts.count, maxLength]`: input ids and attention mask, ready for a text encoder.
    public func encodeTensors(_ texts: [String], maxLength: Int, padId: Int? = nil) throws
        -> (ids: Tensor, attentionMask: Tensor) {
        let batch = try encodeBatch(texts, maxLength: maxLength, padId: padId)
        let shape = [texts.count, maxLength]
        return (try Tensor(batch.ids.flatMap { $0.map(Int64.init) }, shape: shape),
                try Tensor(batch.attentionMask.flatMap { $0.map(Int64.init) }, shape: shape))
    }
}
