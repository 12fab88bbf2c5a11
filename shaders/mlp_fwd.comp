#version 450
// A two-layer pointwise MLP in one pass over memory (the lifting and the
// projection of the FNO):
//   h = W1 x + b1,  a = GELU(h),  out = W2 a + b2
// The hidden layer (HID channels, 2-4x the width) is computed one channel
// at a time and consumed at once, so it never goes through memory unless
// the backward pass needs it (SAVE: h written too; the weight gradient of
// the second layer applies the GELU to h as it loads it).
// One invocation per (4 positions, trace); the length must be a multiple of 4.
// Defines: CIN, HID, COUT; SAVE (0/1); UBO (0/1); TEXEL (0/1: x read as
// texels, loads.glsl).
// Bindings: UBO = 1: 0 and 1 the two layers' uniform buffers, each laid out
// [W | bias | gate slot] (W as [out][in]); UBO = 0: 0 the flat parameter
// buffer. Then x (read), out (write) and, with SAVE, h (write).
// Push: batch, n, then (UBO = 0) the offsets of W1, b1, W2, b2.
#include "gelu.glsl"
#include "loads.glsl"
#include "vec.glsl"
#include "mlp_weights.glsl"
layout(local_size_x = 64) in;
VIN(DB + 0, X, x);
layout(std430, binding = DB + 1) writeonly buffer Out { VT outv[]; };
#if SAVE
layout(std430, binding = DB + 2) writeonly buffer H { VT hv[]; };
#endif

void main()
{
    uint n4 = p.n / VEC, qi = gl_GlobalInvocationID.x, b = gl_WorkGroupID.y;
    if (qi >= n4)
        return;
    VT xv[CIN], acc[COUT];
    for (uint i = 0; i < CIN; i++)
        xv[i] = LDV(x, (b * CIN + i) * n4 + qi);
    for (uint o = 0; o < COUT; o++)
        acc[o] = VT(B2(o));
    for (uint k = 0; k < HID; k++) {
        VT h = VT(B1(k));
        for (uint i = 0; i < CIN; i++)
            h = fma(VT(W1(k, i)), xv[i], h);
        VT a = gelu_v(h);
#if SAVE
        hv[(b * HID + k) * n4 + qi] = h;
#endif
        for (uint o = 0; o < COUT; o++)
            acc[o] = fma(VT(W2(o, k)), a, acc[o]);
    }
    for (uint o = 0; o < COUT; o++)
        outv[(b * COUT + o) * n4 + qi] = acc[o];
}
