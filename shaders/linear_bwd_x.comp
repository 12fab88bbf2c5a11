#version 450
// Input gradient of a pointwise linear layer, fused with the GELU before it:
// gx[b][i][n] = act'(pre[b][i][n]) * sum_o W[o][i] g[b][o][n].
// One invocation per (4 positions, trace); the COUT gradients there sit in
// registers as vec4 (vec.glsl). The length must be a multiple of 4.
// Defines: CIN, COUT; DGELU (multiply by GELU'(pre)); UBO, BIAS (the layout
// of the layer's uniform buffer: [W | bias | gate], as mlp_fwd reads it);
// TEXEL (g and pre read as texels, loads.glsl).
// Bindings: 0 weights (UBO = 1: the layer's uniform buffer; UBO = 0: the
// flat parameter buffer, W at w_off as [COUT][CIN]), 1 g (read), 2 gx
// (write), 3 pre (read, DGELU).
// Push: batch, n, w_off (unused when UBO = 1).
#include "gelu.glsl"
#include "loads.glsl"
#include "vec.glsl"
#define B_OFF_UNUSED
#include "weights.glsl"
layout(local_size_x = 64) in;
VIN(1, Gr, g);
layout(std430, binding = 2) writeonly buffer GX { VT gx[]; };
#if DGELU
VIN(3, Pre, pre);
#endif
layout(push_constant) uniform P { uint batch; uint n; uint w_off; } p;

void main()
{
    uint n4 = p.n / VEC, q = gl_GlobalInvocationID.x, b = gl_WorkGroupID.y;
    if (q >= n4)
        return;
    VT gv[COUT];
    uint gbase = b * COUT * n4 + q;
    for (uint o = 0; o < COUT; o++)
        gv[o] = LDV(g, gbase + o * n4);
    uint xbase = b * CIN * n4 + q;
    for (uint i = 0; i < CIN; i++) {
        VT acc = VT(0.0);
        for (uint o = 0; o < COUT; o++)
            acc = fma(VT(WT(W_OFF + o * CIN + i)), gv[o], acc);
        uint at = xbase + i * n4;
#if DGELU
        acc *= gelu_grad_v(LDV(pre, at));
#endif
        gx[at] = acc;
    }
}
