#version 450
// Input gradient of a pointwise linear layer, fused with its neighbours:
// gx[b][i][n] (+)= act'(pre[b][i][n]) * (sum_o W[o][i] g[b][o][n]
//                                        + gate[i] * gg[b][i][n]).
// One invocation per (4 positions, trace); the COUT gradients there sit in
// registers as vec4 (vec.glsl). The length must be a multiple of 4.
// Defines: CIN, COUT; ACCUM (add to gx), DGELU (multiply by GELU'(pre)),
// GATE (add the soft-gate path; the layer is then square, CIN = COUT); UBO,
// BIAS (the layout of the layer's
// uniform buffer, as in linear_fwd).
// Bindings: 0 weights (as in linear_fwd), 1 g (read), 2 gx (write, or
// read-write with ACCUM), then as enabled: pre (read), gg (read).
// Push: batch, n, w_off, g_off (unused when UBO = 1).
#include "gelu.glsl"
#include "vec.glsl"
#define B_OFF_UNUSED
#include "weights.glsl"
layout(local_size_x = 64) in;
layout(std430, binding = 1) readonly buffer Gr { VT g[]; };
layout(std430, binding = 2) buffer GX { VT gx[]; };
#if DGELU
layout(std430, binding = 3) readonly buffer Pre { VT pre[]; };
#endif
#if GATE
layout(std430, binding = 3 + DGELU) readonly buffer GG { VT gg[]; };
#endif
layout(push_constant) uniform P { uint batch; uint n; uint w_off; uint g_off; } p;

void main()
{
    uint n4 = p.n / VEC, q = gl_GlobalInvocationID.x, b = gl_WorkGroupID.y;
    if (q >= n4)
        return;
    VT gv[COUT];
    uint gbase = b * COUT * n4 + q;
    for (uint o = 0; o < COUT; o++)
        gv[o] = g[gbase + o * n4];
    uint xbase = b * CIN * n4 + q;
    for (uint i = 0; i < CIN; i++) {
        VT acc = VT(0.0);
        for (uint o = 0; o < COUT; o++)
            acc = fma(VT(WT(W_OFF + o * CIN + i)), gv[o], acc);
        uint at = xbase + i * n4;
#if GATE
        acc = fma(VT(WT(G_OFF + i)), gg[at], acc);
#endif
#if DGELU
        acc *= gelu_grad_v(pre[at]);
#endif
#if ACCUM
        gx[at] += acc;
#else
        gx[at] = acc;
#endif
    }
}
