#version 450
// Pointwise linear layer over channels, fused with what follows it in the
// operator: out[b][o][n] = act(sum_i W[o][i] x[b][i][n] + bias[o]
//                              + add[b][o][n] + gate[o] * gsrc[b][o][n]).
// One invocation per (n, b): the CIN inputs at one position sit in registers.
// Defines: CIN, COUT; BIAS, ADD, GATE, GELU, SAVE_PRE (0/1).
// Bindings: 0 params (read; W at w_off as [COUT][CIN], bias at b_off, gate
// at g_off), 1 x (read), 2 out (write), then as enabled: pre (write: the
// value before GELU), add (read), gsrc (read).
// Push: batch, n, w_off, b_off, g_off.
#include "gelu.glsl"
layout(local_size_x = 64) in;
layout(std430, binding = 0) readonly buffer Pa { float prm[]; };
layout(std430, binding = 1) readonly buffer X { float x[]; };
layout(std430, binding = 2) writeonly buffer Y { float y[]; };
#if SAVE_PRE
layout(std430, binding = 3) writeonly buffer Pre { float pre[]; };
#endif
#if ADD
layout(std430, binding = 3 + SAVE_PRE) readonly buffer A { float addv[]; };
#endif
#if GATE
layout(std430, binding = 3 + SAVE_PRE + ADD) readonly buffer G { float gsrc[]; };
#endif
layout(push_constant) uniform P { uint batch; uint n; uint w_off; uint b_off; uint g_off; } p;

void main()
{
    uint n = gl_GlobalInvocationID.x, b = gl_WorkGroupID.y;
    if (n >= p.n)
        return;
    float xv[CIN];
    uint xbase = b * CIN * p.n + n;
    for (uint i = 0; i < CIN; i++)
        xv[i] = x[xbase + i * p.n];
    uint ybase = b * COUT * p.n + n;
    for (uint o = 0; o < COUT; o++) {
#if BIAS
        float acc = prm[p.b_off + o];
#else
        float acc = 0.0;
#endif
        uint w = p.w_off + o * CIN;
        for (uint i = 0; i < CIN; i++)
            acc = fma(prm[w + i], xv[i], acc);
        uint at = ybase + o * p.n;
#if ADD
        acc += addv[at];
#endif
#if GATE
        acc = fma(prm[p.g_off + o], gsrc[at], acc);
#endif
#if SAVE_PRE
        pre[at] = acc;
#endif
#if GELU
        y[at] = nb_gelu(acc);
#else
        y[at] = acc;
#endif
    }
}
