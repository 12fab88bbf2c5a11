#version 450
// x[i] += v for i < n: the smallest kernel with a read-after-write chain,
// used to test and time long sequences of dependent dispatches.
// Binding: 0 x (read-write). Push: n, v.
layout(local_size_x_id = 0) in;
layout(std430, set = 0, binding = 0) buffer X { float x[]; };
layout(push_constant) uniform P { uint n; float v; } p;

void main()
{
    uint i = gl_GlobalInvocationID.x;
    if (i < p.n)
        x[i] += p.v;
}
