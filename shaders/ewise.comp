#version 450
// Elementwise layers over n floats. OP selects:
//   2 ACC       out += a             (gradient accumulation)
//   3 GELU      out = GELU(a)
//   4 GELU_BWD  out = b * GELU'(a)   (a: the input of the GELU, b: dL/d out)
// (The skip, the gate and the channel MLP are fused into block_fwd.)
// One invocation per 4 floats: a vec4 load costs lavapipe (Mesa 22.3) about
// what a float load does, so this runs 2.5x as fast as one float per
// invocation there. The last invocation handles a tail of 1-3 floats alone.
// Bindings: 0 a (read), 1 out (write; read-write for ACC), 2 b (read:
// GELU_BWD). Push: n (floats). Grid: ceil(n / 4) invocations in rows of
// 65535 workgroups of 256.
#include "gelu.glsl"
layout(local_size_x = 256) in;
layout(std430, binding = 0) readonly buffer A { vec4 a[]; };
layout(std430, binding = 1) buffer O { vec4 o[]; };
#if OP == 4
layout(std430, binding = 2) readonly buffer B { vec4 bv[]; };
#endif
layout(push_constant) uniform P { uint n; } p;

float op1(float x, float y, float z)
{
#if OP == 2
    return y + x;
#elif OP == 3
    return nb_gelu(x);
#elif OP == 4
    return z * nb_gelu_grad(x);
#else
#error "ewise: OP must be 2, 3 or 4"
#endif
}

void main()
{
    uint i = gl_GlobalInvocationID.y * 65535u * 256u + gl_GlobalInvocationID.x;
    if (i >= (p.n + 3u) / 4u)
        return;
    if (4u * i + 4u <= p.n) {
        vec4 x = a[i], y = vec4(0.0), z = vec4(0.0);
#if OP == 2
        y = o[i];
#endif
#if OP == 4
        z = bv[i];
#endif
        o[i] = vec4(op1(x.x, y.x, z.x), op1(x.y, y.y, z.y), op1(x.z, y.z, z.z), op1(x.w, y.w, z.w));
        return;
    }
    for (uint c = 0u; 4u * i + c < p.n; c++) {
        float y = 0.0, z = 0.0;
#if OP == 2
        y = o[i][c];
#endif
#if OP == 4
        z = bv[i][c];
#endif
        o[i][c] = op1(a[i][c], y, z);
    }
}
