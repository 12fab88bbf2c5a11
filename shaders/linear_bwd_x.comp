#version 450
// Input gradient of a pointwise linear layer, fused with its neighbours:
// gx[b][i][n] (+)= act'(pre[b][i][n]) * (sum_o W[o][i] g[b][o][n]
//                                        + gate[i] * gg[b][i][n]).
// One invocation per (n, b); the COUT gradients at one position sit in registers.
// Defines: CIN, COUT; ACCUM (add to gx), DGELU (multiply by GELU'(pre)),
// GATE (add the soft-gate path).
// Bindings: 0 params (read), 1 g (read), 2 gx (write, or read-write with
// ACCUM), then as enabled: pre (read), gg (read).
// Push: batch, n, w_off, g_off.
#include "gelu.glsl"
layout(local_size_x = 64) in;
layout(std430, binding = 0) readonly buffer Pa { float prm[]; };
layout(std430, binding = 1) readonly buffer Gr { float g[]; };
layout(std430, binding = 2) buffer GX { float gx[]; };
#if DGELU
layout(std430, binding = 3) readonly buffer Pre { float pre[]; };
#endif
#if GATE
layout(std430, binding = 3 + DGELU) readonly buffer GG { float gg[]; };
#endif
layout(push_constant) uniform P { uint batch; uint n; uint w_off; uint g_off; } p;

void main()
{
    uint n = gl_GlobalInvocationID.x, b = gl_WorkGroupID.y;
    if (n >= p.n)
        return;
    float gv[COUT];
    uint gbase = b * COUT * p.n + n;
    for (uint o = 0; o < COUT; o++)
        gv[o] = g[gbase + o * p.n];
    uint xbase = b * CIN * p.n + n;
    for (uint i = 0; i < CIN; i++) {
        float acc = 0.0;
        for (uint o = 0; o < COUT; o++)
            acc = fma(prm[p.w_off + o * CIN + i], gv[o], acc);
        uint at = xbase + i * p.n;
#if GATE
        acc = fma(prm[p.g_off + i], gg[at], acc);
#endif
#if DGELU
        acc *= nb_gelu_grad(pre[at]);
#endif
#if ACCUM
        gx[at] += acc;
#else
        gx[at] = acc;
#endif
    }
}
