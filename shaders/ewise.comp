#version 450
// Elementwise layers over n floats. OP selects:
//   2 ACC       out += a             (gradient accumulation)
//   3 GELU      out = GELU(a)
//   4 GELU_BWD  out = b * GELU'(a)   (a: the input of the GELU, b: dL/d out)
// (The residual add and the soft-gating skip are fused into linear_fwd.)
// Bindings: 0 a (read), 1 out (write; read-write for ACC), 2 b (read:
// GELU_BWD). Push: n.
#include "gelu.glsl"
layout(local_size_x = 256) in;
layout(std430, binding = 0) readonly buffer A { float a[]; };
layout(std430, binding = 1) buffer O { float o[]; };
#if OP == 4
layout(std430, binding = 2) readonly buffer B { float bv[]; };
#endif
layout(push_constant) uniform P { uint n; } p;

void main()
{
    uint i = gl_GlobalInvocationID.y * 65535u * 256u + gl_GlobalInvocationID.x;
    if (i >= p.n)
        return;
#if OP == 2
    o[i] += a[i];
#elif OP == 3
    o[i] = nb_gelu(a[i]);
#elif OP == 4
    o[i] = bv[i] * nb_gelu_grad(a[i]);
#else
#error "ewise: OP must be 2, 3 or 4"
#endif
}
