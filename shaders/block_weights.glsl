// The weights of one FNO block's pointwise layers, for block_fwd and
// block_bwd: the skip Ws [C][C] with the spectral bias bs and the soft gate
// g, the channel MLP W0 [E][C] with b0, and W1 [C][E] with b1. Read as
// WS(o, i), BS(o), GT(o), W0(k, i), B0(k), W1(o, k), B1(o) from one of two
// places:
//   UBO = 1: three uniform buffers, one per layer laid out
//            ([W | bias | gate]), at bindings 0-2; offsets are compile-time.
//   UBO = 0: the flat parameter buffer at binding 0, at the push constants'
//            offsets.
// Defines DB, the first data binding, and the push block p (batch, n, and
// the seven offsets).
#ifndef UBO
#define UBO 0
#endif
layout(push_constant) uniform P
{
    uint batch, n;
    uint ws, bs, w0, b0, w1, b1, g;
} p;
#if UBO
#define DB 3
layout(std140, binding = 0) uniform Us { vec4 us[(C * C + 2 * C + 3) / 4]; };
layout(std140, binding = 1) uniform U0 { vec4 u0[(E * C + 2 * E + 3) / 4]; };
layout(std140, binding = 2) uniform U1 { vec4 u1[(C * E + 2 * C + 3) / 4]; };
#define UB_(arr, i) (arr[(i) >> 2][(i) & 3])
#define WS(o, i) UB_(us, (o) * C + (i))
#define BS(o) UB_(us, C * C + (o))
#define GT(o) UB_(us, C * C + C + (o))
#define W0(k, i) UB_(u0, (k) * C + (i))
#define B0(k) UB_(u0, E * C + (k))
#define W1(o, k) UB_(u1, (o) * E + (k))
#define B1(o) UB_(u1, C * E + (o))
#else
#define DB 1
layout(std430, binding = 0) readonly buffer Pa { float prm[]; };
#define WS(o, i) prm[p.ws + (o) * C + (i)]
#define BS(o) prm[p.bs + (o)]
#define GT(o) prm[p.g + (o)]
#define W0(k, i) prm[p.w0 + (k) * C + (i)]
#define B0(k) prm[p.b0 + (k)]
#define W1(o, k) prm[p.w1 + (o) * E + (k)]
#define B1(o) prm[p.b1 + (o)]
#endif
