"""Helpers shared by the fixture scripts."""
import json
import struct


def canonical(path):
    """safetensors writes __metadata__ in hash-map order; sort it so every run writes the same bytes."""
    with open(path, "rb") as f:
        data = f.read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    if "__metadata__" in header:
        header["__metadata__"] = dict(sorted(header["__metadata__"].items()))
    text = json.dumps(header, separators=(",", ":")).encode()
    assert len(text) <= n, "canonical header grew"
    with open(path, "wb") as f:
        f.write(data[:8] + text + b" " * (n - len(text)) + data[8 + n:])
