#!/usr/bin/env python3
"""What data-parallel training costs at N ranks on a network, from one machine's measurement.

Weak scaling: every rank keeps its per-rank batch, so its compute stays what bench/train_step
measured under mpirun on one machine (the step time less its "collective" time). Communication
per step, with the algorithms Open MPI uses for each size (alpha = latency per message,
beta = bandwidth):
  gradient all-reduce, S bytes, ring:      2 (N-1) alpha + 2 (N-1)/N S / beta
  SyncBatchNorm, k small calls of s bytes: all-reduce (backward) log2(N) (alpha + s / beta),
                                           all-gather (forward)  log2(N) alpha + (N-1) s / beta
SyncBatchNorm's calls sit on the critical path; of the gradient all-reduce only the part that did
not overlap backward counts (--exposed: 1 with one bucket, the measured wait / ring time with
several). Defaults: SimSiam, ResNet-18 width 32, 64 images per rank, measured on an AMD EPYC
(Zen 3), 2 ranks x 1 thread (docs/PERFORMANCE.md); network 25 Gb/s, 20 us per message.
  python3 bench/scaling_model.py [--compute-ms 1590] [--gradient-mb 22.21] [--syncbn-calls 96]
                                 [--syncbn-mb 0.351] [--gbps 25] [--latency-us 20] [--exposed 1]
"""
import argparse
import math

p = argparse.ArgumentParser()
p.add_argument("--compute-ms", type=float, default=1590.0,
               help="a rank's step without its communication (ms)")
p.add_argument("--gradient-mb", type=float, default=22.21, help="gradients all-reduced per step")
p.add_argument("--syncbn-calls", type=int, default=96, help="SyncBatchNorm collectives per step")
p.add_argument("--syncbn-mb", type=float, default=0.351, help="their payload per step and rank")
p.add_argument("--gbps", type=float, default=25.0, help="network bandwidth, Gbit/s")
p.add_argument("--latency-us", type=float, default=20.0, help="latency per message, us")
p.add_argument("--exposed", type=float, default=1.0,
               help="share of the gradient all-reduce not hidden behind backward")
p.add_argument("--ranks", type=int, nargs="+", default=[2, 8, 64])
a = p.parse_args()

beta = a.gbps * 1e9 / 8  # bytes/s
alpha = a.latency_us * 1e-6
S = a.gradient_mb * 1e6
half = a.syncbn_calls // 2  # forward all-gathers and backward all-reduces, one each per layer
s = a.syncbn_mb * 1e6 / max(a.syncbn_calls, 1)
compute = a.compute_ms * 1e-3
print(f"compute {a.compute_ms:.0f} ms/step per rank; gradients {a.gradient_mb:.2f} MB, "
      f"SyncBatchNorm {a.syncbn_calls} calls of {s / 1e3:.1f} kB; "
      f"network {a.gbps:g} Gb/s, {a.latency_us:g} us/message")
print(f"{'ranks':>5} {'grad ring':>10} {'on wire':>9} {'SyncBN':>8} {'step':>9} {'efficiency':>10}")
for n in a.ranks:
    ring = 2 * (n - 1) * alpha + 2 * (n - 1) / n * S / beta
    steps = math.ceil(math.log2(n))
    syncbn = half * steps * (alpha + s / beta) + half * (steps * alpha + (n - 1) * s / beta)
    step = compute + a.exposed * ring + syncbn
    wire = 2 * (n - 1) / n * S + half * (steps * s + (n - 1) * s)
    print(f"{n:>5} {ring * 1e3:>8.1f}ms {wire / 1e6:>7.1f}MB {syncbn * 1e3:>6.1f}ms "
          f"{step * 1e3:>7.0f}ms {compute / step:>9.1%}")
