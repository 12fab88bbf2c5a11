#version 450
// The lifting's input: the CIN data channels of x followed by the grid
// channel linspace(0, 1, N+1)[:-1], i.e. n / N.
// Four positions per invocation (vec4); N must be a multiple of 4.
// Defines CIN; TEXEL (0/1: x read as texels, loads.glsl).
// Bindings: 0 x (read, [B][CIN][N]), 1 out (write, [B][CIN+1][N]).
// Push: batch, n.
#include "loads.glsl"
layout(local_size_x = 64) in;
VIN(0, X, x);
layout(std430, binding = 1) writeonly buffer O { VT o[]; };
layout(push_constant) uniform P { uint batch; uint n; } p;

void main()
{
    uint n4 = p.n / VEC, q = gl_GlobalInvocationID.x, b = gl_WorkGroupID.y;
    if (q >= n4)
        return;
    for (uint i = 0; i < CIN; i++)
        o[(b * (CIN + 1) + i) * n4 + q] = LDV(x, (b * CIN + i) * n4 + q);
    o[(b * (CIN + 1) + CIN) * n4 + q] = (vec4(4 * q) + vec4(0.0, 1.0, 2.0, 3.0)) / float(p.n);
}
