#version 450
// Second pass of a chunked reduction: dst[.] += sum over rows r of part[r][j],
// added in row order (deterministic). The row is split into up to three
// segments written to three places of the destination (a weight, a bias and
// a gate gradient in the flat gradient buffer).
// Bindings: 0 partials (read), 1 dst (read-write: gradients accumulate).
// Push: rows, width (row length), len0, off0, len1, off1, off2 (segment 2 is
// the rest of the row).
layout(local_size_x = 64) in;
layout(std430, binding = 0) readonly buffer Pt { float part[]; };
layout(std430, binding = 1) buffer D { float dst[]; };
layout(push_constant) uniform P { uint rows; uint width; uint len0; uint off0; uint len1; uint off1; uint off2; } p;

void main()
{
    uint j = gl_GlobalInvocationID.x;
    if (j >= p.width)
        return;
    float s = 0.0;
    for (uint r = 0; r < p.rows; r++)
        s += part[r * p.width + j];
    if (j < p.len0)
        dst[p.off0 + j] += s;
    else if (j < p.len0 + p.len1)
        dst[p.off1 + j - p.len0] += s;
    else
        dst[p.off2 + j - p.len0 - p.len1] += s;
}
