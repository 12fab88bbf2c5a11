/* cpu_grad.c - C twins of the operator's GLSL kernels for the CPU backend
 * (cpu_kernels.h lists them): the weight gradients of pointwise layers
 * (linear_bwd_w, then reduce_rows), the spectral mixing forward and backward
 * (spectral_mix) and its weight gradient (spectral_wgrad), the relative Lp
 * loss (lp_loss), AdamW (adamw) and the elementwise ops (ewise).
 *
 * Each takes the shader's defines, bindings and push constants (the
 * shaders' headers document them) and does the whole dispatch. Work is cut
 * into tasks that depend only on the shapes, never on the thread count, and
 * each output is written by one task that sums in a fixed order: the
 * results are the same bits for any number of threads (on one machine: the
 * SIMD level chosen at run time changes the rounding).
 *
 * GELU is the shaders' (gelu.glsl: the project's rational erf, 3.8e-7 in
 * fp32), so both backends give the same activation.
 *
 * SIMD: GCC vector extensions and loops the compiler vectorises, with run-time
 * dispatch on x86-64 (GCC): target_clones over x86-64-v4 (AVX-512),
 * x86-64-v3 (AVX2 + FMA) and the baseline for the bandwidth-bound loops, and
 * one register-tiled kernel per level for the weight gradients' outer
 * products. Elsewhere (aarch64, clang) the portable code is compiled for the
 * build's target. */
#include "cpu_kernels.h"

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* ------------------------------------------------------------ compiler */

/* a * b + c fused where the target has FMA (ISO C mode turns contraction off) */
#if defined(__GNUC__) && !defined(__clang__)
#define NM_FAST __attribute__((optimize("fp-contract=fast")))
#else
#define NM_FAST
#endif

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 12 && defined(__ELF__)
#define NM_X86 1
#define NM_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#define NM_AVX512 __attribute__((target("avx512f")))
#define NM_AVX2 __attribute__((target("avx2,fma")))
#else
#define NM_X86 0
#define NM_CLONES
#endif

#define NM_PRAGMA(x) _Pragma(#x)
#if defined(__clang__)
#define NM_UNROLL NM_PRAGMA(clang loop unroll(full))
#elif defined(__GNUC__)
#define NM_UNROLL NM_PRAGMA(GCC unroll 16)
#else
#define NM_UNROLL
#endif

typedef float nm_v16 __attribute__((vector_size(64)));
typedef float nm_v8 __attribute__((vector_size(32)));
typedef float nm_v4 __attribute__((vector_size(16)));

/* floats per vector of the weight-gradient kernels' widest level: the
 * accumulators are laid out for it whatever the level in use */
#define VMAX 16
/* lanes of the plain reductions (sums the compiler vectorises) */
#define LANES 16

static uint64_t min64(uint64_t a, uint64_t b) { return a < b ? a : b; }
static uint32_t round_up(uint32_t v, uint32_t m) { return (v + m - 1) / m * m; }

/* The SIMD level of the weight-gradient kernel: 2 AVX-512, 1 AVX2 + FMA, 0 portable */
static int simd_level(void)
{
#if NM_X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f"))
        return 2;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        return 1;
#endif
    return 0;
}

/* ---------------------------------------------------------------- GELU
 * gelu.glsl's, term for term. */
static inline float nm_erf(float x)
{
    float c = x < -3.9f ? -3.9f : x > 3.9f ? 3.9f : x, t = c * c;
    float p = ((((2.050117018e-06f * t + 2.874248312e-04f) * t + 3.836497199e-03f) * t + 5.296566710e-02f) * t +
               1.919354051e-01f) * t + 1.128378987e+00f;
    float q = ((((3.822624421e-05f * t + 1.181598054e-03f) * t + 1.510846429e-02f) * t + 1.147554219e-01f) * t +
               5.034301281e-01f) * t + 1.0f;
    return c * p / q;
}

static inline float nm_gelu(float x) { return 0.5f * x * (1.0f + nm_erf(x * 0.70710678118654752f)); }

static inline float nm_gelu_grad(float x)
{
    return 0.5f * (1.0f + nm_erf(x * 0.70710678118654752f)) + x * expf(-0.5f * x * x) * 0.39894228040143268f;
}

/* Preallocates every thread's scratch before the tasks run (so a task never
 * allocates and never fails). */
static nb_status scratch_all(const nb_cpu_call *c, uint64_t bytes)
{
    for (uint32_t t = 0; t < nb_cpu_threads(c); t++)
        if (!nb_cpu_scratch(c, t, bytes))
            return nb_error(NB_ERR_OUT_OF_MEMORY, "out of host memory for %llu bytes of kernel scratch",
                            (unsigned long long)bytes);
    return NB_OK;
}

/* ------------------------------------------------------- linear_bwd_w
 * Row c*PH + ph holds the sums over part ph of chunk c (the chunk cut into
 * PH nearly equal runs of positions): every row is one task, and the rows
 * add up to the gradient as reduce_rows takes them. A task walks its run in
 * blocks of up to nb positions within one trace and adds the outer products
 * g[o] x[i] of the block's whole vectors into vector accumulators [cop][cip]
 * of the level's width (channels padded to whole register tiles with a zero
 * row), read in place from g and x (x through a copy with GELU applied for
 * XGELU); the block's last positions short of a vector go through a small
 * zero-padded copy. The lanes are summed once, at the end of the run. */

/* acc[o][i] += sum over nv vectors q of g[o][q] x[i][q] (rows gp[o], xp[i],
 * any alignment), tiles of RO x RI accumulators held in registers; acc is
 * [cop][ld] of VT (ld >= cip: a caller may pass a column range) */
#define NM_TILES(NAME, ATTR, VT, RO, RI)                                                                     \
    ATTR NM_FAST static void NAME(const float *const *gr, const float *const *xr, uint32_t cop, uint32_t cip,  \
                                  uint32_t ld, uint32_t nv, float *accv)                                       \
    {                                                                                                          \
        typedef VT vu __attribute__((aligned(4), may_alias));                                                  \
        VT *d = (VT *)(void *)accv;                                                                            \
        for (uint32_t o0 = 0; o0 < cop; o0 += RO)                                                              \
            for (uint32_t i0 = 0; i0 < cip; i0 += RI) {                                                        \
                VT a[RO][RI];                                                                                  \
                const vu *gp[RO], *xp[RI];                                                                     \
                NM_UNROLL for (int r = 0; r < RO; r++)                                                         \
                {                                                                                              \
                    gp[r] = (const vu *)(const void *)gr[o0 + r];                                              \
                    NM_UNROLL for (int s = 0; s < RI; s++) a[r][s] = d[(size_t)(o0 + r) * ld + i0 + s];        \
                }                                                                                              \
                NM_UNROLL for (int s = 0; s < RI; s++) xp[s] = (const vu *)(const void *)xr[i0 + s];          \
                for (uint32_t q = 0; q < nv; q++) {                                                            \
                    VT gv[RO], xv[RI];                                                                         \
                    NM_UNROLL for (int r = 0; r < RO; r++) gv[r] = gp[r][q];                                   \
                    NM_UNROLL for (int s = 0; s < RI; s++) xv[s] = xp[s][q];                                   \
                    NM_UNROLL for (int r = 0; r < RO; r++)                                                     \
                        NM_UNROLL for (int s = 0; s < RI; s++) a[r][s] += gv[r] * xv[s];                       \
                }                                                                                              \
                NM_UNROLL for (int r = 0; r < RO; r++)                                                         \
                    NM_UNROLL for (int s = 0; s < RI; s++) d[(size_t)(o0 + r) * ld + i0 + s] = a[r][s];        \
            }                                                                                                  \
    }

typedef void (*tiles_fn)(const float *const *, const float *const *, uint32_t, uint32_t, uint32_t, uint32_t,
                         float *);

#if NM_X86
NM_TILES(tiles512_44, NM_AVX512, nm_v16, 4, 4)
NM_TILES(tiles512_18, NM_AVX512, nm_v16, 1, 8)
NM_TILES(tiles512_81, NM_AVX512, nm_v16, 8, 1)
NM_TILES(tiles256_24, NM_AVX2, nm_v8, 2, 4)
NM_TILES(tiles256_14, NM_AVX2, nm_v8, 1, 4)
NM_TILES(tiles256_41, NM_AVX2, nm_v8, 4, 1)
#endif
NM_TILES(tiles128_24, , nm_v4, 2, 4)
NM_TILES(tiles128_14, , nm_v4, 1, 4)
NM_TILES(tiles128_41, , nm_v4, 4, 1)

/* The register tiles of a level: the square-ish one, and thin ones for
 * layers with one or few outputs or inputs. */
typedef struct {
    uint32_t vl, ro, ri;
    tiles_fn fn;
} tiles_kind;

static void tiles_choose(uint32_t cin, uint32_t cout, tiles_kind *k)
{
    tiles_kind opt[3];
    switch (simd_level()) {
#if NM_X86
    case 2:
        opt[0] = (tiles_kind){16, 4, 4, tiles512_44};
        opt[1] = (tiles_kind){16, 1, 8, tiles512_18};
        opt[2] = (tiles_kind){16, 8, 1, tiles512_81};
        break;
    case 1:
        opt[0] = (tiles_kind){8, 2, 4, tiles256_24};
        opt[1] = (tiles_kind){8, 1, 4, tiles256_14};
        opt[2] = (tiles_kind){8, 4, 1, tiles256_41};
        break;
#endif
    default:
        opt[0] = (tiles_kind){4, 2, 4, tiles128_24};
        opt[1] = (tiles_kind){4, 1, 4, tiles128_14};
        opt[2] = (tiles_kind){4, 4, 1, tiles128_41};
        break;
    }
    /* the least padded work; ties go to the square tile */
    uint64_t best = UINT64_MAX;
    for (int i = 0; i < 3; i++) {
        uint64_t w = (uint64_t)round_up(cout, opt[i].ro) * round_up(cin, opt[i].ri);
        if (w < best) {
            best = w;
            *k = opt[i];
        }
    }
}

/* dst[r][k] = GELU(src[r][k]) for rows r (src rows stride apart, dst rows ld) */
NM_CLONES NM_FAST static void block_gelu(const float *src, uint64_t stride, uint32_t rows, uint32_t m, uint32_t ld,
                                         float *dst)
{
    for (uint32_t r = 0; r < rows; r++) {
        const float *s = src + r * stride;
        float *d = dst + (size_t)r * ld;
        for (uint32_t k = 0; k < m; k++)
            d[k] = nm_gelu(s[k]);
    }
}

/* sb[o][.] += g[o][.], sg[o][.] += g[o][.] gx[o][.] over m positions,
 * LANES partial sums per row (the sum's lanes: position mod LANES) */
NM_CLONES NM_FAST static void block_sums(const float *const *gr, const float *const *gxr, uint32_t rows, uint32_t m,
                                         float *sb, float *sg)
{
    const uint32_t m0 = m / LANES * LANES;
    for (uint32_t o = 0; o < rows; o++) {
        const float *g = gr[o];
        float b[LANES], s[LANES];
        for (int l = 0; l < LANES; l++) {
            b[l] = sb[o * LANES + l];
            s[l] = sg ? sg[o * LANES + l] : 0.0f;
        }
        for (uint32_t k = 0; k < m0; k += LANES)
            for (int l = 0; l < LANES; l++)
                b[l] += g[k + l];
        for (uint32_t k = m0; k < m; k++)
            b[k - m0] += g[k];
        if (sg) {
            const float *x = gxr[o];
            for (uint32_t k = 0; k < m0; k += LANES)
                for (int l = 0; l < LANES; l++)
                    s[l] += g[k + l] * x[k + l];
            for (uint32_t k = m0; k < m; k++)
                s[k - m0] += g[k] * x[k];
        }
        for (int l = 0; l < LANES; l++) {
            sb[o * LANES + l] = b[l];
            if (sg)
                sg[o * LANES + l] = s[l];
        }
    }
}

static float lanes_sum(const float *v, uint32_t n)
{
    float s = 0.0f;
    for (uint32_t l = 0; l < n; l++)
        s += v[l];
    return s;
}

typedef struct {
    const nb_cpu_call *c;
    const float *g, *x, *gx;
    float *part;
    uint32_t cin, cout, bias, gate, xgelu, ph, row;
    uint64_t chunk, n, total;
    tiles_kind tk;
    uint32_t cop, cip, nb;
    uint64_t scratch_bytes;
} wgrad_job;

/* a task's scratch, carved from its thread's */
typedef struct {
    float *accv, *sb, *sg, *xb, *zero, *gt, *xt;
    const float **gp, **xp, **gxp, **gtp, **xtp;
} wgrad_scratch;

static uint64_t wgrad_carve(const wgrad_job *j, void *base, wgrad_scratch *w)
{
    char *p = base;
    const uint32_t cop = j->cop, cip = j->cip;
#define CARVE(field, type, count)                                                                                \
    do {                                                                                                       \
        if (w)                                                                                                 \
            w->field = (type *)(void *)p;                                                                      \
        p += ((uint64_t)(count) * sizeof(type) + 63) / 64 * 64;                                                \
    } while (0)
    CARVE(accv, float, (uint64_t)cop * cip * VMAX);
    CARVE(sb, float, (uint64_t)j->cout * LANES);
    CARVE(sg, float, (uint64_t)j->cout * LANES);
    CARVE(xb, float, j->xgelu ? (uint64_t)j->cin * j->nb : 0);
    CARVE(zero, float, j->nb > VMAX ? j->nb : VMAX);
    CARVE(gt, float, (uint64_t)cop * VMAX);
    CARVE(xt, float, (uint64_t)cip * VMAX);
    CARVE(gp, const float *, cop);
    CARVE(xp, const float *, cip);
    CARVE(gxp, const float *, j->cout);
    CARVE(gtp, const float *, cop);
    CARVE(xtp, const float *, cip);
#undef CARVE
    return (uint64_t)(p - (char *)base);
}

static void wgrad_task(void *user, uint64_t t, uint32_t thread)
{
    const wgrad_job *j = user;
    const uint64_t c = t / j->ph, ph = t % j->ph;
    const uint64_t cb = c * j->chunk, len = min64(cb + j->chunk, j->total) - cb;
    const uint64_t s = cb + len * ph / j->ph, e = cb + len * (ph + 1) / j->ph;
    const uint32_t cop = j->cop, cip = j->cip, nb = j->nb, vl = j->tk.vl, cin = j->cin, cout = j->cout;
    wgrad_scratch w;
    wgrad_carve(j, nb_cpu_scratch(j->c, thread, j->scratch_bytes), &w); /* preallocated: never NULL */
    memset(w.accv, 0, (size_t)cop * cip * VMAX * 4);
    memset(w.sb, 0, (size_t)cout * LANES * 4);
    memset(w.sg, 0, (size_t)cout * LANES * 4);
    memset(w.zero, 0, (size_t)(nb > VMAX ? nb : VMAX) * 4);
    for (uint32_t o = 0; o < cop; o++)
        w.gtp[o] = w.gt + (size_t)o * VMAX;
    for (uint32_t i = 0; i < cip; i++)
        w.xtp[i] = w.xt + (size_t)i * VMAX;
    for (uint32_t o = cout; o < cop; o++)
        w.gp[o] = w.zero;
    for (uint32_t i = cin; i < cip; i++)
        w.xp[i] = w.zero;
    memset(w.gt, 0, (size_t)cop * VMAX * 4);
    memset(w.xt, 0, (size_t)cip * VMAX * 4);
    for (uint64_t p = s; p < e;) {
        const uint64_t b = p / j->n, r = p - b * j->n;
        const uint32_t m = (uint32_t)min64(min64(e - p, j->n - r), nb), mv = m / VMAX * VMAX;
        for (uint32_t o = 0; o < cout; o++) {
            w.gp[o] = j->g + (b * cout + o) * j->n + r;
            if (j->gate)
                w.gxp[o] = j->gx + (b * cout + o) * j->n + r;
        }
        if (j->xgelu) {
            block_gelu(j->x + b * cin * j->n + r, j->n, cin, m, nb, w.xb);
            for (uint32_t i = 0; i < cin; i++)
                w.xp[i] = w.xb + (size_t)i * nb;
        } else
            for (uint32_t i = 0; i < cin; i++)
                w.xp[i] = j->x + (b * cin + i) * j->n + r;
        /* the next block's rows into L2 while this one computes: a slice
         * after each row of tiles (the prefetchers do not follow this many
         * streams) */
        const uint64_t pn = p + m;
        uint64_t bn2 = 0, rn = 0;
        uint32_t lines = 0, nrow = 0;
        if (pn < e) {
            bn2 = pn / j->n;
            rn = pn - bn2 * j->n;
            lines = (uint32_t)((min64(min64(e - pn, j->n - rn), nb) * 4 + 63) / 64);
            nrow = cout * (1 + j->gate) + cin;
            if ((uint64_t)nrow * lines * 64 > 512 * 1024) /* not beside this block in L2 */
                nrow = 0;
        }
        /* by rows of output tiles, or by columns of input tiles for a layer
         * with one row of them */
        const int by_o = cop > j->tk.ro;
        const uint32_t ntile = by_o ? cop / j->tk.ro : cip / j->tk.ri, per = (nrow + ntile - 1) / ntile;
        for (uint32_t tt = 0; tt < ntile; tt++) {
            if (mv && by_o)
                j->tk.fn(w.gp + tt * j->tk.ro, w.xp, j->tk.ro, cip, cip, mv / vl,
                         w.accv + (size_t)tt * j->tk.ro * cip * vl);
            else if (mv)
                j->tk.fn(w.gp, w.xp + tt * j->tk.ri, cop, j->tk.ri, cip, mv / vl,
                         w.accv + (size_t)tt * j->tk.ri * vl);
            for (uint32_t q = tt * per; q < nrow && q < (tt + 1) * per; q++) {
                const float *row = q < cout ? j->g + (bn2 * cout + q) * j->n
                                   : q < cout + cin ? j->x + (bn2 * cin + q - cout) * j->n
                                                    : j->gx + (bn2 * cout + q - cout - cin) * j->n;
                const char *a = (const char *)(row + rn);
                for (uint32_t l = 0; l < lines; l++)
                    __builtin_prefetch(a + 64 * (size_t)l, 0, 1);
            }
        }
        if (m > mv) { /* the last positions, zero-padded to one VMAX */
            for (uint32_t o = 0; o < cout; o++)
                memcpy(w.gt + (size_t)o * VMAX, w.gp[o] + mv, (size_t)(m - mv) * 4);
            for (uint32_t i = 0; i < cin; i++)
                memcpy(w.xt + (size_t)i * VMAX, w.xp[i] + mv, (size_t)(m - mv) * 4);
            j->tk.fn(w.gtp, w.xtp, cop, cip, cip, VMAX / vl, w.accv);
            for (uint32_t o = 0; o < cout; o++)
                memset(w.gt + (size_t)o * VMAX, 0, VMAX * 4);
            for (uint32_t i = 0; i < cin; i++)
                memset(w.xt + (size_t)i * VMAX, 0, VMAX * 4);
        }
        if (j->bias || j->gate)
            block_sums(w.gp, w.gxp, cout, m, w.sb, j->gate ? w.sg : NULL);
        p += m;
    }
    float *row = j->part + t * j->row;
    for (uint32_t o = 0; o < cout; o++)
        for (uint32_t i = 0; i < cin; i++)
            row[o * cin + i] = lanes_sum(w.accv + ((size_t)o * cip + i) * vl, vl);
    for (uint32_t o = 0; o < cout; o++) {
        if (j->bias)
            row[cout * cin + o] = lanes_sum(w.sb + o * LANES, LANES);
        if (j->gate)
            row[cout * cin + j->bias * cout + o] = lanes_sum(w.sg + o * LANES, LANES);
    }
}

static nb_status k_linear_bwd_w(const nb_cpu_call *c)
{
    wgrad_job j = {.c = c};
    j.cin = (uint32_t)nb_cpu_define(c, "CIN", 0);
    j.cout = (uint32_t)nb_cpu_define(c, "COUT", 0);
    j.bias = nb_cpu_define(c, "BIAS", 0) != 0;
    j.gate = nb_cpu_define(c, "GATE", 0) != 0;
    j.xgelu = nb_cpu_define(c, "XGELU", 0) != 0;
    j.chunk = (uint64_t)nb_cpu_define(c, "CHUNK", 0);
    j.ph = (uint32_t)nb_cpu_define(c, "PH", 1);
    if (!j.cin || !j.cout || !j.chunk || !j.ph)
        return nb_error(NB_ERR_INVALID_ARGUMENT, "linear_bwd_w needs CIN, COUT, CHUNK and PH");
    const uint32_t *push = c->push;
    j.n = push[1];
    j.total = (uint64_t)push[0] * j.n;
    j.row = j.cout * j.cin + (j.bias + j.gate) * j.cout;
    j.g = c->buf[0];
    j.x = c->buf[1];
    j.part = c->buf[2];
    j.gx = j.gate ? c->buf[3] : NULL;
    if (!j.total)
        return NB_OK;
    tiles_choose(j.cin, j.cout, &j.tk);
    j.cop = round_up(j.cout, j.tk.ro);
    j.cip = round_up(j.cin, j.tk.ri);
    /* a block's rows in about 256 KiB (L2), 256 to 1024 positions; with a
     * single tile of outputs (a layer into one channel) each input row is
     * read once, so a block is a whole trace's row (up to 16384 positions):
     * one sequential run per row (96 rows of 2 KiB at a time: 14.3 ms for
     * projection 1 at b64; whole rows: 12.5) */
    uint32_t rows = j.cop + j.cip + j.gate * j.cout, nb = 262144 / 4 / rows / 64 * 64;
    if (j.cop == j.tk.ro)
        nb = 16384;
    j.nb = nb < 256 ? 256 : nb > 16384 ? 16384 : nb;
    j.scratch_bytes = wgrad_carve(&j, NULL, NULL);
    nb_status s = scratch_all(c, j.scratch_bytes);
    if (s)
        return s;
    const uint64_t chunks = (j.total + j.chunk - 1) / j.chunk;
    nb_cpu_parallel(c, chunks * j.ph, wgrad_task, &j);
    return NB_OK;
}

/* ---------------------------------------------------------- reduce_rows */

typedef struct {
    const float *part;
    float *dst;
    uint32_t rows, width, len0, off0, len1, off1, off2;
} reduce_job;

#define REDUCE_COLS 512

NM_CLONES static void reduce_cols(const float *part, uint32_t rows, uint32_t width, uint32_t j0, uint32_t nj,
                                  float *s)
{
    for (uint32_t k = 0; k < nj; k++)
        s[k] = 0.0f;
    for (uint32_t r = 0; r < rows; r++) {
        const float *p = part + (size_t)r * width + j0;
        for (uint32_t k = 0; k < nj; k++)
            s[k] += p[k];
    }
}

static void reduce_task(void *user, uint64_t t, uint32_t thread)
{
    (void)thread;
    const reduce_job *r = user;
    const uint32_t j0 = (uint32_t)t * REDUCE_COLS, nj = (uint32_t)min64(REDUCE_COLS, r->width - j0);
    float s[REDUCE_COLS];
    reduce_cols(r->part, r->rows, r->width, j0, nj, s);
    for (uint32_t k = 0; k < nj; k++) {
        uint32_t j = j0 + k;
        if (j < r->len0)
            r->dst[r->off0 + j] += s[k];
        else if (j < r->len0 + r->len1)
            r->dst[r->off1 + j - r->len0] += s[k];
        else
            r->dst[r->off2 + j - r->len0 - r->len1] += s[k];
    }
}

static nb_status k_reduce_rows(const nb_cpu_call *c)
{
    const uint32_t *p = c->push;
    reduce_job r = {c->buf[0], c->buf[1], p[0], p[1], p[2], p[3], p[4], p[5], p[6]};
    const uint32_t tasks = (r.width + REDUCE_COLS - 1) / REDUCE_COLS;
    /* a few hundred KiB of rows: one core sums them sooner than the pool
     * wakes the others */
    if ((uint64_t)r.rows * r.width <= 262144) {
        for (uint32_t t = 0; t < tasks; t++)
            reduce_task(&r, t, 0);
        return NB_OK;
    }
    nb_cpu_parallel(c, tasks, reduce_task, &r);
    return NB_OK;
}

/* --------------------------------------------------------- spectral_mix
 * One task per (BT traces, tile of up to OT output channels): the M bins of the
 * tile's outputs, summed over the C inputs in order. Complex products on
 * interleaved (re, im) vectors: A += v w and B += swap(v) w lane by lane,
 * then re = A_even -+ A_odd, im = B_even +- B_odd, so that every load is a
 * whole vector and the accumulators of a tile stay in registers. Forward:
 * the task also writes S[b][c] (the scaled input) for its channels. */

typedef nm_v16 cvec;
typedef int32_t nm_i16 __attribute__((vector_size(64)));
#define CV_LANES 16

#define CV_SWAP(v) __builtin_shuffle((v), (nm_i16){1, 0, 3, 2, 5, 4, 7, 6, 9, 8, 11, 10, 13, 12, 15, 14})

/* re = A_even + sa A_odd, im = B_even + sb B_odd, pairwise into interleaved out */
static inline __attribute__((always_inline)) void cv_fold(cvec *out, const cvec *pa, const cvec *pb, float sa,
                                                          float sb)
{
    const cvec A = *pa, B = *pb;
    cvec ae = __builtin_shuffle(A, (nm_i16){0, 0, 2, 2, 4, 4, 6, 6, 8, 8, 10, 10, 12, 12, 14, 14});
    cvec ao = __builtin_shuffle(A, (nm_i16){1, 1, 3, 3, 5, 5, 7, 7, 9, 9, 11, 11, 13, 13, 15, 15});
    cvec be = __builtin_shuffle(B, (nm_i16){0, 0, 2, 2, 4, 4, 6, 6, 8, 8, 10, 10, 12, 12, 14, 14});
    cvec bo = __builtin_shuffle(B, (nm_i16){1, 1, 3, 3, 5, 5, 7, 7, 9, 9, 11, 11, 13, 13, 15, 15});
    cvec re = ae + sa * ao, im = be + sb * bo;
    *out = __builtin_shuffle(re, im, (nm_i16){0, 17, 2, 19, 4, 21, 6, 23, 8, 25, 10, 27, 12, 29, 14, 31});
}

typedef struct {
    const float *prm, *f;
    float *y, *s;
    uint32_t C, M, batch, nc, w_off, backward, tiles;
    float inv_n;
} mix_job;

/* y[b][o] for nb <= BT traces from b0 and nt <= OT outputs from o0, floats
 * [f0, f0 + CV_LANES) of each row: BT x OT accumulator pairs in registers,
 * each weight vector loaded once for the BT traces and each coefficient
 * once for the OT outputs */
#define BT 2 /* traces per tile */
#define OT 6 /* outputs per tile: 2 BT OT accumulators (24 zmm) */
static inline __attribute__((always_inline)) void mix_tile(const mix_job *j, uint32_t b0, uint32_t nb, uint32_t o0,
                                                           uint32_t nt, uint32_t f0)
{
    const uint32_t C = j->C, M = j->M;
    /* forward: W[i][o]; backward: W[o][i] conjugated */
    const size_t row = (size_t)M * 2, ostr = j->backward ? C * row : row, istr = j->backward ? row : C * row;
    const float *w0 = j->prm + j->w_off + o0 * ostr + f0;
    const size_t fstr = (size_t)j->nc * 2;
    const float *f = j->f + (size_t)b0 * C * fstr + f0;
    cvec keep = (cvec){0} + 1.0f;
    if (j->backward && f0 == 0)
        keep[1] = 0.0f; /* F'_0 = Re F_0 */
    cvec A[BT][OT], B[BT][OT];
    NM_UNROLL
    for (uint32_t u = 0; u < BT; u++)
        NM_UNROLL
        for (uint32_t t = 0; t < OT; t++)
            A[u][t] = B[u][t] = (cvec){0};
    for (uint32_t i = 0; i < C; i++) {
        cvec v[BT], vs[BT];
        NM_UNROLL
        for (uint32_t u = 0; u < BT; u++) {
            if (u < nb) {
                const float *fp = f + ((size_t)u * C + i) * fstr;
                __builtin_prefetch(fp + 2 * CV_LANES, 0, 3); /* the next tiles' bins of this row */
                memcpy(&v[u], fp, sizeof(cvec));
                v[u] *= keep;
            } else {
                v[u] = (cvec){0};
            }
            vs[u] = CV_SWAP(v[u]);
        }
        NM_UNROLL
        for (uint32_t t = 0; t < OT; t++) {
            if (t < nt) {
                cvec wv;
                memcpy(&wv, w0 + t * ostr + i * istr, sizeof wv);
                NM_UNROLL
                for (uint32_t u = 0; u < BT; u++) {
                    if (u < nb) {
                        A[u][t] += v[u] * wv;
                        B[u][t] += vs[u] * wv;
                    }
                }
            }
        }
    }
    /* forward: re = vr wr - vi wi, im = vi wr + vr wi; backward (conj w):
     * re = vr wr + vi wi, im = vi wr - vr wi */
    const float sa = j->backward ? 1.0f : -1.0f, sb = j->backward ? -1.0f : 1.0f;
    NM_UNROLL
    for (uint32_t u = 0; u < BT; u++)
        NM_UNROLL
        for (uint32_t t = 0; t < OT; t++) {
            if (u < nb && t < nt) {
                cvec y;
                cv_fold(&y, &A[u][t], &B[u][t], sa, sb);
                y *= j->inv_n;
                if (f0 == 0)
                    y[1] = 0.0f;
                memcpy(j->y + ((size_t)(b0 + u) * C + o0 + t) * fstr + f0, &y, sizeof y);
            }
        }
}

/* The bins [k0, M) past the last whole vector, one complex value at a time
 * (a vector's partial load would cost more than these few products). */
static inline __attribute__((always_inline)) void mix_tail(const mix_job *j, uint32_t b, uint32_t o0, uint32_t nt,
                                                           uint32_t k0)
{
    const uint32_t C = j->C, M = j->M;
    for (uint32_t t = 0; t < nt; t++) {
        const uint32_t o = o0 + t;
        float *yo = j->y + ((size_t)b * C + o) * j->nc * 2;
        for (uint32_t k = k0; k < M; k++) {
            float re = 0.0f, im = 0.0f;
            for (uint32_t i = 0; i < C; i++) {
                const float *v = j->f + ((size_t)b * C + i) * j->nc * 2 + 2 * k;
                const float vr = v[0], vi = j->backward && k == 0 ? 0.0f : v[1];
                const float *w = j->prm + j->w_off + (j->backward ? (size_t)o * C + i : (size_t)i * C + o) * M * 2 + 2 * k;
                if (j->backward) { /* v conj(w) */
                    re += vr * w[0] + vi * w[1];
                    im += vi * w[0] - vr * w[1];
                } else {
                    re += vr * w[0] - vi * w[1];
                    im += vi * w[0] + vr * w[1];
                }
            }
            yo[2 * k] = re * j->inv_n;
            yo[2 * k + 1] = k == 0 ? 0.0f : im * j->inv_n;
        }
    }
}

NM_CLONES NM_FAST static void mix_task(void *user, uint64_t t, uint32_t thread)
{
    (void)thread;
    const mix_job *j = user;
    const uint32_t C = j->C, M = j->M, b0 = (uint32_t)(t / j->tiles) * BT, o0 = (uint32_t)(t % j->tiles) * OT;
    const uint32_t nt = C - o0 < OT ? C - o0 : OT, nb = j->batch - b0 < BT ? j->batch - b0 : BT;
    if (o0 == 0 && b0 + BT < j->batch) /* the next traces' kept bins into L2: C rows far apart */
        for (uint32_t r = (b0 + BT) * C; r < (b0 + BT + (j->batch - b0 - BT < BT ? j->batch - b0 - BT : BT)) * C;
             r++) {
            const char *a = (const char *)(j->f + (size_t)r * j->nc * 2);
            const char *yw = (const char *)(j->y + (size_t)r * j->nc * 2);
            for (uint32_t l = 0; l < (2 * M * 4 + 63) / 64 + 1; l++) {
                __builtin_prefetch(a + 64 * (size_t)l, 0, 1);
                __builtin_prefetch(yw + 64 * (size_t)l, 1, 1);
            }
        }
    if (!j->backward) /* S[b][c][k] = F[b][c][k] / N */
        for (uint32_t u = 0; u < nb; u++)
            for (uint32_t c = o0; c < o0 + nt; c++) {
                const float *fi = j->f + ((size_t)(b0 + u) * C + c) * j->nc * 2;
                float *so = j->s + ((size_t)(b0 + u) * C + c) * M * 2;
                for (uint32_t k = 0; k < 2 * M; k++)
                    so[k] = fi[k] * j->inv_n;
            }
    const uint32_t full = 2 * M / CV_LANES * CV_LANES;
    for (uint32_t f0 = 0; f0 < full; f0 += CV_LANES) {
        if (nt == OT && nb == BT)
            mix_tile(j, b0, BT, o0, OT, f0);
        else
            mix_tile(j, b0, nb, o0, nt, f0);
    }
    for (uint32_t u = 0; u < nb; u++)
        mix_tail(j, b0 + u, o0, nt, full / 2);
}

static nb_status k_spectral_mix(const nb_cpu_call *c)
{
    mix_job j = {.prm = c->buf[0], .f = c->buf[1], .y = c->buf[2]};
    j.C = (uint32_t)nb_cpu_define(c, "C", 0);
    j.M = (uint32_t)nb_cpu_define(c, "M", 0);
    j.backward = nb_cpu_define(c, "BACKWARD", 0) != 0;
    if (!j.C || !j.M)
        return nb_error(NB_ERR_INVALID_ARGUMENT, "spectral_mix needs C and M");
    const uint32_t *p = c->push;
    j.batch = p[0];
    j.nc = p[1];
    memcpy(&j.inv_n, &p[2], 4);
    j.w_off = p[3];
    j.s = j.backward ? NULL : c->buf[3];
    if (j.M > j.nc)
        return nb_error(NB_ERR_INVALID_ARGUMENT, "spectral_mix: %u modes of %u bins", j.M, j.nc);
    j.tiles = (j.C + OT - 1) / OT;
    nb_cpu_parallel(c, (uint64_t)(j.batch + BT - 1) / BT * j.tiles, mix_task, &j);
    return NB_OK;
}

/* ------------------------------------------------------- spectral_wgrad
 * One task per (tile of SO outputs o, tile of SI inputs i): dW[i][o][k] += the sum
 * over traces, in order, of conj(S[b][i][k]) G'[b][o][k] (G'_0 = Re G_0,
 * G'_k = 2 G_k: the 2 applied after the sum, which is exact), with the
 * interleaved products of spectral_mix. */

typedef struct {
    const float *s, *g;
    float *grad;
    uint32_t C, M, batch, nc, w_off, tiles;
} swg_job;

/* dW[i][o] for nt <= SI inputs from i0 and no <= SO outputs from o0, floats
 * [f0, f0 + CV_LANES): SO x SI accumulator pairs in registers, each
 * gradient vector loaded once for the SI inputs, each saved one once for
 * the SO outputs */
#define SO 3
#define SI 4
static inline __attribute__((always_inline)) void swg_tile(const swg_job *j, uint32_t o0, uint32_t no, uint32_t i0,
                                                           uint32_t nt, uint32_t f0)
{
    const uint32_t C = j->C, M = j->M;
    const size_t gstr = (size_t)j->nc * 2, sstr = (size_t)M * 2;
    cvec keep = (cvec){0} + 1.0f;
    if (f0 == 0)
        keep[1] = 0.0f; /* G'_0 = Re G_0 */
    cvec A[SO][SI], B[SO][SI];
    NM_UNROLL
    for (uint32_t r = 0; r < SO; r++)
        NM_UNROLL
        for (uint32_t t = 0; t < SI; t++)
            A[r][t] = B[r][t] = (cvec){0};
    for (uint32_t b = 0; b < j->batch; b++) {
        const float *gp = j->g + ((size_t)b * C + o0) * gstr + f0, *sp = j->s + ((size_t)b * C + i0) * sstr + f0;
        cvec g[SO], gs[SO];
        NM_UNROLL
        for (uint32_t r = 0; r < SO; r++) {
            if (r < no) {
                memcpy(&g[r], gp + r * gstr, sizeof(cvec));
                g[r] *= keep;
            } else {
                g[r] = (cvec){0};
            }
            gs[r] = CV_SWAP(g[r]);
        }
        NM_UNROLL
        for (uint32_t t = 0; t < SI; t++) {
            if (t < nt) {
                cvec sv;
                memcpy(&sv, sp + t * sstr, sizeof sv);
                NM_UNROLL
                for (uint32_t r = 0; r < SO; r++) {
                    if (r < no) {
                        A[r][t] += sv * g[r];  /* (sr gr, si gi) */
                        B[r][t] += sv * gs[r]; /* (sr gi, si gr) */
                    }
                }
            }
        }
    }
    /* conj(s) g: re = sr gr + si gi, im = sr gi - si gr */
    cvec two = (cvec){0} + 2.0f;
    if (f0 == 0)
        two[0] = two[1] = 1.0f;
    NM_UNROLL
    for (uint32_t r = 0; r < SO; r++)
        NM_UNROLL
        for (uint32_t t = 0; t < SI; t++) {
            if (r < no && t < nt) {
                float *w = j->grad + j->w_off + ((size_t)(i0 + t) * C + o0 + r) * M * 2 + f0;
                cvec acc, d;
                memcpy(&acc, w, sizeof acc);
                cv_fold(&d, &A[r][t], &B[r][t], 1.0f, -1.0f);
                acc += d * two;
                memcpy(w, &acc, sizeof acc);
            }
        }
}

/* The bins [k0, M) past the last whole vector, one complex value at a time */
static inline __attribute__((always_inline)) void swg_tail(const swg_job *j, uint32_t o, uint32_t i0, uint32_t nt,
                                                           uint32_t k0)
{
    const uint32_t C = j->C, M = j->M;
    for (uint32_t t = 0; t < nt; t++) {
        float *w = j->grad + j->w_off + ((size_t)(i0 + t) * C + o) * M * 2;
        for (uint32_t k = k0; k < M; k++) {
            float re = 0.0f, im = 0.0f;
            for (uint32_t b = 0; b < j->batch; b++) {
                const float *g = j->g + ((size_t)b * C + o) * j->nc * 2 + 2 * k;
                const float *sv = j->s + ((size_t)b * C + i0 + t) * M * 2 + 2 * k;
                const float gr = g[0], gi = k == 0 ? 0.0f : g[1];
                re += sv[0] * gr + sv[1] * gi; /* conj(s) g */
                im += sv[0] * gi - sv[1] * gr;
            }
            const float two = k == 0 ? 1.0f : 2.0f;
            w[2 * k] += re * two;
            w[2 * k + 1] += im * two;
        }
    }
}

NM_CLONES NM_FAST static void swg_task(void *user, uint64_t t, uint32_t thread)
{
    (void)thread;
    const swg_job *j = user;
    const uint32_t C = j->C, M = j->M, o0 = (uint32_t)(t / j->tiles) * SO, i0 = (uint32_t)(t % j->tiles) * SI;
    const uint32_t no = C - o0 < SO ? C - o0 : SO, nt = C - i0 < SI ? C - i0 : SI;
    const uint32_t full = 2 * M / CV_LANES * CV_LANES;
    for (uint32_t f0 = 0; f0 < full; f0 += CV_LANES) {
        if (no == SO && nt == SI)
            swg_tile(j, o0, SO, i0, SI, f0);
        else
            swg_tile(j, o0, no, i0, nt, f0);
    }
    for (uint32_t r = 0; r < no; r++)
        swg_tail(j, o0 + r, i0, nt, full / 2);
}

static nb_status k_spectral_wgrad(const nb_cpu_call *c)
{
    swg_job j = {.s = c->buf[0], .g = c->buf[1], .grad = c->buf[2]};
    j.C = (uint32_t)nb_cpu_define(c, "C", 0);
    j.M = (uint32_t)nb_cpu_define(c, "M", 0);
    if (!j.C || !j.M)
        return nb_error(NB_ERR_INVALID_ARGUMENT, "spectral_wgrad needs C and M");
    const uint32_t *p = c->push;
    j.batch = p[0];
    j.nc = p[1];
    j.w_off = p[2];
    if (j.M > j.nc)
        return nb_error(NB_ERR_INVALID_ARGUMENT, "spectral_wgrad: %u modes of %u bins", j.M, j.nc);
    j.tiles = (j.C + SI - 1) / SI;
    nb_cpu_parallel(c, (uint64_t)(j.C + SO - 1) / SO * j.tiles, swg_task, &j);
    return NB_OK;
}

/* -------------------------------------------------------------- lp_loss */

typedef struct {
    const float *yh, *yt;
    float *part, *stats, *grad;
    uint32_t batch, per, chunks, chunk, p4;
} loss_job;

/* sums of |yh - yt|^p and |yt|^p over n values, LANES partial sums each */
NM_CLONES NM_FAST static void loss_sums(const float *yh, const float *yt, uint32_t n, int p4, float out[2])
{
    float a[LANES] = {0}, d[LANES] = {0};
    uint32_t n0 = n / LANES * LANES;
    for (uint32_t i = 0; i < n0; i += LANES)
        for (int l = 0; l < LANES; l++) {
            float t = yt[i + l], e = yh[i + l] - t, e2 = e * e, t2 = t * t;
            a[l] += p4 ? e2 * e2 : e2;
            d[l] += p4 ? t2 * t2 : t2;
        }
    for (uint32_t i = n0; i < n; i++) {
        float t = yt[i], e = yh[i] - t, e2 = e * e, t2 = t * t;
        a[i - n0] += p4 ? e2 * e2 : e2;
        d[i - n0] += p4 ? t2 * t2 : t2;
    }
    out[0] = lanes_sum(a, LANES);
    out[1] = lanes_sum(d, LANES);
}

static void loss1_task(void *user, uint64_t t, uint32_t thread)
{
    (void)thread;
    const loss_job *j = user;
    const uint32_t b = (uint32_t)(t / j->chunks), c = (uint32_t)(t % j->chunks);
    const uint64_t begin = (uint64_t)c * j->chunk, end = min64(begin + j->chunk, j->per);
    float s[2] = {0.0f, 0.0f};
    if (begin < end)
        loss_sums(j->yh + (uint64_t)b * j->per + begin, j->yt + (uint64_t)b * j->per + begin,
                  (uint32_t)(end - begin), (int)j->p4, s);
    j->part[2 * ((uint64_t)b * j->chunks + c)] = s[0];
    j->part[2 * ((uint64_t)b * j->chunks + c) + 1] = s[1];
}

/* grad = f d (p = 2) or f d^3 (p = 4), d = yh - yt */
NM_CLONES NM_FAST static void loss_grad(const float *yh, const float *yt, uint64_t n, float f, int p4, float *g)
{
    if (p4)
        for (uint64_t i = 0; i < n; i++) {
            float d = yh[i] - yt[i];
            g[i] = f * d * d * d;
        }
    else
        for (uint64_t i = 0; i < n; i++)
            g[i] = f * (yh[i] - yt[i]);
}

#define EW_BLOCK 16384

static void loss3_task(void *user, uint64_t t, uint32_t thread)
{
    (void)thread;
    const loss_job *j = user;
    const uint64_t per_b = ((uint64_t)j->per + EW_BLOCK - 1) / EW_BLOCK, b = t / per_b,
                   i0 = (t % per_b) * EW_BLOCK, n = min64(EW_BLOCK, j->per - i0), o = b * j->per + i0;
    loss_grad(j->yh + o, j->yt + o, n, j->stats[2 * b + 1], (int)j->p4, j->grad + o);
}

static nb_status k_lp_loss(const nb_cpu_call *c)
{
    const long pv = nb_cpu_define(c, "P", 2), pass = nb_cpu_define(c, "PASS", 0);
    if ((pv != 2 && pv != 4) || pass < 1 || pass > 3)
        return nb_error(NB_ERR_INVALID_ARGUMENT, "lp_loss: P must be 2 or 4 and PASS 1, 2 or 3");
    const uint32_t *p = c->push;
    loss_job j = {c->buf[0], c->buf[1], c->buf[2], c->buf[3], pass == 3 ? c->buf[4] : NULL,
                  p[0],      p[1],      p[2],      p[3],      pv == 4};
    if (pass == 1) {
        if (!j.chunk)
            return nb_error(NB_ERR_INVALID_ARGUMENT, "lp_loss: a chunk of 0 values");
        nb_cpu_parallel(c, (uint64_t)j.batch * j.chunks, loss1_task, &j);
    } else if (pass == 2) {
        for (uint32_t b = 0; b < j.batch; b++) {
            float sx = 0.0f, sy = 0.0f;
            for (uint32_t k = 0; k < j.chunks; k++) {
                sx += j.part[2 * ((uint64_t)b * j.chunks + k)];
                sy += j.part[2 * ((uint64_t)b * j.chunks + k) + 1];
            }
            float ratio = sx / sy, l = j.p4 ? sqrtf(sqrtf(ratio)) : sqrtf(ratio);
            j.stats[2 * b] = l;
            j.stats[2 * b + 1] = sx > 0.0f ? l / ratio / sy : 0.0f;
        }
    } else if (j.per)
        nb_cpu_parallel(c, (uint64_t)j.batch * ((j.per + EW_BLOCK - 1) / EW_BLOCK), loss3_task, &j);
    return NB_OK;
}

/* ---------------------------------------------------------------- adamw */

typedef struct {
    float *prm, *m, *v;
    const float *g;
    uint64_t n;
    float beta1, beta2, omb1, omb2, eps, decay, step, isbc2;
} adamw_job;

/* vectorised: the file is built without math-errno (operator.cmake) */
NM_CLONES NM_FAST static void adamw_run(const adamw_job *j, uint64_t i0, uint64_t n)
{
    float *restrict p = j->prm + i0, *restrict m = j->m + i0, *restrict v = j->v + i0;
    const float *restrict g = j->g + i0;
    const float b1 = j->beta1, b2 = j->beta2, o1 = j->omb1, o2 = j->omb2, eps = j->eps, dec = j->decay,
                st = j->step, is = j->isbc2;
    for (uint64_t i = 0; i < n; i++) {
        float gi = g[i], mi = b1 * m[i] + o1 * gi, vi = b2 * v[i] + o2 * gi * gi;
        m[i] = mi;
        v[i] = vi;
        p[i] = p[i] * dec - st * mi / (sqrtf(vi) * is + eps);
    }
}

static void adamw_task(void *user, uint64_t t, uint32_t thread)
{
    (void)thread;
    const adamw_job *j = user;
    const uint64_t i0 = t * EW_BLOCK;
    adamw_run(j, i0, min64(EW_BLOCK, j->n - i0));
}

static nb_status k_adamw(const nb_cpu_call *c)
{
    const uint32_t *p = c->push;
    float f[8];
    memcpy(f, p + 1, sizeof f);
    adamw_job j = {c->buf[0], c->buf[2], c->buf[3], c->buf[1], p[0], f[0], f[1], f[2], f[3], f[4], f[5], f[6], f[7]};
    nb_cpu_parallel(c, (j.n + EW_BLOCK - 1) / EW_BLOCK, adamw_task, &j);
    return NB_OK;
}

/* ---------------------------------------------------------------- ewise */

typedef struct {
    const float *a, *b;
    float *o;
    uint64_t n;
    int op;
} ew_job;

NM_CLONES NM_FAST static void ew_run(const ew_job *j, uint64_t i0, uint64_t n)
{
    const float *restrict a = j->a + i0;
    float *restrict o = j->o + i0;
    if (j->op == 2)
        for (uint64_t i = 0; i < n; i++)
            o[i] += a[i];
    else if (j->op == 3)
        for (uint64_t i = 0; i < n; i++)
            o[i] = nm_gelu(a[i]);
    else {
        const float *restrict b = j->b + i0;
        for (uint64_t i = 0; i < n; i++)
            o[i] = b[i] * nm_gelu_grad(a[i]);
    }
}

static void ew_task(void *user, uint64_t t, uint32_t thread)
{
    (void)thread;
    const ew_job *j = user;
    const uint64_t i0 = t * EW_BLOCK;
    ew_run(j, i0, min64(EW_BLOCK, j->n - i0));
}

static nb_status k_ewise(const nb_cpu_call *c)
{
    ew_job j = {.a = c->buf[0], .o = c->buf[1], .n = *(const uint32_t *)c->push};
    j.op = (int)nb_cpu_define(c, "OP", 0);
    if (j.op < 2 || j.op > 4)
        return nb_error(NB_ERR_INVALID_ARGUMENT, "ewise: OP must be 2, 3 or 4");
    j.b = j.op == 4 ? c->buf[2] : NULL;
    nb_cpu_parallel(c, (j.n + EW_BLOCK - 1) / EW_BLOCK, ew_task, &j);
    return NB_OK;
}

/* ------------------------------------------------------------ register */

nb_status nm__cpu_register_grad(void)
{
    static const struct {
        const char *name;
        nb_cpu_kernel_fn fn;
    } k[] = {{"linear_bwd_w", k_linear_bwd_w}, {"reduce_rows", k_reduce_rows},   {"spectral_mix", k_spectral_mix},
             {"spectral_wgrad", k_spectral_wgrad}, {"lp_loss", k_lp_loss}, {"adamw", k_adamw},
             {"ewise", k_ewise}};
    for (size_t i = 0; i < sizeof k / sizeof *k; i++) {
        nb_status s = nb_cpu_kernel_register(k[i].name, k[i].fn);
        if (s)
            return s;
    }
    return NB_OK;
}
