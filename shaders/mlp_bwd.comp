#version 450
// Input gradients of mlp_fwd (out = W2 GELU(h) + b2, h = W1 x + b1) in one
// pass over memory, from g = dL/d out and the saved h:
//   gh = (W2^T g) * GELU'(h)    (written: the weight gradient of W1 needs it)
//   gx = W1^T gh
// The hidden gradient is computed one channel at a time and consumed at
// once: per position the kernel holds the COUT gradients and CIN sums,
// where two linear_bwd_x dispatches held all HID (96 for the projection)
// and read gh back.
// One invocation per (4 positions, trace); the length must be a multiple of 4.
// Defines: CIN, HID, COUT; UBO (0/1), the weights as in mlp_fwd; TEXEL (0/1:
// g and h read as texels, loads.glsl).
// Bindings: the weights as in mlp_fwd, then g, h (read), gh, gx (write).
// Push: batch, n, then (UBO = 0) the offsets of W1, b1, W2, b2.
#include "gelu.glsl"
#include "loads.glsl"
#include "vec.glsl"
#include "mlp_weights.glsl"
layout(local_size_x = 64) in;
VIN(DB + 0, G, g);
VIN(DB + 1, H, hv);
layout(std430, binding = DB + 2) writeonly buffer GH { VT gh[]; };
layout(std430, binding = DB + 3) writeonly buffer GX { VT gx[]; };

void main()
{
    uint n4 = p.n / VEC, qi = gl_GlobalInvocationID.x, b = gl_WorkGroupID.y;
    if (qi >= n4)
        return;
    VT gv[COUT], acc[CIN];
    for (uint o = 0; o < COUT; o++)
        gv[o] = LDV(g, (b * COUT + o) * n4 + qi);
    for (uint i = 0; i < CIN; i++)
        acc[i] = VT(0.0);
    for (uint k = 0; k < HID; k++) {
        VT s = VT(0.0);
        for (uint o = 0; o < COUT; o++)
            s = fma(VT(W2(o, k)), gv[o], s);
        uint at = (b * HID + k) * n4 + qi;
        s *= gelu_grad_v(LDV(hv, at));
        gh[at] = s;
        for (uint i = 0; i < CIN; i++)
            acc[i] = fma(VT(W1(k, i)), s, acc[i]);
    }
    for (uint i = 0; i < CIN; i++)
        gx[(b * CIN + i) * n4 + qi] = acc[i];
}
