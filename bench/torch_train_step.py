#!/usr/bin/env python3
"""The same training step as bench/train_step (supervised, SimSiam or SimSiam-GSG) in PyTorch (Debian python3-torch, CPU): the
benchmark peer, never a dependency of stopgrad. CIFAR ResNet-18 (3x3 stride-1 stem, no
max-pool, torchvision's BasicBlock layout), channels-last, SGD with momentum. As fast as a user
would run it: torch.set_num_threads(threads) and OpenBLAS's OpenMP build installed.
The last line is "images/s: <number>"."""
import argparse
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class BasicBlock(nn.Module):
    def __init__(self, cin, planes, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = None
        if stride != 1 or cin != planes:
            self.downsample = nn.Sequential(nn.Conv2d(cin, planes, 1, stride, bias=False), nn.BatchNorm2d(planes))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + (self.downsample(x) if self.downsample is not None else x))


class CifarResNet18(nn.Module):
    def __init__(self, width, num_classes):
        super().__init__()
        self.conv1 = nn.Conv2d(3, width, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        layers, cin = [], width
        for stage in range(4):
            planes = width << stage
            blocks = [BasicBlock(cin, planes, 1 if stage == 0 else 2), BasicBlock(planes, planes, 1)]
            layers.append(nn.Sequential(*blocks))
            cin = planes
        self.layer1, self.layer2, self.layer3, self.layer4 = layers
        self.fc = nn.Linear(cin, num_classes)

    def features(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)

    def forward(self, x):
        return self.fc(self.features(x))


class SimSiam(nn.Module):
    """Backbone + 3-layer projector (hidden width = the backbone's feature width, last BN without
    affine) + bottleneck predictor, as stopgrad's defaults (and the official code's)."""

    def __init__(self, width, dim, pred_dim):
        super().__init__()
        self.backbone = CifarResNet18(width, 10)
        f = width * 8
        self.projector = nn.Sequential(
            nn.Linear(f, f, bias=False), nn.BatchNorm1d(f), nn.ReLU(),
            nn.Linear(f, f, bias=False), nn.BatchNorm1d(f), nn.ReLU(),
            nn.Linear(f, dim, bias=False), nn.BatchNorm1d(dim, affine=False))
        self.predictor = nn.Sequential(nn.Linear(dim, pred_dim, bias=False), nn.BatchNorm1d(pred_dim), nn.ReLU(),
                                       nn.Linear(pred_dim, dim))

    def encode(self, x):
        return self.projector(self.backbone.features(x))


def D(p, z):
    return -F.cosine_similarity(p, z.detach(), dim=1).mean()


def simsiam_loss(model, z1, z2):
    return 0.5 * D(model.predictor(z1), z2) + 0.5 * D(model.predictor(z2), z1)


def gsg_loss(model, z, partner_views):
    """Guided stop-gradient on the projections z of each view's batch: image i's crops z[0],
    z[1] and its permuted partner's crops z[partner_views[0]], z[partner_views[1]] (crops 3-4
    with four views, the partner's own views 1-2 with two); the closest cross-image pair (on
    detached projections) are the predictor's sources, each image's other crop the target. As
    the official code, the predictor runs on each view's whole batch and the loss picks rows of
    its outputs."""
    n = z[0].shape[0]
    perm = torch.randperm(n, device=z[0].device)
    p = [model.predictor(zv) for zv in z]
    z1, z2, p1, p2 = z[0], z[1], p[0], p[1]
    b1, b2 = (z[v][perm] for v in partner_views)
    q1, q2 = (p[v][perm] for v in partner_views)
    with torch.no_grad():
        d = torch.stack([(z1 - b1).pow(2).sum(1), (z1 - b2).pow(2).sum(1),
                         (z2 - b1).pow(2).sum(1), (z2 - b2).pow(2).sum(1)], 1)
        best = d.argmin(1)
        a, b = (best // 2).bool().unsqueeze(1), (best % 2).bool().unsqueeze(1)
    src_i, tgt_i = torch.where(a, p2, p1), torch.where(a, z1, z2)
    src_j, tgt_j = torch.where(b, q2, q1), torch.where(b, b1, b2)
    return 0.5 * D(src_i, tgt_i) + 0.5 * D(src_j, tgt_j)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--method", default="supervised", choices=["supervised", "simsiam", "simsiam-gsg"])
    p.add_argument("--gsg-views", type=int, default=4, choices=[2, 4],
                   help="GSG: 4 crops per image (the paper's code) or 2 (stopgrad's variant)")
    p.add_argument("--dim", type=int, default=2048)
    p.add_argument("--pred-dim", type=int, default=512)
    p.add_argument("--width", type=int, default=64)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--precision", default="fp32", choices=["fp32", "bf16"],
                   help="bf16: autocast to bfloat16 (the fast PyTorch setting on GPUs)")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    a = p.parse_args()
    if a.device == "cuda" and not torch.cuda.is_available():
        p.exit(2, "torch_train_step: --device cuda, but PyTorch sees no CUDA device\n")
    dev = torch.device(a.device)
    if a.device == "cuda":
        torch.backends.cudnn.benchmark = True  # what a user tuning for speed turns on

    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    if a.method == "supervised":
        model = CifarResNet18(a.width, 10).to(dev, memory_format=torch.channels_last)
    else:
        model = SimSiam(a.width, a.dim, a.pred_dim).to(dev, memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
    x = torch.randn(a.batch, 3, 32, 32).to(dev, memory_format=torch.channels_last)
    x2 = torch.randn(a.batch, 3, 32, 32).to(dev, memory_format=torch.channels_last)
    x3 = torch.randn(a.batch, 3, 32, 32).to(dev, memory_format=torch.channels_last)
    x4 = torch.randn(a.batch, 3, 32, 32).to(dev, memory_format=torch.channels_last)
    y = torch.randint(0, 10, (a.batch,)).to(dev)

    def step_loss():
        with torch.autocast(a.device, dtype=torch.bfloat16, enabled=a.precision == "bf16"):
            return step_loss_fp32()

    def step_loss_fp32():
        if a.method == "supervised":
            return F.cross_entropy(model(x), y)
        z1, z2 = model.encode(x), model.encode(x2)
        if a.method == "simsiam":
            return simsiam_loss(model, z1, z2)
        if a.gsg_views == 2:
            return gsg_loss(model, [z1, z2], partner_views=(0, 1))
        return gsg_loss(model, [z1, z2, model.encode(x3), model.encode(x4)], partner_views=(2, 3))

    times = []
    for s in range(a.warmup + a.steps):
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss = step_loss()
        loss.backward()
        opt.step()
        if a.device == "cuda":
            torch.cuda.synchronize()
        dt = time.perf_counter() - t0
        if s >= a.warmup:
            times.append(dt)
        print(f"step {s:3d}  {dt * 1e3:8.1f} ms  loss {loss.item():.4f}{'  (warm-up)' if s < a.warmup else ''}")
    median = statistics.median(times)
    print(f"\nPyTorch {torch.__version__} {a.method} width {a.width} batch {a.batch}, {a.device}, "
          f"{a.precision}, {a.threads} threads: "
          f"median {median * 1e3:.1f} ms/step")
    print(f"images/s: {a.batch / median:.2f}")


if __name__ == "__main__":
    main()
