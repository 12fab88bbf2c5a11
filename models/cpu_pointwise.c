/* cpu_pointwise.c - C twins of the operator's pointwise GLSL kernels for the
 * CPU backend (cpu_kernels.h lists them): mlp_fwd, mlp_bwd, block_fwd,
 * block_bwd, linear_bwd_x, grid and nerf_input.
 *
 * Tensors are [batch][channels][length] with the length contiguous. A task
 * is one trace's tile of TILE consecutive positions; within it the kernel
 * walks chunks of VW positions, each one GCC vector (vf) per channel, and
 * takes the chunk through every layer of the fused kernel with its channels
 * in the task's scratch (a few KiB: L1), as the GLSL kernels take four
 * positions through in registers. A layer is dense(): blocks of 4 or 8
 * outputs whose accumulators stay in registers while the inputs stream past,
 * each weight broadcast once per block and input. The hot task functions are
 * built for AVX-512, AVX2+FMA and the portable baseline (GCC's
 * target_clones, chosen at load time on x86-64 Linux); elsewhere the same
 * vector code is lowered to whatever SIMD the target has.
 *
 * GELU is the shaders' own (shaders/gelu.glsl: a rational erf, 3.8e-7 in
 * fp32), its derivative's exp a Cephes-style polynomial (relative error
 * about 1e-7). Each task writes only its own tile of every output, so the
 * results do not depend on the thread count or the schedule. */
#if defined(__GNUC__) && !defined(__clang__)
/* -std=c11 turns contraction off: the kernels are FMA chains, as the GLSL's */
#pragma GCC optimize("fp-contract=fast")
#endif

#include "cpu_kernels.h"

#include <stdint.h>
#include <string.h>

#define VW 16      /* positions per vector */
#define TILE 1024 /* positions per task (a multiple of VW) */
#define MAXCH 4096 /* channels per define: keeps scratch and indices sane */
#define PFD (8 * VW) /* prefetch distance along a row, floats */

typedef float vf __attribute__((vector_size(VW * 4)));
typedef int32_t vi __attribute__((vector_size(VW * 4)));

#if defined(__x86_64__) && defined(__linux__) && defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 12
#define NM_CLONES 1
/* x86-64-v3 is AVX2 with FMA (plain "avx2" would leave out the FMAs) */
#define HOT __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define NM_CLONES 0
#define HOT
#endif

/* Blocks of 8 outputs where the AVX-512 clone runs (32 registers: 8
 * accumulators of one zmm each), else of 4 (8 ymm accumulators). */
static int g_wide;

/* Vectors pass between helpers by pointer: a 64-byte vector argument
 * changes the ABI between the clones, and the helpers are inlined anyway. */
#define INL static inline __attribute__((always_inline))
#define VS(s) ((vf){0} + (float)(s))
#define VSEL(m, a, b) ((vf)(((vi)(a) & (m)) | ((vi)(b) & ~(m))))

/* the tail's copies out of line, so that the whole chunk's stay single moves */
__attribute__((noinline)) static void copy_tail(void *dst, const void *src, uint32_t n)
{
    memcpy(dst, src, n * sizeof(float));
}

/* n <= VW positions from p; lanes past n are zero */
INL void vload(vf *v, const float *p, uint32_t n)
{
    __builtin_prefetch(p + PFD, 0, 3);
    if (n == VW) {
        memcpy(v, p, sizeof *v);
    } else {
        *v = (vf){0};
        copy_tail(v, p, n);
    }
}

INL void vstore(float *p, const vf *v, uint32_t n)
{
    __builtin_prefetch(p + PFD, 1, 3);
    if (n == VW)
        memcpy(p, v, sizeof *v);
    else
        copy_tail(p, v, n);
}

/* 0.5 (1 + erf(x / sqrt 2)), erf as nb_erf in shaders/gelu.glsl */
INL void v_phi(const vf *x, vf *h)
{
    const vf lo = VS(-3.9f), hi = VS(3.9f);
    vf c = *x * 0.70710678118654752f;
    c = VSEL(c < lo, lo, c);
    c = VSEL(c > hi, hi, c);
    vf t = c * c;
    /* P halved (exactly: powers of two), so that 0.5 (1 + c P / Q) is 0.5 + c P' / Q, the same float */
    vf p = ((((0.5f * 2.050117018e-06f * t + 0.5f * 2.874248312e-04f) * t + 0.5f * 3.836497199e-03f) * t +
             0.5f * 5.296566710e-02f) * t + 0.5f * 1.919354051e-01f) * t + 0.5f * 1.128378987e+00f;
    vf q = ((((3.822624421e-05f * t + 1.181598054e-03f) * t + 1.510846429e-02f) * t + 1.147554219e-01f) * t +
            5.034301281e-01f) * t + 1.0f;
    *h = c * p / q + 0.5f;
}

/* exp(e) for e <= 0 (below -87 as at -87: the result then is ~1e-38) */
INL void v_exp_neg(vf *e)
{
    const vf lo = VS(-87.0f);
    vf x = VSEL(*e < lo, lo, *e);
    vf n = x * 1.44269504088896341f;
    n = (n + 12582912.0f) - 12582912.0f; /* round to nearest: |n| < 2^22 */
    vf r = x - n * 0.693359375f;
    r = r - n * -2.12194440e-4f;
    vf p = ((((1.9875691500e-4f * r + 1.3981999507e-3f) * r + 8.3334519073e-3f) * r + 4.1665795894e-2f) * r +
            1.6666665459e-1f) * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    vi k = (__builtin_convertvector(n, vi) + 127) << 23;
    *e = p * (vf)k;
}

INL void v_gelu(vf *x)
{
    vf h;
    v_phi(x, &h);
    *x = *x * h;
}

/* GELU'(x) */
INL void v_gelu_grad(const vf *x, vf *d)
{
    vf h, e = -0.5f * *x * *x;
    v_phi(x, &h);
    v_exp_neg(&e);
    *d = h + *x * e * 0.39894228040143268f;
}

/* GELU(x) into v and GELU'(x) into d, sharing the erf */
INL void v_gelu_both(const vf *x, vf *v, vf *d)
{
    vf h, e = -0.5f * *x * *x;
    v_phi(x, &h);
    v_exp_neg(&e);
    *v = *x * h;
    *d = h + *x * e * 0.39894228040143268f;
}

/* out[o] += sum_i W(o, i) in[i] for OB outputs, W(o, i) at W[o so + i si]:
 * the OB accumulators stay in registers over the inputs. */
INL void dense_blk(vf *restrict out, const vf *restrict in, const float *restrict W, size_t so, size_t si,
                   uint32_t ni, const uint32_t OB)
{
    vf acc[8];
#pragma GCC unroll 8
    for (uint32_t j = 0; j < OB; j++)
        acc[j] = out[j];
    for (uint32_t i = 0; i < ni; i++) {
        const vf x = in[i];
        const float *w = W + i * si;
#pragma GCC unroll 8
        for (uint32_t j = 0; j < OB; j++)
            acc[j] += w[j * so] * x;
    }
#pragma GCC unroll 8
    for (uint32_t j = 0; j < OB; j++)
        out[j] = acc[j];
}

/* out[o] += sum_i W(o, i) in[i], o < no, i < ni, in order of i */
INL void dense(vf *restrict out, const vf *restrict in, const float *restrict W, size_t so, size_t si, uint32_t no,
               uint32_t ni, int wide)
{
    uint32_t o = 0;
    if (wide)
        for (; o + 8 <= no; o += 8)
            dense_blk(out + o, in, W + o * so, so, si, ni, 8);
    for (; o + 4 <= no; o += 4)
        dense_blk(out + o, in, W + o * so, so, si, ni, 4);
    for (; o < no; o++)
        dense_blk(out + o, in, W + o * so, so, si, ni, 1);
}

/* ------------------------------------------------------------ arguments */

/* A define the kernel needs, in [lo, MAXCH] */
static nb_status need_def(const nb_cpu_call *c, const char *k, const char *name, long lo, uint32_t *out)
{
    long v = nb_cpu_define(c, name, -1);
    if (v == -1)
        return nb_error(NB_ERR_COMPILE, "%s: define %s missing", k, name);
    if (v < lo || v > MAXCH)
        return nb_error(NB_ERR_UNSUPPORTED, "%s: %s=%ld outside the CPU kernel's range %ld to %d", k, name, v, lo,
                        MAXCH);
    *out = (uint32_t)v;
    return NB_OK;
}

/* Binding `b` holds at least `floats` floats from float `off` */
static nb_status need_buf(const nb_cpu_call *c, const char *k, uint32_t b, uint64_t off, uint64_t floats)
{
    if (!c->buf[b])
        return nb_error(NB_ERR_INVALID_ARGUMENT, "%s: binding %u is not bound", k, b);
    if ((off + floats) * 4 > c->bytes[b])
        return nb_error(NB_ERR_INVALID_ARGUMENT, "%s: binding %u holds %llu bytes, the dispatch reads %llu", k, b,
                        (unsigned long long)c->bytes[b], (unsigned long long)((off + floats) * 4));
    return NB_OK;
}

/* A weight piece: from binding b at `off` floats */
static nb_status weight(const nb_cpu_call *c, const char *k, uint32_t b, uint64_t off, uint64_t floats,
                        const float **out)
{
    nb_status s = need_buf(c, k, b, off, floats);
    if (!s)
        *out = (const float *)c->buf[b] + off;
    return s;
}

/* Grows every thread's scratch to `bytes` before the tasks run, so that a
 * task's nb_cpu_scratch only looks it up. */
static nb_status scratch_all(const nb_cpu_call *c, const char *k, uint64_t bytes)
{
    for (uint32_t t = 0; t < nb_cpu_threads(c); t++)
        if (!nb_cpu_scratch(c, t, bytes))
            return nb_error(NB_ERR_OUT_OF_MEMORY, "%s: %llu bytes of scratch", k, (unsigned long long)bytes);
    return NB_OK;
}

#define TRY(x)                                                                                                     \
    do {                                                                                                           \
        nb_status s_ = (x);                                                                                        \
        if (s_)                                                                                                    \
            return s_;                                                                                             \
    } while (0)

static uint32_t tiles_of(uint32_t n) { return (n + TILE - 1) / TILE; }

/* ------------------------------------------------------------- mlp_fwd */

typedef struct mlp_args {
    const nb_cpu_call *c;
    const float *w1, *b1, *w2, *b2;
    const float *x, *g, *h; /* x (fwd); g, h (bwd) */
    float *out, *hs;        /* out and saved h (fwd) */
    float *gh, *gx;         /* bwd */
    uint32_t cin, hid, cout, n, tiles;
    int save, wide;
    uint64_t scratch;
} mlp_args;

HOT static void mlp_fwd_task(void *user, uint64_t t, uint32_t thread)
{
    const mlp_args *A = user;
    const uint32_t CIN = A->cin, HID = A->hid, COUT = A->cout, N = A->n;
    const uint64_t b = t / A->tiles;
    const uint32_t p0 = (uint32_t)(t % A->tiles) * TILE, p1 = p0 + TILE < N ? p0 + TILE : N;
    vf *restrict xv = nb_cpu_scratch(A->c, thread, A->scratch);
    vf *restrict h = xv + CIN, *restrict o = h + HID;
    const float *x = A->x + b * CIN * N;
    float *out = A->out + b * COUT * N, *hs = A->hs ? A->hs + b * HID * N : NULL;
    for (uint32_t p = p0; p < p1; p += VW) {
        const uint32_t n = p1 - p < VW ? p1 - p : VW;
        for (uint32_t i = 0; i < CIN; i++)
            vload(&xv[i], x + (size_t)i * N + p, n);
        for (uint32_t k = 0; k < HID; k++)
            h[k] = VS(A->b1[k]);
        dense(h, xv, A->w1, CIN, 1, HID, CIN, A->wide);
        for (uint32_t k = 0; k < HID; k++) {
            if (A->save)
                vstore(hs + (size_t)k * N + p, &h[k], n);
            v_gelu(&h[k]);
        }
        for (uint32_t k = 0; k < COUT; k++)
            o[k] = VS(A->b2[k]);
        dense(o, h, A->w2, HID, 1, COUT, HID, A->wide);
        for (uint32_t k = 0; k < COUT; k++)
            vstore(out + (size_t)k * N + p, &o[k], n);
    }
}

HOT static void mlp_bwd_task(void *user, uint64_t t, uint32_t thread)
{
    const mlp_args *A = user;
    const uint32_t CIN = A->cin, HID = A->hid, COUT = A->cout, N = A->n;
    const uint64_t b = t / A->tiles;
    const uint32_t p0 = (uint32_t)(t % A->tiles) * TILE, p1 = p0 + TILE < N ? p0 + TILE : N;
    vf *restrict gv = nb_cpu_scratch(A->c, thread, A->scratch);
    vf *restrict s = gv + COUT, *restrict acc = s + HID;
    const float *g = A->g + b * COUT * N, *hv = A->h + b * HID * N;
    float *gh = A->gh + b * HID * N, *gx = A->gx + b * CIN * N;
    for (uint32_t p = p0; p < p1; p += VW) {
        const uint32_t n = p1 - p < VW ? p1 - p : VW;
        for (uint32_t o = 0; o < COUT; o++)
            vload(&gv[o], g + (size_t)o * N + p, n);
        for (uint32_t k = 0; k < HID; k++)
            s[k] = (vf){0};
        dense(s, gv, A->w2, 1, HID, HID, COUT, A->wide); /* W2^T g */
        for (uint32_t k = 0; k < HID; k++) {
            vf hk, d;
            vload(&hk, hv + (size_t)k * N + p, n);
            v_gelu_grad(&hk, &d);
            s[k] *= d;
            vstore(gh + (size_t)k * N + p, &s[k], n);
        }
        for (uint32_t i = 0; i < CIN; i++)
            acc[i] = (vf){0};
        dense(acc, s, A->w1, 1, CIN, CIN, HID, A->wide); /* W1^T gh */
        for (uint32_t i = 0; i < CIN; i++)
            vstore(gx + (size_t)i * N + p, &acc[i], n);
    }
}

/* mlp_fwd and mlp_bwd: the weights (UBO = 1: bindings 0 and 1, each
 * [W | bias | gate slot]; UBO = 0: binding 0 at the push offsets), then the
 * data bindings from DB. */
static nb_status mlp(const nb_cpu_call *c, int bwd)
{
    const char *k = bwd ? "mlp_bwd" : "mlp_fwd";
    mlp_args A = {.c = c, .wide = g_wide};
    TRY(need_def(c, k, "CIN", 1, &A.cin));
    TRY(need_def(c, k, "HID", 1, &A.hid));
    TRY(need_def(c, k, "COUT", 1, &A.cout));
    A.save = !bwd && nb_cpu_define(c, "SAVE", 0) != 0;
    const int ubo = nb_cpu_define(c, "UBO", 0) != 0;
    const uint32_t *pu = c->push, batch = pu[0], N = pu[1], db = ubo ? 2 : 1;
    const uint64_t w1n = (uint64_t)A.hid * A.cin, w2n = (uint64_t)A.cout * A.hid;
    TRY(weight(c, k, 0, ubo ? 0 : pu[2], w1n, &A.w1));
    TRY(weight(c, k, 0, ubo ? w1n : pu[3], A.hid, &A.b1));
    TRY(weight(c, k, ubo ? 1 : 0, ubo ? 0 : pu[4], w2n, &A.w2));
    TRY(weight(c, k, ubo ? 1 : 0, ubo ? w2n : pu[5], A.cout, &A.b2));
    const uint64_t bn = (uint64_t)batch * N;
    if (!bn)
        return NB_OK;
    if (!bwd) {
        TRY(need_buf(c, k, db, 0, bn * A.cin));
        TRY(need_buf(c, k, db + 1, 0, bn * A.cout));
        if (A.save)
            TRY(need_buf(c, k, db + 2, 0, bn * A.hid));
        A.x = c->buf[db];
        A.out = c->buf[db + 1];
        A.hs = A.save ? c->buf[db + 2] : NULL;
    } else {
        TRY(need_buf(c, k, db, 0, bn * A.cout));
        TRY(need_buf(c, k, db + 1, 0, bn * A.hid));
        TRY(need_buf(c, k, db + 2, 0, bn * A.hid));
        TRY(need_buf(c, k, db + 3, 0, bn * A.cin));
        A.g = c->buf[db];
        A.h = c->buf[db + 1];
        A.gh = c->buf[db + 2];
        A.gx = c->buf[db + 3];
    }
    A.n = N;
    A.tiles = tiles_of(N);
    A.scratch = sizeof(vf) * ((uint64_t)A.cin + A.hid + A.cout);
    TRY(scratch_all(c, k, A.scratch));
    nb_cpu_parallel(c, (uint64_t)batch * A.tiles, bwd ? mlp_bwd_task : mlp_fwd_task, &A);
    return NB_OK;
}

static nb_status k_mlp_fwd(const nb_cpu_call *c) { return mlp(c, 0); }
static nb_status k_mlp_bwd(const nb_cpu_call *c) { return mlp(c, 1); }

/* -------------------------------------------------------- linear_bwd_x */

typedef struct linx_args {
    const nb_cpu_call *c;
    const float *w, *g, *pre;
    float *gx;
    uint32_t cin, cout, n, tiles;
    int wide;
    uint64_t scratch;
} linx_args;

HOT static void linx_task(void *user, uint64_t t, uint32_t thread)
{
    const linx_args *A = user;
    const uint32_t CIN = A->cin, COUT = A->cout, N = A->n;
    const uint64_t b = t / A->tiles;
    const uint32_t p0 = (uint32_t)(t % A->tiles) * TILE, p1 = p0 + TILE < N ? p0 + TILE : N;
    vf *restrict gv = nb_cpu_scratch(A->c, thread, A->scratch);
    vf *restrict acc = gv + COUT;
    const float *g = A->g + b * COUT * N, *pre = A->pre ? A->pre + b * CIN * N : NULL;
    float *gx = A->gx + b * CIN * N;
    for (uint32_t p = p0; p < p1; p += VW) {
        const uint32_t n = p1 - p < VW ? p1 - p : VW;
        for (uint32_t o = 0; o < COUT; o++)
            vload(&gv[o], g + (size_t)o * N + p, n);
        for (uint32_t i = 0; i < CIN; i++)
            acc[i] = (vf){0};
        dense(acc, gv, A->w, 1, CIN, CIN, COUT, A->wide); /* W^T g */
        for (uint32_t i = 0; i < CIN; i++) {
            if (pre) {
                vf u, d;
                vload(&u, pre + (size_t)i * N + p, n);
                v_gelu_grad(&u, &d);
                acc[i] *= d;
            }
            vstore(gx + (size_t)i * N + p, &acc[i], n);
        }
    }
}

/* Bindings: 0 weights (UBO = 1: the layer's uniform buffer, W first; UBO =
 * 0: the parameter buffer, W at w_off), 1 g, 2 gx, 3 pre (DGELU).
 * Push: batch, n, w_off. */
static nb_status k_linear_bwd_x(const nb_cpu_call *c)
{
    const char *k = "linear_bwd_x";
    linx_args A = {.c = c, .wide = g_wide};
    TRY(need_def(c, k, "CIN", 1, &A.cin));
    TRY(need_def(c, k, "COUT", 1, &A.cout));
    const int ubo = nb_cpu_define(c, "UBO", 0) != 0, dgelu = nb_cpu_define(c, "DGELU", 0) != 0;
    const uint32_t *pu = c->push, batch = pu[0], N = pu[1];
    TRY(weight(c, k, 0, ubo ? 0 : pu[2], (uint64_t)A.cout * A.cin, &A.w));
    const uint64_t bn = (uint64_t)batch * N;
    if (!bn)
        return NB_OK;
    TRY(need_buf(c, k, 1, 0, bn * A.cout));
    TRY(need_buf(c, k, 2, 0, bn * A.cin));
    if (dgelu)
        TRY(need_buf(c, k, 3, 0, bn * A.cin));
    A.g = c->buf[1];
    A.gx = c->buf[2];
    A.pre = dgelu ? c->buf[3] : NULL;
    A.n = N;
    A.tiles = tiles_of(N);
    A.scratch = sizeof(vf) * ((uint64_t)A.cin + A.cout);
    TRY(scratch_all(c, k, A.scratch));
    nb_cpu_parallel(c, (uint64_t)batch * A.tiles, linx_task, &A);
    return NB_OK;
}

/* ----------------------------------------------------- block_fwd / bwd */

typedef struct blk_args {
    const nb_cpu_call *c;
    const float *ws, *bs, *gt, *w0, *b0, *w1, *b1;
    const float *x, *s;        /* fwd reads */
    float *out, *zs;           /* fwd writes (zs with SAVE_Z) */
    const float *z, *gv, *gv2; /* bwd reads (and x) */
    float *ao, *gqo, *gao, *gzo, *gxo;
    uint32_t C, E, n, tiles;
    int act, wide;
    uint64_t scratch;
} blk_args;

HOT static void blk_fwd_task(void *user, uint64_t t, uint32_t thread)
{
    const blk_args *A = user;
    const uint32_t C = A->C, E = A->E, N = A->n;
    const uint64_t b = t / A->tiles;
    const uint32_t p0 = (uint32_t)(t % A->tiles) * TILE, p1 = p0 + TILE < N ? p0 + TILE : N;
    vf *restrict xv = nb_cpu_scratch(A->c, thread, A->scratch);
    vf *restrict y = xv + C, *restrict a = y + C, *restrict q = a + E;
    const size_t base = b * C * N;
    const float *x = A->x + base, *s = A->s + base;
    float *out = A->out + base, *zs = A->zs ? A->zs + base : NULL;
    for (uint32_t p = p0; p < p1; p += VW) {
        const uint32_t n = p1 - p < VW ? p1 - p : VW;
        for (uint32_t i = 0; i < C; i++)
            vload(&xv[i], x + (size_t)i * N + p, n);
        for (uint32_t o = 0; o < C; o++) {
            vload(&y[o], s + (size_t)o * N + p, n);
            y[o] = A->bs[o] + y[o];
        }
        dense(y, xv, A->ws, C, 1, C, C, A->wide); /* z */
        for (uint32_t o = 0; o < C; o++) {
            if (zs)
                vstore(zs + (size_t)o * N + p, &y[o], n);
            if (A->act)
                v_gelu(&y[o]);
        }
        for (uint32_t k = 0; k < E; k++)
            a[k] = VS(A->b0[k]);
        dense(a, y, A->w0, C, 1, E, C, A->wide);
        for (uint32_t k = 0; k < E; k++)
            v_gelu(&a[k]);
        for (uint32_t o = 0; o < C; o++)
            q[o] = A->gt[o] * xv[o] + A->b1[o];
        dense(q, a, A->w1, E, 1, C, E, A->wide);
        for (uint32_t o = 0; o < C; o++) {
            if (A->act)
                v_gelu(&q[o]);
            vstore(out + (size_t)o * N + p, &q[o], n);
        }
    }
}

HOT static void blk_bwd_task(void *user, uint64_t t, uint32_t thread)
{
    const blk_args *A = user;
    const uint32_t C = A->C, E = A->E, N = A->n;
    const uint64_t b = t / A->tiles;
    const uint32_t p0 = (uint32_t)(t % A->tiles) * TILE, p1 = p0 + TILE < N ? p0 + TILE : N;
    vf *restrict y = nb_cpu_scratch(A->c, thread, A->scratch);
    vf *restrict dz = y + C, *restrict a = dz + C, *restrict dh = a + E, *restrict gq = dh + E;
    vf *restrict q = gq + C, *restrict ga = q + C, *restrict gz = ga + E, *restrict gx = gz + C;
    const size_t base = b * C * N, ebase = b * E * N;
    const float *z = A->z + base, *x = A->x + base, *gv = A->gv + base, *gv2 = A->gv2 ? A->gv2 + base : NULL;
    float *ao = A->ao + ebase, *gqo = A->gqo + base, *gao = A->gao + ebase, *gzo = A->gzo + base,
          *gxo = A->gxo + base;
    for (uint32_t p = p0; p < p1; p += VW) {
        const uint32_t n = p1 - p < VW ? p1 - p : VW;
        for (uint32_t i = 0; i < C; i++) {
            vf zi;
            vload(&zi, z + (size_t)i * N + p, n);
            if (A->act)
                v_gelu_both(&zi, &y[i], &dz[i]);
            else
                y[i] = zi;
        }
        for (uint32_t k = 0; k < E; k++)
            a[k] = VS(A->b0[k]);
        dense(a, y, A->w0, C, 1, E, C, A->wide); /* h */
        for (uint32_t k = 0; k < E; k++) {
            vf h = a[k];
            v_gelu_both(&h, &a[k], &dh[k]);
            vstore(ao + (size_t)k * N + p, &a[k], n);
        }
        for (uint32_t o = 0; o < C; o++) {
            vload(&gq[o], gv + (size_t)o * N + p, n);
            if (gv2) {
                vf g2;
                vload(&g2, gv2 + (size_t)o * N + p, n);
                gq[o] += g2;
            }
        }
        if (A->act) {
            for (uint32_t o = 0; o < C; o++) {
                vf xo;
                vload(&xo, x + (size_t)o * N + p, n);
                q[o] = A->gt[o] * xo + A->b1[o];
            }
            dense(q, a, A->w1, E, 1, C, E, A->wide);
            for (uint32_t o = 0; o < C; o++) {
                vf d;
                v_gelu_grad(&q[o], &d);
                gq[o] *= d;
            }
        }
        for (uint32_t o = 0; o < C; o++)
            vstore(gqo + (size_t)o * N + p, &gq[o], n);
        for (uint32_t k = 0; k < E; k++)
            ga[k] = (vf){0};
        dense(ga, gq, A->w1, 1, E, E, C, A->wide); /* W1^T gq */
        for (uint32_t k = 0; k < E; k++) {
            ga[k] *= dh[k];
            vstore(gao + (size_t)k * N + p, &ga[k], n);
        }
        for (uint32_t i = 0; i < C; i++)
            gz[i] = (vf){0};
        dense(gz, ga, A->w0, 1, C, C, E, A->wide); /* W0^T ga */
        for (uint32_t i = 0; i < C; i++) {
            if (A->act)
                gz[i] *= dz[i];
            vstore(gzo + (size_t)i * N + p, &gz[i], n);
        }
        for (uint32_t i = 0; i < C; i++)
            gx[i] = A->gt[i] * gq[i];
        dense(gx, gz, A->ws, 1, C, C, C, A->wide); /* Ws^T gz */
        for (uint32_t i = 0; i < C; i++)
            vstore(gxo + (size_t)i * N + p, &gx[i], n);
    }
}

/* block_fwd and block_bwd: the weights (UBO = 1: bindings 0-2, the skip
 * [Ws | bs | g], fc0 [W0 | b0] and fc1 [W1 | b1]; UBO = 0: binding 0 at the
 * push offsets), then the data bindings from DB. */
static nb_status blk(const nb_cpu_call *c, int bwd)
{
    const char *k = bwd ? "block_bwd" : "block_fwd";
    blk_args A = {.c = c, .wide = g_wide};
    TRY(need_def(c, k, "C", 1, &A.C));
    TRY(need_def(c, k, "E", 1, &A.E));
    A.act = nb_cpu_define(c, "ACT", 0) != 0;
    const int ubo = nb_cpu_define(c, "UBO", 0) != 0;
    const uint32_t *pu = c->push, batch = pu[0], N = pu[1], db = ubo ? 3 : 1;
    const uint64_t C = A.C, E = A.E;
    TRY(weight(c, k, 0, ubo ? 0 : pu[2], C * C, &A.ws));
    TRY(weight(c, k, 0, ubo ? C * C : pu[3], C, &A.bs));
    TRY(weight(c, k, 0, ubo ? C * C + C : pu[8], C, &A.gt));
    TRY(weight(c, k, ubo ? 1 : 0, ubo ? 0 : pu[4], E * C, &A.w0));
    TRY(weight(c, k, ubo ? 1 : 0, ubo ? E * C : pu[5], E, &A.b0));
    TRY(weight(c, k, ubo ? 2 : 0, ubo ? 0 : pu[6], C * E, &A.w1));
    TRY(weight(c, k, ubo ? 2 : 0, ubo ? C * E : pu[7], C, &A.b1));
    const uint64_t bn = (uint64_t)batch * N;
    if (!bn)
        return NB_OK;
    if (!bwd) {
        const int save = nb_cpu_define(c, "SAVE_Z", 0) != 0;
        for (uint32_t i = 0; i < 3u + (uint32_t)save; i++)
            TRY(need_buf(c, k, db + i, 0, bn * C));
        A.x = c->buf[db];
        A.s = c->buf[db + 1];
        A.out = c->buf[db + 2];
        A.zs = save ? c->buf[db + 3] : NULL;
        A.scratch = sizeof(vf) * (3 * C + E);
    } else {
        const uint32_t gv2 = nb_cpu_define(c, "GV2", 0) != 0, ob = db + 3 + gv2;
        for (uint32_t i = 0; i < 3 + gv2; i++)
            TRY(need_buf(c, k, db + i, 0, bn * C));
        for (uint32_t i = 0; i < 5; i++)
            TRY(need_buf(c, k, ob + i, 0, bn * (i == 0 || i == 2 ? E : C)));
        A.z = c->buf[db];
        A.x = c->buf[db + 1];
        A.gv = c->buf[db + 2];
        A.gv2 = gv2 ? c->buf[db + 3] : NULL;
        A.ao = c->buf[ob];
        A.gqo = c->buf[ob + 1];
        A.gao = c->buf[ob + 2];
        A.gzo = c->buf[ob + 3];
        A.gxo = c->buf[ob + 4];
        A.scratch = sizeof(vf) * (6 * C + 3 * E);
    }
    A.n = N;
    A.tiles = tiles_of(N);
    TRY(scratch_all(c, k, A.scratch));
    nb_cpu_parallel(c, (uint64_t)batch * A.tiles, bwd ? blk_bwd_task : blk_fwd_task, &A);
    return NB_OK;
}

static nb_status k_block_fwd(const nb_cpu_call *c) { return blk(c, 0); }
static nb_status k_block_bwd(const nb_cpu_call *c) { return blk(c, 1); }

/* ----------------------------------------------------------------- grid */

typedef struct grid_args {
    const float *x;
    float *out;
    uint32_t cin, n, tiles;
} grid_args;

static void grid_task(void *user, uint64_t t, uint32_t thread)
{
    (void)thread;
    const grid_args *A = user;
    const uint32_t CIN = A->cin, N = A->n;
    const uint64_t b = t / A->tiles;
    const uint32_t p0 = (uint32_t)(t % A->tiles) * TILE, p1 = p0 + TILE < N ? p0 + TILE : N;
    const float *x = A->x + b * CIN * N;
    float *out = A->out + b * (CIN + 1) * N;
    for (uint32_t i = 0; i < CIN; i++)
        memcpy(out + (size_t)i * N + p0, x + (size_t)i * N + p0, (p1 - p0) * sizeof(float));
    float *gr = out + (size_t)CIN * N;
    const float fn = (float)N;
    for (uint32_t p = p0; p < p1; p++)
        gr[p] = (float)p / fn;
}

/* Bindings: 0 x [B][CIN][N], 1 out [B][CIN+1][N]. Push: batch, n. */
static nb_status k_grid(const nb_cpu_call *c)
{
    const char *k = "grid";
    grid_args A = {0};
    TRY(need_def(c, k, "CIN", 1, &A.cin));
    const uint32_t *pu = c->push, batch = pu[0], N = pu[1];
    const uint64_t bn = (uint64_t)batch * N;
    if (!bn)
        return NB_OK;
    TRY(need_buf(c, k, 0, 0, bn * A.cin));
    TRY(need_buf(c, k, 1, 0, bn * (A.cin + 1)));
    A.x = c->buf[0];
    A.out = c->buf[1];
    A.n = N;
    A.tiles = tiles_of(N);
    nb_cpu_parallel(c, (uint64_t)batch * A.tiles, grid_task, &A);
    return NB_OK;
}

/* ----------------------------------------------------------- nerf_input */

typedef struct nerf_args {
    const float *cur, *w;
    float *out;
    uint32_t nw, grid, n, tiles;
    float inv_scale;
} nerf_args;

/* round to nearest (ties either way, as GLSL's round); exact for all floats */
INL void v_round(const vf *x, vf *r)
{
    const vf big = VS(4194304.0f); /* 2^22: from there on x is whole or half */
    vf ax = VSEL(*x < VS(0), -*x, *x), t = (*x + 12582912.0f) - 12582912.0f;
    *r = VSEL(ax < big, t, *x);
}

/* sin and cos of 2 pi c for |c| <= 1/2 + a little: c = q/4 + r with q
 * whole and |r| <= 1/8 (r exact), then the quadrant q picks and signs the
 * polynomials of theta = 2 pi r (errors below 2e-9 on |theta| <= pi/4). */
INL void v_sincos_turn(const vf *c, vf *sn, vf *cs)
{
    vf q4 = *c * 4.0f, q;
    v_round(&q4, &q);
    vf r = *c - q * 0.25f, th = r * 6.28318530717958648f, t = th * th;
    vf s = th + th * t * ((((2.75573192e-6f * t - 1.98412698e-4f) * t + 8.33333333e-3f) * t) - 1.66666667e-1f);
    vf co = 1.0f + t * (((((-2.75573192e-7f * t + 2.48015873e-5f) * t - 1.38888889e-3f) * t + 4.16666667e-2f) * t) -
                        0.5f);
    vi qi = __builtin_convertvector(q, vi) & 3, swap = -(qi & 1);
    vf s2 = VSEL(swap, co, s), c2 = VSEL(swap, s, co);
    *sn = (vf)((vi)s2 ^ ((qi & 2) << 30));
    *cs = (vf)((vi)c2 ^ (((qi + 1) & 2) << 30));
}

HOT static void nerf_task(void *user, uint64_t t, uint32_t thread)
{
    (void)thread;
    const nerf_args *A = user;
    const uint32_t NW = A->nw, N = A->n, C = 1 + 2 * NW + A->grid;
    const uint64_t b = t / A->tiles;
    const uint32_t p0 = (uint32_t)(t % A->tiles) * TILE, p1 = p0 + TILE < N ? p0 + TILE : N;
    const float *cur = A->cur + b * N, *w = A->w + b * NW * 4;
    float *out = A->out + b * C * N;
    vf lane;
    for (int l = 0; l < VW; l++)
        lane[l] = (float)l;
    for (uint32_t p = p0; p < p1; p += VW) {
        const uint32_t n = p1 - p < VW ? p1 - p : VW;
        vf v, fi = (float)p + lane;
        vload(&v, cur + p, n);
        v *= A->inv_scale;
        vstore(out + p, &v, n);
        for (uint32_t k = 0; k < NW; k++) {
            vf c1 = w[4 * k] * fi, c2 = w[4 * k + 1] * fi, r1, r2, cc, rc, sn, cs; /* c1, c2 exact */
            v_round(&c1, &r1);
            v_round(&c2, &r2);
            cc = (c1 - r1) + (c2 - r2) + w[4 * k + 2] * fi;
            v_round(&cc, &rc);
            cc -= rc;
            v_sincos_turn(&cc, &sn, &cs);
            vstore(out + (size_t)(1 + 2 * k) * N + p, &sn, n);
            vstore(out + (size_t)(2 + 2 * k) * N + p, &cs, n);
        }
        if (A->grid) {
            vf g = fi / (float)N;
            vstore(out + (size_t)(1 + 2 * NW) * N + p, &g, n);
        }
    }
}

/* Bindings: 0 current [B][N], 1 w [B][NW] vec4, 2 out [B][1 + 2 NW + GRID][N].
 * Push: batch, n, 1 / current_scale (float). */
static nb_status k_nerf_input(const nb_cpu_call *c)
{
    const char *k = "nerf_input";
    nerf_args A = {0};
    TRY(need_def(c, k, "NW", 0, &A.nw));
    A.grid = nb_cpu_define(c, "GRID", 0) != 0;
    const uint32_t *pu = c->push, batch = pu[0], N = pu[1];
    memcpy(&A.inv_scale, &pu[2], sizeof A.inv_scale);
    const uint64_t bn = (uint64_t)batch * N;
    if (!bn)
        return NB_OK;
    TRY(need_buf(c, k, 0, 0, bn));
    if (A.nw)
        TRY(need_buf(c, k, 1, 0, (uint64_t)batch * A.nw * 4));
    TRY(need_buf(c, k, 2, 0, bn * (1 + 2 * A.nw + A.grid)));
    A.cur = c->buf[0];
    A.w = c->buf[1];
    A.out = c->buf[2];
    A.n = N;
    A.tiles = tiles_of(N);
    nb_cpu_parallel(c, (uint64_t)batch * A.tiles, nerf_task, &A);
    return NB_OK;
}

/* ------------------------------------------------------------- register */

nb_status nm__cpu_register_pointwise(void)
{
#if NM_CLONES
    __builtin_cpu_init();
    g_wide = __builtin_cpu_supports("x86-64-v4") != 0;
#endif
    static const struct {
        const char *name;
        nb_cpu_kernel_fn fn;
    } ks[] = {{"mlp_fwd", k_mlp_fwd},       {"mlp_bwd", k_mlp_bwd},   {"block_fwd", k_block_fwd},
              {"block_bwd", k_block_bwd},   {"linear_bwd_x", k_linear_bwd_x}, {"grid", k_grid},
              {"nerf_input", k_nerf_input}};
    for (size_t i = 0; i < sizeof ks / sizeof *ks; i++)
        TRY(nb_cpu_kernel_register(ks[i].name, ks[i].fn));
    return NB_OK;
}
