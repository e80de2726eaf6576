#!/usr/bin/env python3
"""stopgrad <-> torchvision: a stopgrad ResNet checkpoint loads into torchvision with
strict=True and gives the same evaluation-mode logits, and torchvision's weights load into
stopgrad and give torchvision's logits. Exits 77 (CTest: skipped) without torch/torchvision.
usage: torchvision_interop.py build/examples/resnet_checkpoint WORKDIR"""
import json
import os
import struct
import subprocess
import sys

try:
    import torch
    import torchvision
except ImportError as e:
    print(f"SKIP: needs Debian's python3-torch and python3-torchvision ({e})")
    sys.exit(77)

DTYPES = {"F32": torch.float32, "F64": torch.float64, "I64": torch.int64}
NAMES = {v: k for k, v in DTYPES.items()}


def save(path, tensors):
    header, blobs, offset = {}, [], 0
    for name, t in tensors.items():
        data = t.detach().contiguous().numpy().tobytes()
        header[name] = {"dtype": NAMES[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def load(path):
    with open(path, "rb") as f:
        raw = f.read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        b, end = e["data_offsets"]
        out[name] = torch.frombuffer(bytearray(raw[8 + n + b:8 + n + end]), dtype=DTYPES[e["dtype"]]).reshape(e["shape"])
    return out


def main():
    tool, work = sys.argv[1], sys.argv[2]
    os.makedirs(work, exist_ok=True)
    torch.manual_seed(0)
    x = torch.randn(2, 3, 64, 64)
    save(f"{work}/input.safetensors", {"input": x})
    failures = 0
    for arch in ["resnet18", "resnet50"]:
        # stopgrad -> torchvision
        subprocess.run([tool, "init", "--arch", arch, "--seed", "3", "--out", f"{work}/sg.safetensors"], check=True)
        tv = getattr(torchvision.models, arch)()
        tv.load_state_dict(load(f"{work}/sg.safetensors"), strict=True)
        tv.eval()
        # Move BN statistics away from their defaults so evaluation exercises them.
        with torch.no_grad():
            for m in tv.modules():
                if isinstance(m, torch.nn.BatchNorm2d):
                    m.running_mean.uniform_(-0.1, 0.1)
                    m.running_var.uniform_(0.5, 1.5)
                    m.weight.uniform_(0.5, 1.5)
                    m.bias.uniform_(-0.1, 0.1)
        # torchvision -> stopgrad, and the logits of both.
        save(f"{work}/tv.safetensors", tv.state_dict())
        subprocess.run([tool, "logits", "--arch", arch, "--weights", f"{work}/tv.safetensors",
                        "--input", f"{work}/input.safetensors", "--out", f"{work}/logits.safetensors"], check=True)
        with torch.no_grad():
            expected = tv(x)
        got = load(f"{work}/logits.safetensors")["logits"]
        err = (got - expected).abs().max().item() / expected.abs().max().item()
        ok = got.shape == expected.shape and err < 1e-4
        failures += not ok
        print(f"{arch}: stopgrad checkpoint loads into torchvision (strict); torchvision weights in stopgrad "
              f"give logits within {err:.2e} (relative to max) of torchvision's: {'ok' if ok else 'FAILED'}")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
