#version 450
// One FNO block after its spectral convolution, in one pass over memory
// (the skip, the activation, the channel MLP and the soft gate):
//   z = Ws x + bs + s            (s: the spectral convolution without bias;
//                                 bs: the spectral bias)
//   y = ACT ? GELU(z) : z
//   a = GELU(W0 y + b0)
//   q = W1 a + b1 + g * x,  out = ACT ? GELU(q) : q
// Against the three pointwise dispatches it replaces, the E-wide hidden
// layer and y never go through memory: per position it reads 2C floats and
// writes C (2C when it saves z for the backward pass).
// One invocation per (4 positions, trace); the length must be a multiple of 4.
// Defines: C (width), E (channel-MLP width); ACT, SAVE_Z (0/1); UBO (0/1);
// TEXEL (0/1: x and s read as texels, loads.glsl).
// Bindings: UBO = 1: 0, 1, 2 the uniform buffers of the skip [Ws | bs | g],
// fc0 [W0 | b0] and fc1 [W1 | b1 | g] layers (W as [out][in]); UBO = 0: 0 the
// flat parameter buffer (offsets in the push constants). Then x (read), s
// (read), out (write) and, with SAVE_Z, z (write).
// Push: batch, n, then (UBO = 0) the offsets of Ws, bs, W0, b0, W1, b1, g.
#include "gelu.glsl"
#include "loads.glsl"
#include "vec.glsl"
#include "block_weights.glsl"
layout(local_size_x = 64) in;
VIN(DB + 0, X, x);
VIN(DB + 1, S, s);
layout(std430, binding = DB + 2) writeonly buffer Out { VT outv[]; };
#if SAVE_Z
layout(std430, binding = DB + 3) writeonly buffer Z { VT zv[]; };
#endif

void main()
{
    uint n4 = p.n / VEC, qi = gl_GlobalInvocationID.x, b = gl_WorkGroupID.y;
    if (qi >= n4)
        return;
    uint base = b * C * n4 + qi;
    VT xv[C], y[C], a[E];
    for (uint i = 0; i < C; i++)
        xv[i] = LDV(x, base + i * n4);
    for (uint o = 0; o < C; o++) {
        VT acc = VT(BS(o)) + LDV(s, base + o * n4);
        for (uint i = 0; i < C; i++)
            acc = fma(VT(WS(o, i)), xv[i], acc);
#if SAVE_Z
        zv[base + o * n4] = acc;
#endif
#if ACT
        y[o] = gelu_v(acc);
#else
        y[o] = acc;
#endif
    }
    for (uint k = 0; k < E; k++) {
        VT acc = VT(B0(k));
        for (uint i = 0; i < C; i++)
            acc = fma(VT(W0(k, i)), y[i], acc);
        a[k] = gelu_v(acc);
    }
    for (uint o = 0; o < C; o++) {
        VT acc = fma(VT(GT(o)), xv[o], VT(B1(o)));
        for (uint k = 0; k < E; k++)
            acc = fma(VT(W1(o, k)), a[k], acc);
#if ACT
        outv[base + o * n4] = gelu_v(acc);
#else
        outv[base + o * n4] = acc;
#endif
    }
}
