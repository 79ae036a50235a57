/// FNV-1a 64 of the UTF-8 bytes, as 16 hex digits: a stable fingerprint of a config (not for security).
public func fnv1a64(_ text: String) -> String {
    var h: UInt64 = 0xcbf2_9ce4_8422_2325
    for byte in text.utf8 { h = (h ^ UInt64(byte)) &* 0x0000_0100_0000_01b3 }
    let hex = String(h, radix: 16)
    return String(repeating: "0", count: 16 - hex.count) + hex
}
