#version 450
// dst[i] = src[i] for i < n4, 16 bytes at a time: the shader copy bandwidth.
// TEXEL = 1 reads src as texels (NB_TEXEL), as the model's kernels do on
// CPU devices.
// Bindings: 0 src (read), 1 dst (write). Push: n4 (number of vec4), stride
// (vec4 per row of the dispatch grid, for grids wider than 65535 groups).
layout(local_size_x_id = 0) in;
#ifndef TEXEL
#define TEXEL 0
#endif
#if TEXEL
layout(set = 0, binding = 0) uniform samplerBuffer srct;
#define SRC(i) texelFetch(srct, int(i))
#else
layout(std430, set = 0, binding = 0) readonly buffer S { vec4 src[]; };
#define SRC(i) src[i]
#endif
layout(std430, set = 0, binding = 1) writeonly buffer D { vec4 dst[]; };
layout(push_constant) uniform P { uint n4; uint row; } p;

void main()
{
    uint i = gl_GlobalInvocationID.y * p.row + gl_GlobalInvocationID.x;
    if (i < p.n4)
        dst[i] = SRC(i);
}
