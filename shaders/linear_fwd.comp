#version 450
// Pointwise linear layer over channels, fused with what follows it in the
// operator: out[b][o][n] = act(sum_i W[o][i] x[b][i][n] + bias[o]
//                              + add[b][o][n] + gate[o] * gsrc[b][o][n]).
// One invocation per (4 positions, trace): the CIN inputs there sit in
// registers as vec4 (vec.glsl). The length must be a multiple of 4.
// Defines: CIN, COUT; BIAS, ADD, GATE, GELU, SAVE_PRE (0/1); UBO (0/1).
// Bindings: 0 weights (UBO = 1: a uniform buffer holding this layer's
// [W | bias | gate]; UBO = 0: the flat parameter buffer, W at w_off as
// [COUT][CIN], bias at b_off, gate at g_off), 1 x (read), 2 out (write),
// then as enabled: pre (write: the value before GELU), add (read), gsrc (read).
// Push: batch, n, w_off, b_off, g_off (offsets unused when UBO = 1).
#include "gelu.glsl"
#include "vec.glsl"
#include "weights.glsl"
layout(local_size_x = 64) in;
layout(std430, binding = 1) readonly buffer X { VT x[]; };
layout(std430, binding = 2) writeonly buffer Y { VT y[]; };
#if SAVE_PRE
layout(std430, binding = 3) writeonly buffer Pre { VT pre[]; };
#endif
#if ADD
layout(std430, binding = 3 + SAVE_PRE) readonly buffer A { VT addv[]; };
#endif
#if GATE
layout(std430, binding = 3 + SAVE_PRE + ADD) readonly buffer G { VT gsrc[]; };
#endif
layout(push_constant) uniform P { uint batch; uint n; uint w_off; uint b_off; uint g_off; } p;

void main()
{
    uint n4 = p.n / VEC, q = gl_GlobalInvocationID.x, b = gl_WorkGroupID.y;
    if (q >= n4)
        return;
    VT xv[CIN];
    uint xbase = b * CIN * n4 + q;
    for (uint i = 0; i < CIN; i++)
        xv[i] = x[xbase + i * n4];
    uint ybase = b * COUT * n4 + q;
    for (uint o = 0; o < COUT; o++) {
#if BIAS
        VT acc = VT(WT(B_OFF + o));
#else
        VT acc = VT(0.0);
#endif
        for (uint i = 0; i < CIN; i++)
            acc = fma(VT(WT(W_OFF + o * CIN + i)), xv[i], acc);
        uint at = ybase + o * n4;
#if ADD
        acc += addv[at];
#endif
#if GATE
        acc = fma(VT(WT(G_OFF + o)), gsrc[at], acc);
#endif
#if SAVE_PRE
        pre[at] = acc;
#endif
#if GELU
        y[at] = gelu_v(acc);
#else
        y[at] = acc;
#endif
    }
}
