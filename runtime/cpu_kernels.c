/* cpu_kernels.c - the runtime's own kernels for the CPU backend: copy,
 * saxpy, reduce_sum, fma_peak and add_scalar, the C twins of
 * shaders/<name>.comp (same bindings, push constants and results). They
 * serve `noble selfcheck`, `noble bench runtime` (the copy and FMA ceilings
 * of the cores themselves) and the runtime's tests. An invocation i of the
 * GLSL kernel exists for i < groups x workgroup size (specialisation
 * constant 0); the C code covers exactly those. */
#include "nb_internal.h"

#include <pthread.h>
#include <stdint.h>
#include <string.h>

#if defined(__x86_64__) && defined(__SSE2__)
#include <emmintrin.h>
#define NB_STREAM_STORES 1
#endif

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define NB_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define NB_CLONES
#endif

/* Splits [0, n) into parts of `grain` for the threads. */
typedef struct span {
    uint64_t n, grain;
    void *user;
    void (*body)(void *user, uint64_t begin, uint64_t end);
} span;

static void span_task(void *user, uint64_t i, uint32_t thread)
{
    (void)thread;
    span *s = user;
    uint64_t b = i * s->grain, e = b + s->grain < s->n ? b + s->grain : s->n;
    s->body(s->user, b, e);
}

static void parallel_span(const nb_cpu_call *c, uint64_t n, uint64_t grain, void *user,
                          void (*body)(void *, uint64_t, uint64_t))
{
    span s = {n, grain, user, body};
    nb_cpu_parallel(c, (n + grain - 1) / grain, span_task, &s);
}

static uint64_t invocations(const nb_cpu_call *c)
{
    return (uint64_t)c->groups[0] * c->groups[1] * c->groups[2] * (uint64_t)nb_cpu_spec(c, 0, 64);
}

/* ------------------------------------------------------------------ copy */

/* dst[i] = src[i] (vec4) for every i = y row + x < n4 of the grid: x below
 * groups[0] x workgroup size, y below groups[1]. Row y covers [y row,
 * y row + w); where w >= row the rows tile the range, and the last one
 * reaches y row + w. */
typedef struct copy_args {
    const float *src;
    float *dst;
    uint64_t n4, row, w, rows;
    int stream; /* a copy larger than the caches: stores that bypass them */
} copy_args;

/* A copy larger than this goes around the caches: the destination would
 * not stay in them anyway, and a store that allocates its line first reads
 * it (a third stream). Measured on the project's 2-core machine, 256 MiB:
 * 27 GB/s through memcpy in 1 MiB pieces, 43-49 GB/s with streaming stores
 * of 16, 32 or 64 bytes alike (so SSE2's, present on every x86-64). */
#define STREAM_MIN_BYTES (8u << 20)

static void copy_bytes(float *restrict dst, const float *restrict src, uint64_t n4, int stream)
{
#ifdef NB_STREAM_STORES
    if (stream && ((uintptr_t)dst & 15) == 0 && ((uintptr_t)src & 15) == 0) {
        uint64_t i = 0;
        for (; i + 4 <= n4; i += 4) { /* 64 bytes, one cache line when aligned */
            __m128 a = _mm_load_ps(src + 4 * i), b = _mm_load_ps(src + 4 * i + 4);
            __m128 c = _mm_load_ps(src + 4 * i + 8), d = _mm_load_ps(src + 4 * i + 12);
            _mm_stream_ps(dst + 4 * i, a);
            _mm_stream_ps(dst + 4 * i + 4, b);
            _mm_stream_ps(dst + 4 * i + 8, c);
            _mm_stream_ps(dst + 4 * i + 12, d);
        }
        for (; i < n4; i++)
            _mm_stream_ps(dst + 4 * i, _mm_load_ps(src + 4 * i));
        _mm_sfence(); /* the stores are visible before the task ends */
        return;
    }
#endif
    (void)stream;
    memcpy(dst, src, n4 * 16);
}

static void copy_task(void *u, uint64_t y, uint32_t thread)
{
    (void)thread;
    const copy_args *a = u;
    uint64_t len = a->w < a->row || y + 1 == a->rows ? a->w : a->row;
    uint64_t b = y * a->row, e = b + len < a->n4 ? b + len : a->n4;
    if (b < e)
        copy_bytes(a->dst + 4 * b, a->src + 4 * b, e - b, a->stream);
}

static void copy_span(void *u, uint64_t b, uint64_t e)
{
    const copy_args *a = u;
    copy_bytes(a->dst + 4 * b, a->src + 4 * b, e - b, a->stream);
}

static nb_status k_copy(const nb_cpu_call *c)
{
    const uint32_t *p = c->push;
    copy_args a = {c->buf[0], c->buf[1], p[0], p[1], (uint64_t)c->groups[0] * (uint64_t)nb_cpu_spec(c, 0, 64),
                   c->groups[1], (uint64_t)p[0] * 16 >= STREAM_MIN_BYTES};
    if (a.rows == 1 || a.row == 0) { /* one span: split it for the threads */
        uint64_t e = a.w < a.n4 ? a.w : a.n4;
        parallel_span(c, e, 1 << 16, &a, copy_span);
    } else {
        nb_cpu_parallel(c, a.rows, copy_task, &a);
    }
    return NB_OK;
}

/* ----------------------------------------------------------------- saxpy */

typedef struct axpy_args {
    const float *x;
    float *y;
    float a;
} axpy_args;

NB_CLONES static void saxpy_body(void *u, uint64_t b, uint64_t e)
{
    axpy_args *s = u;
    const float *restrict x = s->x;
    float *restrict y = s->y;
    const float a = s->a;
    for (uint64_t i = b; i < e; i++)
        y[i] = __builtin_fmaf(a, x[i], y[i]);
}

static nb_status k_saxpy(const nb_cpu_call *c)
{
    const uint32_t *p = c->push;
    float a;
    memcpy(&a, &p[1], 4);
    uint64_t n = p[0], inv = invocations(c);
    axpy_args s = {c->buf[0], c->buf[1], a};
    parallel_span(c, n < inv ? n : inv, 1 << 16, &s, saxpy_body);
    return NB_OK;
}

/* ------------------------------------------------------------ add_scalar */

typedef struct add_args {
    float *x;
    float v;
} add_args;

static void add_body(void *u, uint64_t b, uint64_t e)
{
    add_args *s = u;
    for (uint64_t i = b; i < e; i++)
        s->x[i] += s->v;
}

static nb_status k_add_scalar(const nb_cpu_call *c)
{
    const uint32_t *p = c->push;
    add_args s = {c->buf[0], 0};
    memcpy(&s.v, &p[1], 4);
    uint64_t n = p[0], inv = invocations(c);
    parallel_span(c, n < inv ? n : inv, 1 << 16, &s, add_body);
    return NB_OK;
}

/* ------------------------------------------------------------ reduce_sum */

/* o[g] = sum of x over [g per, min((g + 1) per, n)), for each workgroup g;
 * summed in double, so at least as accurate as the GLSL's Kahan sums */
typedef struct red_args {
    const float *x;
    float *o;
    uint64_t n, per;
} red_args;

static void red_task(void *u, uint64_t g, uint32_t thread)
{
    (void)thread;
    red_args *r = u;
    uint64_t b = g * r->per, e = b + r->per < r->n ? b + r->per : r->n;
    double s = 0;
    for (uint64_t i = b; i < e; i++)
        s += r->x[i];
    r->o[g] = (float)s;
}

static nb_status k_reduce_sum(const nb_cpu_call *c)
{
    const uint32_t *p = c->push;
    red_args r = {c->buf[0], c->buf[1], p[0], p[1]};
    nb_cpu_parallel(c, c->groups[0], red_task, &r);
    return NB_OK;
}

/* -------------------------------------------------------------- fma_peak */

/* Each invocation runs iters rounds of 32 dependent-free FMAs (8 vec4
 * chains), as the GLSL does; 16 invocations at a time, so the compiler
 * keeps the chains in vector registers: the cores' own FMA rate. */
typedef struct fma_args {
    float *o;
    uint32_t iters;
    float seed;
} fma_args;

#define FMA_LANES 16
NB_CLONES static void fma_block(const fma_args *a, uint64_t first)
{
    float acc[8][FMA_LANES];
    for (int j = 0; j < 8; j++)
        for (int l = 0; l < FMA_LANES; l++)
            acc[j][l] = a->seed + (float)(first + (uint64_t)l) * 1e-9f + (float)j;
    const float m = 0.999999f, k = 1e-7f;
    for (uint32_t it = 0; it < a->iters; it++)
        for (int r = 0; r < 4; r++) /* the four components of each vec4 */
            for (int j = 0; j < 8; j++)
                for (int l = 0; l < FMA_LANES; l++)
                    acc[j][l] = __builtin_fmaf(acc[j][l], m, k);
    for (int l = 0; l < FMA_LANES; l++) {
        float s = 0;
        for (int j = 0; j < 8; j++)
            s += 4.0f * acc[j][l];
        a->o[first + (uint64_t)l] = s;
    }
}

typedef struct fma_span {
    fma_args a;
    uint64_t n;
} fma_span;

static void fma_body(void *u, uint64_t b, uint64_t e)
{
    fma_span *s = u;
    for (uint64_t i = b; i < e; i++)
        fma_block(&s->a, i * FMA_LANES);
}

static nb_status k_fma_peak(const nb_cpu_call *c)
{
    const uint32_t *p = c->push;
    fma_span s = {{c->buf[0], p[0], 0}, 0};
    memcpy(&s.a.seed, &p[1], 4);
    uint64_t inv = invocations(c), cap = c->bytes[0] / 4;
    if (inv > cap)
        inv = cap;
    s.n = inv / FMA_LANES;
    parallel_span(c, s.n, 16, &s, fma_body);
    for (uint64_t i = s.n * FMA_LANES; i < inv; i++) /* the tail, one at a time */
        ((float *)c->buf[0])[i] = 0;
    return NB_OK;
}

/* ------------------------------------------------------------ registry */

static pthread_once_t once = PTHREAD_ONCE_INIT;
static nb_status reg_status;

static void register_all(void)
{
    static const struct {
        const char *name;
        nb_cpu_kernel_fn fn;
    } k[] = {{"copy", k_copy},
             {"saxpy", k_saxpy},
             {"add_scalar", k_add_scalar},
             {"reduce_sum", k_reduce_sum},
             {"fma_peak", k_fma_peak}};
    for (size_t i = 0; i < sizeof k / sizeof *k && !reg_status; i++)
        reg_status = nb_cpu_kernel_register(k[i].name, k[i].fn);
}

nb_status nb__cpu_register_runtime_kernels(void)
{
    pthread_once(&once, register_all);
    return reg_status;
}
