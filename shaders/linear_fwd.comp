#version 450
// Pointwise linear layer over channels, fused with what follows it in the
// operator: out[b][o][n] = act(sum_i W[o][i] x[b][i][n] + bias[o]
//                              + add[b][o][n] + gate[o] * gsrc[b][o][n]).
// One invocation per (4 positions, trace): the CIN inputs at those positions
// sit in registers as vec4, so each weight load feeds four FMAs. The length
// must be a multiple of 4 (the model checks).
// Defines: CIN, COUT; BIAS, ADD, GATE, GELU, SAVE_PRE (0/1).
// Bindings: 0 params (read; W at w_off as [COUT][CIN], bias at b_off, gate
// at g_off), 1 x (read), 2 out (write), then as enabled: pre (write: the
// value before GELU), add (read), gsrc (read).
// Push: batch, n, w_off, b_off, g_off.
#include "gelu.glsl"
layout(local_size_x = 64) in;
layout(std430, binding = 0) readonly buffer Pa { float prm[]; };
layout(std430, binding = 1) readonly buffer X { vec4 x[]; };
layout(std430, binding = 2) writeonly buffer Y { vec4 y[]; };
#if SAVE_PRE
layout(std430, binding = 3) writeonly buffer Pre { vec4 pre[]; };
#endif
#if ADD
layout(std430, binding = 3 + SAVE_PRE) readonly buffer A { vec4 addv[]; };
#endif
#if GATE
layout(std430, binding = 3 + SAVE_PRE + ADD) readonly buffer G { vec4 gsrc[]; };
#endif
layout(push_constant) uniform P { uint batch; uint n; uint w_off; uint b_off; uint g_off; } p;

vec4 gelu4(vec4 v) { return vec4(nb_gelu(v.x), nb_gelu(v.y), nb_gelu(v.z), nb_gelu(v.w)); }

void main()
{
    uint n4 = p.n / 4, q = gl_GlobalInvocationID.x, b = gl_WorkGroupID.y;
    if (q >= n4)
        return;
    vec4 xv[CIN];
    uint xbase = b * CIN * n4 + q;
    for (uint i = 0; i < CIN; i++)
        xv[i] = x[xbase + i * n4];
    uint ybase = b * COUT * n4 + q;
    for (uint o = 0; o < COUT; o++) {
#if BIAS
        vec4 acc = vec4(prm[p.b_off + o]);
#else
        vec4 acc = vec4(0.0);
#endif
        uint w = p.w_off + o * CIN;
        for (uint i = 0; i < CIN; i++)
            acc = fma(vec4(prm[w + i]), xv[i], acc);
        uint at = ybase + o * n4;
#if ADD
        acc += addv[at];
#endif
#if GATE
        acc = fma(vec4(prm[p.g_off + o]), gsrc[at], acc);
#endif
#if SAVE_PRE
        pre[at] = acc;
#endif
#if GELU
        y[at] = gelu4(acc);
#else
        y[at] = acc;
#endif
    }
}
