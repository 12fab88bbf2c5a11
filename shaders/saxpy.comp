#version 450
// y[i] = a * x[i] + y[i] for i < n.
// Bindings: 0 x (read), 1 y (read-write). Push: n, a.
// Specialisation constant 0: workgroup size (default 256).
layout(local_size_x_id = 0) in;
layout(std430, set = 0, binding = 0) readonly buffer X { float x[]; };
layout(std430, set = 0, binding = 1) buffer Y { float y[]; };
layout(push_constant) uniform P { uint n; float a; } p;

void main()
{
    uint i = gl_GlobalInvocationID.x;
    if (i < p.n)
        y[i] = fma(p.a, x[i], y[i]);
}
