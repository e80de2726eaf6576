#!/usr/bin/env python3
"""How far bf16 Winograd convolutions land from the exact result, by tile size: the evidence
behind stopgrad's choice of F(2x2, 3x3) for its AVX-512 BF16 kernels (docs/PERFORMANCE.md).

A larger tile F(m x m, 3x3) needs fewer multiplies per output ((m+2)^2 / m^2 against 9 for a
direct convolution), but the transformed tiles V = Bt d B and weights U = G g Gt have to be
rounded to bf16 before the vdpbf16ps products, and larger tiles have larger transform
constants, so that rounding grows in the output. This script simulates exactly that: bf16
inputs and weights (ReLU'd activations, He-initialised weights), V and U rounded to bf16 to
nearest even, products summed in float32, the output transform in float64 and its result
rounded to bf16 as the kernels write it; compared with the direct convolution of the same
bf16 inputs in float64. The matrices are built by Cook-Toom from the interpolation points
given (plus the point at infinity); each is first checked to be exact without rounding.

Needs numpy only (Debian python3-numpy; bench/compare_cpu.sh installs it with python3-torch).
Usage: python3 bench/winograd_bf16_error.py [--channels 64] [--size 24] [--batch 8]"""
import argparse

import numpy as np


def round_bf16(a):
    """float32 -> nearest bf16 (ties to even), returned as float64."""
    bits = np.asarray(a, dtype=np.float32).view(np.uint32).astype(np.uint64)
    bits = ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16) << 16
    return bits.astype(np.uint32).view(np.float32).astype(np.float64)


def cook_toom(m, r, points):
    """Bt, G, At of F(m, r) with interpolation points `points` and infinity."""
    n = m + r - 1
    assert len(points) == n - 1

    def evaluation(k):  # rows: a polynomial of k coefficients evaluated at each point
        e = np.zeros((n, k))
        for i, a in enumerate(points):
            e[i] = [a**j for j in range(k)]
        e[n - 1, k - 1] = 1  # at infinity: the leading coefficient
        return e

    # Linear convolution = interpolate(evaluate(g) * evaluate(d)); a correlation (what a
    # convolution layer computes) is its transpose.
    return np.linalg.inv(evaluation(n)).T, evaluation(r), evaluation(m).T


def winograd(x, w, m, bt, g, at, rounding):
    k, c = w.shape[:2]
    n, _, hp, _ = x.shape
    size, a = hp - 2, m + 2
    u = rounding(np.einsum("ij,kcjl,ml->kcim", g, w, g))
    y = np.zeros((n, k, size, size))
    for ty in range(0, size, m):
        for tx in range(0, size, m):
            d = x[:, :, ty : ty + a, tx : tx + a]
            v = rounding(np.einsum("ij,ncjl,ml->ncim", bt, d, bt))
            prod = np.einsum("kcim,ncim->nkim", u, v)
            if rounding is round_bf16:
                prod = prod.astype(np.float32).astype(np.float64)  # float32 accumulators
            y[:, :, ty : ty + m, tx : tx + m] = np.einsum("ij,nkjl,ml->nkim", at, prod, at)
    return rounding(y)  # the kernels write bf16 outputs


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--channels", type=int, default=64)
    parser.add_argument("--size", type=int, default=24, help="image side; a multiple of 2, 3 and 4")
    parser.add_argument("--batch", type=int, default=8)
    args = parser.parse_args()
    assert args.size % 12 == 0, "--size must be a multiple of 12 (tiles of 2, 3 and 4)"
    rng = np.random.default_rng(0)
    c, s = args.channels, args.size
    x = np.zeros((args.batch, c, s + 2, s + 2))  # zero padding of 1
    x[:, :, 1:-1, 1:-1] = round_bf16(np.maximum(rng.standard_normal((args.batch, c, s, s)), 0))
    w = round_bf16(rng.standard_normal((c, c, 3, 3)) * np.sqrt(2 / (9 * c)))
    exact = sum(
        np.einsum("nchw,kc->nkhw", x[:, :, i : i + s, j : j + s], w[:, :, i, j])
        for i in range(3)
        for j in range(3)
    )

    def report(name, multiplies, y):
        err = y - exact
        rms = np.sqrt((err**2).mean() / (exact**2).mean())
        print(f"{name:40s} {multiplies:5.2f}  {rms * 100:7.3f}%  {np.abs(err).max() / np.abs(exact).max() * 100:7.3f}%")

    print(f"batch {args.batch}, {c} -> {c} channels, {s}x{s}; error against the exact convolution")
    print(f"{'kernel':40s} mults  rms err  max err (of the largest output)")
    report("direct, bf16 output", 9.0, round_bf16(exact))
    for m, points in [(2, [0, 1, -1]), (3, [0, 1, -1, 2]), (3, [0, 1, -1, 0.5]),
                      (4, [0, 1, -1, 2, -2]), (4, [0, 1, -1, 2, -0.5])]:
        bt, g, at = cook_toom(m, 3, points)
        check = winograd(x, w, m, bt, g, at, lambda a: a)
        assert np.abs(check - exact).max() < 1e-9 * np.abs(exact).max(), f"F({m},3) is not exact"
        name = f"Winograd F({m}x{m},3x3) {points}"
        report(name, (m + 2) ** 2 / m**2, winograd(x, w, m, bt, g, at, round_bf16))


if __name__ == "__main__":
    main()
