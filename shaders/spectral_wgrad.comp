#version 450
// Weight gradient of a spectral convolution:
//   dW[i][o][k] = sum_b conj(S[b][i][k]) G'[b][o][k],
// with S the forward's scaled input spectrum (modes only) and G' the
// gradient of the mixed spectrum: G'_0 = Re G_0 and G'_k = 2 G_k for k >= 1,
// G = R2C(dL/ds) unnormalised (the 2 is Hermitian symmetry's).
// Defines: C, M. Bindings: 0 S (read), 1 G (read, full half-spectrum),
// 2 grad (read-write: added to, at w_off). Push: batch, nc, w_off.
layout(local_size_x = 64) in;
layout(std430, binding = 0) readonly buffer Sb { vec2 s[]; };
layout(std430, binding = 1) readonly buffer Gb { vec2 g[]; };
layout(std430, binding = 2) buffer D { float grad[]; };
layout(push_constant) uniform P { uint batch; uint nc; uint w_off; } p;

void main()
{
    uint k = gl_GlobalInvocationID.x, o = gl_WorkGroupID.y, i = gl_WorkGroupID.z;
    if (k >= M)
        return;
    vec2 acc = vec2(0.0);
    for (uint b = 0; b < p.batch; b++) {
        vec2 sv = s[(b * C + i) * M + k];
        vec2 gv = g[(b * C + o) * p.nc + k];
        gv = k == 0 ? vec2(gv.x, 0.0) : 2.0 * gv;
        acc += vec2(sv.x * gv.x + sv.y * gv.y, sv.x * gv.y - sv.y * gv.x); // conj(s) g
    }
    uint w = p.w_off + ((i * C + o) * M + k) * 2;
    grad[w] += acc.x;
    grad[w + 1] += acc.y;
}
