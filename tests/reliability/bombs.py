"""Small files that declare large costs (one builder per size bomb), shared by the catalog and the tests.

Each builder writes a file of a few KB or MB under ``tmp`` whose naive loading would take gigabytes, and returns
its path. Used by ``catalog.py`` (CLI rows, docs/errors.md) and ``test_bombs.py`` (peak memory in a child)."""

from __future__ import annotations

import io
import pickle
import struct
import zipfile
import zlib
from pathlib import Path

import numpy as np


def slim_layer_bomb(tmp: Path) -> Path:
    """slim.pt whose layer arguments ask for a 100000 x 100000 Linear (40 GB)."""
    import torch
    import torch.nn as nn

    from eegdeploy.models.portable import to_portable

    obj = to_portable(nn.Sequential(nn.Flatten(), nn.Linear(6, 2)), meta={"input": {"shape": [6]}})
    obj["modules"]["1"]["args"].update(in_features=100000, out_features=100000)
    torch.save(obj, tmp / "slim.pt")
    return tmp / "slim.pt"


def slim_repeat_bomb(tmp: Path) -> Path:
    """slim.pt whose graph repeats the input 60000 x 60000 times during the load-time input check."""
    import torch
    import torch.nn as nn

    from eegdeploy.models.portable import to_portable

    class Rep(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(6, 2)

        def forward(self, x):
            return self.fc(x.repeat(1, 1).mean(0, keepdim=True).expand(x.size(0), 6))

    obj = to_portable(Rep(), meta={"input": {"shape": [6]}})
    for n in obj["graph"]:
        if n["target"] == "repeat":
            n["args"] = {"tuple": [n["args"]["tuple"][0], 60000, 60000]}
    torch.save(obj, tmp / "slim.pt")
    return tmp / "slim.pt"


def deflated_zeros(n_blocks: int, block: int = 1 << 24) -> tuple[bytes, int, int]:
    """A genuine raw-deflate stream of ``n_blocks * block`` zero bytes, built in milliseconds: one flushed
    (dictionary-free, byte-aligned) compressed block repeated, then an empty final block. (stream, crc32, size)."""
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    chunk = c.compress(bytes(block)) + c.flush(zlib.Z_FULL_FLUSH)
    end = zlib.compressobj(1, zlib.DEFLATED, -15).flush(zlib.Z_FINISH)
    crc = 0
    zeros = bytes(block)
    for _ in range(n_blocks):
        crc = zlib.crc32(zeros, crc)
    return chunk * n_blocks + end, crc, n_blocks * block


def write_zip(path: Path, members: list[tuple[str, bytes, int, int, int]]) -> Path:
    """A zip from members (name, data as stored, crc32, uncompressed size, method 0 stored / 8 deflated)."""
    local, central, offset = b"", b"", 0
    for name, data, crc, size, method in members:
        n = name.encode()
        head = struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, method, 0, 0, crc, len(data), size, len(n), 0) + n
        central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, method, 0, 0, crc, len(data), size,
                               len(n), 0, 0, 0, 0, 0, offset) + n
        local += head + data
        offset += len(head) + len(data)
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(members), len(members), len(central), offset, 0)
    path.write_bytes(local + central + end)
    return path


def pt_zip_bomb(tmp: Path) -> Path:
    """A .pt whose zip member inflates to 1 GB of zeros from about 1 MB."""
    pkl = pickle.dumps({"a": 1})
    data, crc, size = deflated_zeros(64)
    return write_zip(tmp / "bomb.pt", [("archive/data.pkl", pkl, zlib.crc32(pkl), len(pkl), 0),
                                       ("archive/data/0", data, crc, size, 8)])


def npz_bomb(tmp: Path) -> Path:
    """An .npz (as savez_compressed writes it) whose X inflates to 1 GB of zeros from about 1 MB."""
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": "<f4", "fortran_order": False, "shape": (8192, 1, 32, 1024)})
    head = buf.getvalue()
    body, crc, size = deflated_zeros(64)
    # the header is deflated ahead of the zeros as its own flushed block
    c = zlib.compressobj(1, zlib.DEFLATED, -15)
    first = c.compress(head) + c.flush(zlib.Z_FULL_FLUSH)
    y = _npy(np.arange(8192) % 2)
    return write_zip(tmp / "bomb.npz", [("X.npy", first + body, _crc_after(head, size), len(head) + size, 8),
                                        ("y.npy", y, zlib.crc32(y), len(y), 0)])


def _crc_after(head: bytes, size: int) -> int:
    crc = zlib.crc32(head)
    zeros = bytes(1 << 24)
    for _ in range(size // len(zeros)):
        crc = zlib.crc32(zeros, crc)
    return crc


def npz_header_bomb(tmp: Path) -> Path:
    """An .npz whose stored X member declares shape (10**6, 32, 1024) but holds a few bytes."""
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": "<f4", "fortran_order": False, "shape": (10**6, 1, 32, 128)})
    with zipfile.ZipFile(tmp / "hdr.npz", "w") as z:
        z.writestr("X.npy", buf.getvalue() + bytes(64))
        z.writestr("y.npy", _npy(np.arange(4) % 2))
    return tmp / "hdr.npz"


def _npy(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, a)
    return buf.getvalue()


def deap_memo_bomb(tmp: Path) -> Path:
    """A DEAP sXX.dat whose 'data' is a list referencing one 8064-sample row 40 x 40 x 300 times (pickle memo):
    a few KB on disk, 3.9 GB once turned into an array."""
    folder = tmp / "deap"
    folder.mkdir()
    row = np.zeros(8064)
    trial = [row] * 40
    data = [[trial] * 40] * 300
    with open(folder / "s01.dat", "wb") as f:
        pickle.dump({"data": data, "labels": np.ones((300, 4))}, f, protocol=2)
    return folder


def onnx_dims_bomb(tmp: Path) -> Path:
    """An ONNX file (a few hundred bytes) declaring an Identity over input [batch, 100000, 100000]."""
    import onnx
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 100000, 100000])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 100000, 100000])
    g = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "g", [x], [y])
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), tmp / "big.onnx")
    return tmp / "big.onnx"


def deep_toml(tmp: Path) -> Path:
    """A profile whose model kwargs nest 5000 arrays deep (tomllib recurses once per level)."""
    (tmp / "deep.toml").write_text('name = "deep"\n[model]\narch = "torcheeg:CCNN"\nkwargs = { a = ' + "[" * 5000
                                   + "]" * 5000 + " }\n[input]\nshape = [4, 9, 9]\n")
    return tmp / "deep.toml"


def deep_json(tmp: Path) -> Path:
    """A bench JSON nesting 100000 lists deep."""
    (tmp / "deep.json").write_text("[" * 100000 + "]" * 100000)
    return tmp / "deep.json"


def aten_slim(tmp: Path, name: str = "slim.pt", edit=None) -> Path:
    """A valid ATen-kind slim.pt written by hand (no torch.export): y = linear(relu(x), w, b), input [B, 6]; ``edit``
    turns it into a crafted file."""
    import torch

    obj = {"format": "eegdeploy-portable", "version": 2, "kind": "aten",
           "input": {"shape": [None, 6], "dtype": "float32"},
           "graph": [{"op": "input", "name": "x", "target": "0", "args": {"tuple": []}, "kwargs": {"dict": {}}},
                     {"op": "tensor", "name": "w", "target": "params:fc.weight", "args": {"tuple": []},
                      "kwargs": {"dict": {}}},
                     {"op": "tensor", "name": "b", "target": "params:fc.bias", "args": {"tuple": []},
                      "kwargs": {"dict": {}}},
                     {"op": "call", "name": "h", "target": "aten.relu.default", "args": {"tuple": [{"node": "x"}]},
                      "kwargs": {"dict": {}}},
                     {"op": "call", "name": "y", "target": "aten.linear.default",
                      "args": {"tuple": [{"node": "h"}, {"node": "w"}, {"node": "b"}]}, "kwargs": {"dict": {}}},
                     {"op": "output", "name": "output", "target": "output", "args": {"tuple": [{"node": "y"}]},
                      "kwargs": {"dict": {}}}],
           "params": {"fc.weight": torch.ones(2, 6) / 6, "fc.bias": torch.tensor([0.5, -0.5])}, "buffers": {},
           "constants": {}, "meta": {"input": {"shape": [6]}, "class_names": ["a", "b"]}}
    if edit is not None:
        edit(obj)
    torch.save(obj, tmp / name)
    return tmp / name


def slim_aten_repeat_bomb(tmp: Path) -> Path:
    """ATen slim.pt (2 KB) whose relu step is replaced by repeat(x, [60000, 60000]): 2.2e10 values per sample."""
    def edit(obj):
        obj["graph"][3].update(target="aten.repeat.default", args={"tuple": [{"node": "x"}, [60000, 60000]]})
    return aten_slim(tmp, edit=edit)


def slim_aten_fanout_bomb(tmp: Path) -> Path:
    """ATen slim.pt (a few KB) whose arguments share one list 4096 times at each of 8 levels: 4096^8 paths to walk."""
    def edit(obj):
        shared: list = [0]
        for _ in range(8):
            shared = [shared] * 4096
        obj["graph"][3]["kwargs"] = {"dict": {"inplace": shared}}
    return aten_slim(tmp, edit=edit)


def slim_aten_op(tmp: Path, target: str = "__import__('pathlib').Path('PWNED').write_text('ran')") -> Path:
    """ATen slim.pt whose relu step names ``target`` (Python code by default) instead of a whitelisted op."""
    return aten_slim(tmp, edit=lambda obj: obj["graph"][3].update(target=target))


def slim_aten_path(tmp: Path) -> Path:
    """ATen slim.pt whose tensor names are paths outside the model."""
    def edit(obj):
        obj["params"]["../../PWNED"] = obj["params"].pop("fc.weight")
        obj["graph"][1]["target"] = "params:../../PWNED"
    return aten_slim(tmp, edit=edit)
