#!/usr/bin/python3
"""read_safetensors.py — an independent reader of the safetensors format (standard library + NumPy
only, no safetensors package), to confirm that files written by engine/checkpoint.cpp are real
safetensors files that other tools read.

Usage: /usr/bin/python3 tests/reference/read_safetensors.py FILE [--values N]
Prints the metadata, then one line per tensor: name, dtype, shape, and its first N values
(default 6) as NumPy reads them, plus a sum for a quick comparison with the C++ side.
Exits non-zero on any violation of the format it checks (the same rules the C++ loader applies).
"""
import json
import struct
import sys

import numpy as np

DTYPES = {"F32": np.dtype("<f4"), "F64": np.dtype("<f8"), "F16": np.dtype("<f2"),
          "I64": np.dtype("<i8"), "I32": np.dtype("<i4"), "U8": np.dtype("u1")}


def read(path):
    with open(path, "rb") as f:
        blob = f.read()
    if len(blob) < 8:
        raise ValueError("file too short for the header length")
    (n,) = struct.unpack("<Q", blob[:8])
    if n > len(blob) - 8:
        raise ValueError(f"header length {n} runs past the end of the file")
    header = json.loads(blob[8:8 + n].decode("utf-8"))
    data = blob[8 + n:]
    metadata = header.pop("__metadata__", {})
    spans = []
    tensors = {}
    for name, info in header.items():
        dtype = DTYPES[info["dtype"]]
        shape = tuple(info["shape"])
        begin, end = info["data_offsets"]
        count = int(np.prod(shape, dtype=np.int64)) if shape else 1
        if end - begin != count * dtype.itemsize or end > len(data):
            raise ValueError(f"bad data_offsets for {name}")
        spans.append((begin, end))
        tensors[name] = np.frombuffer(data[begin:end], dtype=dtype).reshape(shape)
    pos = 0
    for begin, end in sorted(spans):
        if begin != pos:
            raise ValueError("data buffer has a hole or an overlap")
        pos = end
    if pos != len(data):
        raise ValueError("trailing bytes after the last tensor")
    return metadata, tensors, n


def main():
    if len(sys.argv) < 2:
        print(__doc__)
        return 2
    shown = int(sys.argv[sys.argv.index("--values") + 1]) if "--values" in sys.argv else 6
    metadata, tensors, n = read(sys.argv[1])
    print(f"header: {n} bytes (data starts at byte {8 + n}, {'8-byte aligned' if (8 + n) % 8 == 0 else 'unaligned'})")
    print("metadata:", json.dumps(metadata, ensure_ascii=False, sort_keys=True))
    for name, t in tensors.items():
        flat = t.reshape(-1)
        with np.errstate(all="ignore"):
            total = float(flat.astype(np.float64).sum()) if flat.size else 0.0
        print(f"{name!r} {t.dtype} {list(t.shape)} first={flat[:shown].tolist()} sum={total!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
