// The weights of a two-layer pointwise MLP (cin -> hid -> cout), for mlp_fwd
// and mlp_bwd: W1 [HID][CIN] with b1, W2 [COUT][HID] with b2, read as
// W1(k, i), B1(k), W2(o, k), B2(o) from one of two places:
//   UBO = 1: the two layers' uniform buffers at bindings 0 and 1, each laid
//            out [W | bias | gate slot]; offsets are compile-time.
//   UBO = 0: the flat parameter buffer at binding 0, at the push constants'
//            offsets.
// Defines DB, the first data binding, and the push block p (batch, n, and
// the offsets of W1, b1, W2, b2).
#ifndef UBO
#define UBO 0
#endif
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
