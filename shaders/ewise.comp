#version 450
// Elementwise layers over n floats. OP selects:
//   1 ADD       out = a + b          (residual add)
//   2 ACC       out += a             (gradient accumulation)
//   3 GELU      out = GELU(a)
//   4 GELU_BWD  out = b * GELU'(a)   (a: the input of the GELU, b: dL/d out)
//   5 GATE      out = gate[c] * a    (soft-gating skip; c = channel of the element)
// Bindings: 0 a (read), 1 out (write; read-write for ACC), 2 b (read: ADD,
// GELU_BWD) or params (read: GATE). Push: n, channels, length, g_off.
#include "gelu.glsl"
layout(local_size_x = 256) in;
layout(std430, binding = 0) readonly buffer A { float a[]; };
layout(std430, binding = 1) buffer O { float o[]; };
#if OP == 1 || OP == 4 || OP == 5
layout(std430, binding = 2) readonly buffer B { float bv[]; };
#endif
layout(push_constant) uniform P { uint n; uint channels; uint length; uint g_off; } p;

void main()
{
    uint i = gl_GlobalInvocationID.y * 65535u * 256u + gl_GlobalInvocationID.x;
    if (i >= p.n)
        return;
#if OP == 1
    o[i] = a[i] + bv[i];
#elif OP == 2
    o[i] += a[i];
#elif OP == 3
    o[i] = nb_gelu(a[i]);
#elif OP == 4
    o[i] = bv[i] * nb_gelu_grad(a[i]);
#elif OP == 5
    o[i] = bv[p.g_off + (i / p.length) % p.channels] * a[i];
#endif
}
