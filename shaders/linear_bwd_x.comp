#version 450
// Input gradient of a pointwise linear layer, fused with its neighbours:
// gx[b][i][n] (+)= act'(pre[b][i][n]) * (sum_o W[o][i] g[b][o][n]
//                                        + gate[i] * gg[b][i][n]).
// One invocation per (4 positions, trace); the COUT gradients there sit in
// registers as vec4. The length must be a multiple of 4.
// Defines: CIN, COUT; ACCUM (add to gx), DGELU (multiply by GELU'(pre)),
// GATE (add the soft-gate path).
// Bindings: 0 params (read), 1 g (read), 2 gx (write, or read-write with
// ACCUM), then as enabled: pre (read), gg (read).
// Push: batch, n, w_off, g_off.
#include "gelu.glsl"
layout(local_size_x = 64) in;
layout(std430, binding = 0) readonly buffer Pa { float prm[]; };
layout(std430, binding = 1) readonly buffer Gr { vec4 g[]; };
layout(std430, binding = 2) buffer GX { vec4 gx[]; };
#if DGELU
layout(std430, binding = 3) readonly buffer Pre { vec4 pre[]; };
#endif
#if GATE
layout(std430, binding = 3 + DGELU) readonly buffer GG { vec4 gg[]; };
#endif
layout(push_constant) uniform P { uint batch; uint n; uint w_off; uint g_off; } p;

void main()
{
    uint n4 = p.n / 4, q = gl_GlobalInvocationID.x, b = gl_WorkGroupID.y;
    if (q >= n4)
        return;
    vec4 gv[COUT];
    uint gbase = b * COUT * n4 + q;
    for (uint o = 0; o < COUT; o++)
        gv[o] = g[gbase + o * n4];
    uint xbase = b * CIN * n4 + q;
    for (uint i = 0; i < CIN; i++) {
        vec4 acc = vec4(0.0);
        for (uint o = 0; o < COUT; o++)
            acc = fma(vec4(prm[p.w_off + o * CIN + i]), gv[o], acc);
        uint at = xbase + i * n4;
#if GATE
        acc = fma(vec4(prm[p.g_off + i]), gg[at], acc);
#endif
#if DGELU
        vec4 pv = pre[at];
        acc *= vec4(nb_gelu_grad(pv.x), nb_gelu_grad(pv.y), nb_gelu_grad(pv.z), nb_gelu_grad(pv.w));
#endif
#if ACCUM
        gx[at] += acc;
#else
        gx[at] = acc;
#endif
    }
}
