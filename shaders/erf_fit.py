#!/usr/bin/python3
"""Derives the rational erf of shaders/gelu.glsl and prints its errors.

erf(x) ~ x P(x^2) / Q(x^2) on 0 <= x <= 3.9, P and Q of degree 5, Q(0) = 1.
The fit linearises the ratio (x P - erf Q = 0, weighted by 1 / Q of the
previous step) and reweights every point by the square root of its error
(Lawson's iteration toward the minimax fit). It keeps the step with the
smallest largest error, rounds the coefficients to fp32, and checks the
result evaluated in fp32 (Horner with the same operation order as the
shader) against math.erf on [-6, 6]. Needs numpy.

Usage: /usr/bin/python3 shaders/erf_fit.py
"""
import math

import numpy as np

CLAMP, NP, NQ = 3.9, 5, 5


def fit(iters=60):
    x = np.unique(np.concatenate([np.linspace(0, CLAMP, 6000),
                                  CLAMP * (1 - np.cos(np.linspace(0, np.pi / 2, 3000)))]))
    f = np.array([math.erf(v) for v in x])
    t = x * x
    w, q, best = np.ones_like(x), np.ones_like(x), None
    for _ in range(iters):
        cols = [x * t**k for k in range(NP + 1)] + [-f * t**k for k in range(1, NQ + 1)]
        a = np.stack(cols, 1)
        sw = w / np.abs(q)
        coef = np.linalg.lstsq(a * sw[:, None], f * sw, rcond=None)[0]
        p_c, q_c = coef[:NP + 1], np.concatenate([[1.0], coef[NP + 1:]])
        q = np.polyval(q_c[::-1], t)
        err = x * np.polyval(p_c[::-1], t) / q - f
        if best is None or np.abs(err).max() < best[0]:
            best = (np.abs(err).max(), p_c, q_c)
        w = w * np.sqrt(np.abs(err)) + 1e-30
        w /= w.max()
    return best


def erf32(p_c, q_c, xs):
    f32 = np.float32
    c = np.clip(f32(xs), f32(-CLAMP), f32(CLAMP))
    t = c * c
    p, q = f32(p_c[-1]), f32(q_c[-1])
    for k in p_c[-2::-1]:
        p = f32(p * t + k)
    for k in q_c[-2::-1]:
        q = f32(q * t + k)
    return c * p / q


def main():
    exact_err, p_c, q_c = fit()
    p_c, q_c = np.float32(p_c), np.float32(q_c)
    xs = np.linspace(-6, 6, 200001)
    ref = np.array([math.erf(v) for v in xs])
    print("P:", " ".join("%.9e" % v for v in p_c))
    print("Q:", " ".join("%.9e" % v for v in q_c))
    print("largest error: %.2e exact arithmetic, %.2e in fp32" % (exact_err, np.abs(erf32(p_c, q_c, xs) - ref).max()))


if __name__ == "__main__":
    main()
