#version 450
// The backward pass through one FNO block's pointwise part (block_fwd), up
// to its spectral convolution, in one pass over memory. From the saved z and
// x and the gradient gv = dL/d out it recomputes the activations and
// writes what the weight-gradient kernels and the spectral backward need
// (not y = ACT ? GELU(z) : z, the input of fc0: fc0's weight gradient
// applies the GELU to z as it loads it):
//   a  = GELU(h),  h = W0 y + b0                 (input of fc1)
//   gq = ACT ? gv * GELU'(q) : gv,  q = W1 a + b1 + g * x
//   ga = (W1^T gq) * GELU'(h)                    (dL/dh)
//   gz = (W0^T ga) * (ACT ? GELU'(z) : 1)        (dL/dz, = dL/ds)
//   gx = Ws^T gz + g * gq                        (dL/dx, but for the
//                                                 spectral path, added later)
// It replaces seven dispatches (recompute GELU, fc0, fc1, GELU', and the
// input gradients of fc1, fc0 and the skip): per position it reads 3C floats
// and writes 3C + 2E, where they read and wrote 10C + 7E.
// One invocation per (4 positions, trace); the length must be a multiple of 4.
// GV2: gv comes in two parts, added on load (the skip and gate part that
// the next block's block_bwd wrote, and the spectral part from its C2R),
// which saves a pass that added them.
// Defines: C, E; ACT, GV2 (0/1); UBO, TEXEL (0/1), as in block_fwd.
// Bindings: the weights as in block_fwd, then z, x, gv, (GV2) gv2 (read)
// and a, gq, ga, gz, gx (write). Push: as in block_fwd.
#include "gelu.glsl"
#include "loads.glsl"
#include "vec.glsl"
#include "block_weights.glsl"
layout(local_size_x = 64) in;
VIN(DB + 0, Zb, z);
VIN(DB + 1, Xb, x);
VIN(DB + 2, GVb, gv);
#if GV2
VIN(DB + 3, GV2b, gv2);
#endif
#define OB (DB + 3 + GV2)
layout(std430, binding = OB + 0) writeonly buffer Ab { VT ao[]; };
layout(std430, binding = OB + 1) writeonly buffer GQb { VT gqo[]; };
layout(std430, binding = OB + 2) writeonly buffer GAb { VT gao[]; };
layout(std430, binding = OB + 3) writeonly buffer GZb { VT gzo[]; };
layout(std430, binding = OB + 4) writeonly buffer GXb { VT gxo[]; };

void main()
{
    uint n4 = p.n / VEC, qi = gl_GlobalInvocationID.x, b = gl_WorkGroupID.y;
    if (qi >= n4)
        return;
    uint base = b * C * n4 + qi, ebase = b * E * n4 + qi;
    VT y[C], dz[C], a[E], dh[E], gq[C], ga[E], gz[C];
    for (uint i = 0; i < C; i++) {
        VT zi = LDV(z, base + i * n4);
#if ACT
        gelu_both_v(zi, y[i], dz[i]);
#else
        y[i] = zi;
        dz[i] = VT(1.0);
#endif
    }
    for (uint k = 0; k < E; k++) {
        VT h = VT(B0(k));
        for (uint i = 0; i < C; i++)
            h = fma(VT(W0(k, i)), y[i], h);
        gelu_both_v(h, a[k], dh[k]);
        ao[ebase + k * n4] = a[k];
    }
    for (uint o = 0; o < C; o++) {
        VT g = LDV(gv, base + o * n4);
#if GV2
        g += LDV(gv2, base + o * n4);
#endif
#if ACT
        VT q = fma(VT(GT(o)), LDV(x, base + o * n4), VT(B1(o)));
        for (uint k = 0; k < E; k++)
            q = fma(VT(W1(o, k)), a[k], q);
        g *= gelu_grad_v(q);
#endif
        gq[o] = g;
        gqo[base + o * n4] = g;
    }
    for (uint k = 0; k < E; k++) {
        VT s = VT(0.0);
        for (uint o = 0; o < C; o++)
            s = fma(VT(W1(o, k)), gq[o], s);
        ga[k] = s * dh[k];
        gao[ebase + k * n4] = ga[k];
    }
    for (uint i = 0; i < C; i++) {
        VT s = VT(0.0);
        for (uint k = 0; k < E; k++)
            s = fma(VT(W0(k, i)), ga[k], s);
        gz[i] = s * dz[i];
        gzo[base + i * n4] = gz[i];
    }
    for (uint i = 0; i < C; i++) {
        VT s = VT(GT(i)) * gq[i];
        for (uint o = 0; o < C; o++)
            s = fma(VT(WS(o, i)), gz[o], s);
        gxo[base + i * n4] = s;
    }
}
