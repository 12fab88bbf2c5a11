#version 450
// A two-layer pointwise MLP in one pass over memory (the lifting and the
// projection of the FNO):
//   h = W1 x + b1,  a = GELU(h),  out = W2 a + b2
// The hidden layer (HID channels, 2-4x the width) is computed one channel
// at a time and consumed at once, so it never goes through memory unless
// the backward pass needs it (SAVE: h and a written too).
// One invocation per (4 positions, trace); the length must be a multiple of 4.
// Defines: CIN, HID, COUT; SAVE (0/1); UBO (0/1).
// Bindings: UBO = 1: 0 and 1 the two layers' uniform buffers, each laid out
// [W | bias | gate slot] (W as [out][in]); UBO = 0: 0 the flat parameter
// buffer. Then x (read), out (write) and, with SAVE, h and a (write).
// Push: batch, n, then (UBO = 0) the offsets of W1, b1, W2, b2.
#include "gelu.glsl"
#include "vec.glsl"
layout(local_size_x = 64) in;
layout(push_constant) uniform P { uint batch, n, w1, b1, w2, b2; } p;
#if UBO
#define DB 2
layout(std140, binding = 0) uniform U1 { vec4 u1[(HID * CIN + 2 * HID + 3) / 4]; };
layout(std140, binding = 1) uniform U2 { vec4 u2[(COUT * HID + 2 * COUT + 3) / 4]; };
#define W1(k, i) (u1[((k) * CIN + (i)) >> 2][((k) * CIN + (i)) & 3])
#define B1(k) (u1[(HID * CIN + (k)) >> 2][(HID * CIN + (k)) & 3])
#define W2(o, k) (u2[((o) * HID + (k)) >> 2][((o) * HID + (k)) & 3])
#define B2(o) (u2[(COUT * HID + (o)) >> 2][(COUT * HID + (o)) & 3])
#else
#define DB 1
layout(std430, binding = 0) readonly buffer Pa { float prm[]; };
#define W1(k, i) prm[p.w1 + (k) * CIN + (i)]
#define B1(k) prm[p.b1 + (k)]
#define W2(o, k) prm[p.w2 + (o) * HID + (k)]
#define B2(o) prm[p.b2 + (o)]
#endif
layout(std430, binding = DB + 0) readonly buffer X { VT x[]; };
layout(std430, binding = DB + 1) writeonly buffer Out { VT outv[]; };
#if SAVE
layout(std430, binding = DB + 2) writeonly buffer H { VT hv[]; };
layout(std430, binding = DB + 3) writeonly buffer A { VT av[]; };
#endif

void main()
{
    uint n4 = p.n / VEC, qi = gl_GlobalInvocationID.x, b = gl_WorkGroupID.y;
    if (qi >= n4)
        return;
    VT xv[CIN], acc[COUT];
    for (uint i = 0; i < CIN; i++)
        xv[i] = x[(b * CIN + i) * n4 + qi];
    for (uint o = 0; o < COUT; o++)
        acc[o] = VT(B2(o));
    for (uint k = 0; k < HID; k++) {
        VT h = VT(B1(k));
        for (uint i = 0; i < CIN; i++)
            h = fma(VT(W1(k, i)), xv[i], h);
        VT a = gelu_v(h);
#if SAVE
        hv[(b * HID + k) * n4 + qi] = h;
        av[(b * HID + k) * n4 + qi] = a;
#endif
        for (uint o = 0; o < COUT; o++)
            acc[o] = fma(VT(W2(o, k)), a, acc[o]);
    }
    for (uint o = 0; o < COUT; o++)
        outv[(b * COUT + o) * n4 + qi] = acc[o];
}
