/* fft.c - batched 1-D real FFTs: the length rules, the plan cache, the
 * per-buffer VkFFT applications behind each plan, and the host path (FFTW
 * over mapped device memory, nb_fft_backend). */
#include "nb_internal.h"

#include <fftw3.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FFT_MIN_N 8
#define FFT_MAX_N (1u << 20)

typedef struct binding {
    uint64_t real_id, complex_id;
    nb_vkfft *app;
} binding;

struct nb_fft {
    nb_fft *next;
    nb_context *ctx;
    uint64_t n, batch;
    nb_fft_kind kind;
    nb_precision prec;
    void *saved; /* compiled VkFFT application, loaded for each new binding */
    uint64_t saved_bytes;
    binding *b;
    uint32_t nb, capb;
    /* host path: FFTW plans for arrays aligned like fftw_malloc's, and for any */
    int host;
    void *hplan, *hplan_unaligned;
    /* the CPU backend: one-thread plans of CHUNK_ROWS rows (and of the rows
     * left over), run over the chunks on the process's threads */
    void *cplan, *ctail;
    uint64_t tail;
    uint32_t threads;
    /* the bins the caller uses; the CPU backend's band-limited transform of
     * them (cpu_fft.c), or NULL where FFTW does the whole transform */
    uint64_t bins;
    nb_pfft *pf;
    int packed; /* complex rows of `bins` bins (nb_fft_plan_packed), not n/2+1 */
};

/* Rows per chunk on the CPU backend: 16 rows keep every chunk of an
 * aligned buffer as aligned as its start (16 n floats, 16 (n/2+1) complex). */
#define CHUNK_ROWS 16

/* FFTW's planner is not thread-safe: one lock for every context. */
static pthread_mutex_t fftw_lock = PTHREAD_MUTEX_INITIALIZER;
static int fftw_threads_ready;

/* FFTW's wisdom (its measured plans) lives in the cache directory, one file
 * per precision: planned once per machine, then read. Called with fftw_lock. */
static int wisdom_loaded[2];

static void wisdom_path(const nb_context *ctx, int f64, char *out, size_t cap)
{
    snprintf(out, cap, "%s/fftw-wisdom-%s.txt", ctx->kern.cache_dir, f64 ? "f64" : "f32");
}

static void wisdom_import(int f64, const char *path)
{
    if (f64)
        fftw_import_wisdom_from_filename(path);
    else
        fftwf_import_wisdom_from_filename(path);
}

static void wisdom_load(const nb_context *ctx, int f64)
{
    if (wisdom_loaded[f64] || !ctx->kern.cache_dir[0])
        return;
    char path[1200];
    wisdom_path(ctx, f64, path, sizeof path);
    wisdom_import(f64, path);
    wisdom_loaded[f64] = 1;
}

static void wisdom_save(const nb_context *ctx, int f64)
{
    if (!ctx->kern.cache_dir[0])
        return;
    char path[1200];
    wisdom_path(ctx, f64, path, sizeof path);
    wisdom_import(f64, path); /* what other processes measured meanwhile joins ours */
    char *w = f64 ? fftw_export_wisdom_to_string() : fftwf_export_wisdom_to_string();
    if (w) {
        (void)nb__write_atomic(path, w, strlen(w)); /* an unwritable cache only costs time */
        free(w);
    }
}

/* An FFTW plan (fftwf_plan or fftw_plan as void *) of `rows` rows of p's
 * shape on `threads` of FFTW's own threads, NULL when FFTW refuses. Called
 * with wisdom (the CPU backend) the plan is measured where wisdom can be kept
 * in the cache directory and estimated where not; without, it is estimated
 * (the host path of a Vulkan CPU device: FFTW_MEASURE would take minutes at
 * its batches for a few percent). */
static void *make_plan(const nb_fft *p, uint64_t rows, int threads, unsigned flags, int wisdom)
{
    const int n = (int)p->n, nc = (int)(p->n / 2 + 1), b = (int)rows, f64 = p->prec == NB_FP64;
    const size_t es = f64 ? 8 : 4;
    void *re = fftw_malloc(rows * p->n * es), *cx = fftw_malloc(rows * (p->n / 2 + 1) * 2 * es);
    void *plan = NULL;
    pthread_mutex_lock(&fftw_lock);
    if (!fftw_threads_ready) {
        fftwf_init_threads();
        fftw_init_threads();
        fftw_threads_ready = 1;
    }
    if (wisdom)
        wisdom_load(p->ctx, f64);
    const int measure = wisdom && p->ctx->kern.cache_dir[0];
    flags |= measure ? FFTW_MEASURE : FFTW_ESTIMATE;
    if (re && cx && !f64) {
        fftwf_plan_with_nthreads(threads);
        plan = p->kind == NB_FFT_R2C
                   ? (void *)fftwf_plan_many_dft_r2c(1, &n, b, re, NULL, 1, n, cx, NULL, 1, nc, flags)
                   : (void *)fftwf_plan_many_dft_c2r(1, &n, b, cx, NULL, 1, nc, re, NULL, 1, n, flags);
    } else if (re && cx) {
        fftw_plan_with_nthreads(threads);
        plan = p->kind == NB_FFT_R2C
                   ? (void *)fftw_plan_many_dft_r2c(1, &n, b, re, NULL, 1, n, cx, NULL, 1, nc, flags)
                   : (void *)fftw_plan_many_dft_c2r(1, &n, b, cx, NULL, 1, nc, re, NULL, 1, n, flags);
    }
    if (plan && measure)
        wisdom_save(p->ctx, f64);
    pthread_mutex_unlock(&fftw_lock);
    fftw_free(re);
    fftw_free(cx);
    return plan;
}

/* The host path of a Vulkan CPU device: the whole batch, FFTW's threads. */
static void *host_plan(const nb_fft *p, unsigned flags)
{
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    return make_plan(p, p->batch, cores > 0 ? (int)cores : 1, flags, 0);
}

/* The CPU backend: one-thread plans of `rows` rows, run on the pool. */
static void *chunk_plan(const nb_fft *p, uint64_t rows) { return make_plan(p, rows, 1, 0, 1); }

typedef struct chunk_job {
    const nb_fft *p;
    char *in, *out;
    uint64_t in_row, out_row; /* bytes per row */
    uint64_t chunks;          /* whole chunks; the tail after them */
} chunk_job;

static void run_chunk(void *user, uint64_t i, uint32_t thread)
{
    (void)thread;
    const chunk_job *j = user;
    const nb_fft *p = j->p;
    void *plan = i < j->chunks ? p->cplan : p->ctail;
    char *in = j->in + i * CHUNK_ROWS * j->in_row, *out = j->out + i * CHUNK_ROWS * j->out_row;
    if (p->prec == NB_FP32) {
        if (p->kind == NB_FFT_R2C)
            fftwf_execute_dft_r2c(plan, (float *)in, (fftwf_complex *)out);
        else
            fftwf_execute_dft_c2r(plan, (fftwf_complex *)in, (float *)out);
    } else {
        if (p->kind == NB_FFT_R2C)
            fftw_execute_dft_r2c(plan, (double *)in, (fftw_complex *)out);
        else
            fftw_execute_dft_c2r(plan, (fftw_complex *)in, (double *)out);
    }
}

/* The CPU backend's transform: chunks of rows on the process's threads.
 * The chunks and their plans do not depend on the thread count, so neither
 * do the results. */
static nb_status chunked_run(nb_fft *p, void *ip, void *op)
{
    const uint64_t es = p->prec == NB_FP64 ? 8 : 4, rb = p->n * es, cb = (p->n / 2 + 1) * 2 * es;
    chunk_job j = {p, ip, op, p->kind == NB_FFT_R2C ? rb : cb, p->kind == NB_FFT_R2C ? cb : rb, p->batch / CHUNK_ROWS};
    int aligned = p->prec == NB_FP32 ? fftwf_alignment_of(ip) == 0 && fftwf_alignment_of(op) == 0
                                     : fftw_alignment_of(ip) == 0 && fftw_alignment_of(op) == 0;
    if (!aligned)
        return nb__fail(NB_ERR_INVALID_ARGUMENT, "the CPU backend's FFT needs SIMD-aligned buffers");
    nb__pool_run(p->threads, j.chunks + (p->tail ? 1 : 0), run_chunk, &j);
    return NB_OK;
}

static void host_plan_destroy(const nb_fft *p, void *plan)
{
    if (!plan)
        return;
    pthread_mutex_lock(&fftw_lock);
    if (p->prec == NB_FP32)
        fftwf_destroy_plan(plan);
    else
        fftw_destroy_plan(plan);
    pthread_mutex_unlock(&fftw_lock);
}

int nb__fft_is_host(const nb_fft *p) { return p->host; }

nb_status nb__fft_host_run(nb_fft *p, nb_buffer *in, nb_buffer *out)
{
    void *ip = nb_buffer_map(in), *op = nb_buffer_map(out);
    if (!ip || !op)
        return nb__fail(NB_ERR_UNSUPPORTED, "the host FFT needs buffers the host can map");
    if (p->pf) {
        nb__pfft_run(p->pf, p->threads, p->batch, p->packed ? p->bins : p->n / 2 + 1, ip, op);
        return NB_OK;
    }
    if (p->cplan || p->ctail)
        return chunked_run(p, ip, op);
    void *plan = p->hplan;
    int aligned = p->prec == NB_FP32 ? fftwf_alignment_of(ip) == 0 && fftwf_alignment_of(op) == 0
                                     : fftw_alignment_of(ip) == 0 && fftw_alignment_of(op) == 0;
    if (!aligned) {
        if (!p->hplan_unaligned && !(p->hplan_unaligned = host_plan(p, FFTW_UNALIGNED)))
            return nb__fail(NB_ERR_UNSUPPORTED, "FFTW could not plan the unaligned transform of length %llu",
                            (unsigned long long)p->n);
        plan = p->hplan_unaligned;
    }
    if (p->prec == NB_FP32) {
        if (p->kind == NB_FFT_R2C)
            fftwf_execute_dft_r2c(plan, ip, op);
        else
            fftwf_execute_dft_c2r(plan, ip, op);
    } else {
        if (p->kind == NB_FFT_R2C)
            fftw_execute_dft_r2c(plan, ip, op);
        else
            fftw_execute_dft_c2r(plan, ip, op);
    }
    return NB_OK;
}

int nb_fft_length_ok(uint64_t n)
{
    if (n < FFT_MIN_N || n > FFT_MAX_N || n % 2)
        return 0;
    static const uint64_t primes[] = {2, 3, 5, 7, 11, 13};
    for (int i = 0; i < 6; i++)
        while (n % primes[i] == 0)
            n /= primes[i];
    return n == 1;
}

uint64_t nb_fft_good_length(uint64_t n)
{
    if (n <= FFT_MIN_N)
        return FFT_MIN_N;
    if (n >= FFT_MAX_N)
        return FFT_MAX_N;
    for (uint64_t d = 0;; d++) {
        if (nb_fft_length_ok(n + d))
            return n + d;
        if (d <= n && nb_fft_length_ok(n - d))
            return n - d;
    }
}

nb_fft_kind nb__fft_kind(const nb_fft *p) { return p->kind; }

static uint64_t elem(const nb_fft *p) { return p->prec == NB_FP64 ? 8 : 4; }
uint64_t nb__fft_real_bytes(const nb_fft *p) { return p->batch * p->n * elem(p); }
uint64_t nb__fft_complex_bytes(const nb_fft *p)
{
    return p->batch * (p->packed ? p->bins : p->n / 2 + 1) * 2 * elem(p);
}

uint32_t nb_fft_plans_cached(const nb_context *ctx) { return ctx->fft.n; }

#ifdef NOBLE_HAVE_VULKAN
static nb_status make_app(nb_fft *p, nb_buffer *real, nb_buffer *cplx, const void *load, int save,
                          nb_vkfft **out)
{
    nb_context *ctx = p->ctx;
    nb_vkfft_params vp = {.load = load,
                          .save = save,
                          .phys = ctx->phys,
                          .device = ctx->device,
                          .queue = ctx->queue,
                          .pool = ctx->pool,
                          .fence = ctx->fence,
                          .n = p->n,
                          .batch = p->batch,
                          .inverse = p->kind == NB_FFT_C2R,
                          .fp64 = p->prec == NB_FP64,
                          .real_buf = real->buffer,
                          .complex_buf = cplx->buffer,
                          .real_bytes = nb__fft_real_bytes(p),
                          .complex_bytes = nb__fft_complex_bytes(p)};
    char msg[512];
    int r = nb__vkfft_create(&vp, out, msg, sizeof msg);
    if (r == 0)
        return NB_OK;
    nb_status s = NB_ERR_UNSUPPORTED;
    if (r == 4025 || r == 1) /* failed to allocate memory / malloc failed */
        s = NB_ERR_OUT_OF_MEMORY;
    return nb__fail(s, "VkFFT could not plan the %s transform of length %llu, batch %llu: %s (%d)%s%s",
                    p->kind == NB_FFT_R2C ? "R2C" : "C2R", (unsigned long long)p->n,
                    (unsigned long long)p->batch, nb__vkfft_error_name(r), r, msg[0] ? "; VkFFT said: " : "",
                    msg);
}
#endif

static void plan_free(nb_fft *p)
{
    host_plan_destroy(p, p->hplan);
    host_plan_destroy(p, p->hplan_unaligned);
    host_plan_destroy(p, p->cplan);
    host_plan_destroy(p, p->ctail);
    nb__pfft_destroy(p->pf);
#ifdef NOBLE_HAVE_VULKAN
    for (uint32_t i = 0; i < p->nb; i++)
        nb__vkfft_destroy(p->b[i].app);
#endif
    free(p->b);
    free(p->saved);
    free(p);
}

nb_status nb_fft_plan(nb_context *ctx, uint64_t n, uint64_t batch, nb_fft_kind kind, nb_precision prec,
                      nb_fft **out)
{
    return nb_fft_plan_bins(ctx, n, batch, kind, prec, n / 2 + 1, out);
}

int nb_fft_band_limited(const nb_fft *plan) { return plan && plan->pf; }
int nb_fft_packed(const nb_fft *plan) { return plan && plan->packed; }

static nb_status plan_make(nb_context *ctx, uint64_t n, uint64_t batch, nb_fft_kind kind, nb_precision prec,
                           uint64_t bins, int packed, nb_fft **out);

nb_status nb_fft_plan_bins(nb_context *ctx, uint64_t n, uint64_t batch, nb_fft_kind kind, nb_precision prec,
                           uint64_t bins, nb_fft **out)
{
    return plan_make(ctx, n, batch, kind, prec, bins, 0, out);
}

nb_status nb_fft_plan_packed(nb_context *ctx, uint64_t n, uint64_t batch, nb_fft_kind kind, nb_precision prec,
                             uint64_t bins, nb_fft **out)
{
    return plan_make(ctx, n, batch, kind, prec, bins, 1, out);
}

static nb_status plan_make(nb_context *ctx, uint64_t n, uint64_t batch, nb_fft_kind kind, nb_precision prec,
                           uint64_t bins, int packed, nb_fft **out)
{
    if (!ctx || !out)
        return nb__fail(NB_ERR_INVALID_ARGUMENT, "nb_fft_plan: NULL argument");
    *out = NULL;
    if (kind != NB_FFT_R2C && kind != NB_FFT_C2R)
        return nb__fail(NB_ERR_INVALID_ARGUMENT, "nb_fft_plan: unknown kind %d", (int)kind);
    if (prec != NB_FP32 && prec != NB_FP64)
        return nb__fail(NB_ERR_INVALID_ARGUMENT, "nb_fft_plan: unknown precision %d", (int)prec);
    if (!nb_fft_length_ok(n))
        return nb__fail(NB_ERR_UNSUPPORTED,
                        "FFT length %llu is refused: VkFFT 1.2.26 is exact only at even lengths from %u to %u whose "
                        "prime factors are at most 13 (other lengths come out wrong or are rejected); the nearest "
                        "good length is %llu",
                        (unsigned long long)n, FFT_MIN_N, FFT_MAX_N, (unsigned long long)nb_fft_good_length(n));
    if (batch == 0 || batch > (1u << 24))
        return nb__fail(NB_ERR_INVALID_ARGUMENT, "nb_fft_plan: batch %llu (1 to 2^24)", (unsigned long long)batch);
    if (prec == NB_FP64 && !ctx->info.float64)
        return nb__fail(NB_ERR_UNSUPPORTED, "'%s' has no 64-bit floats in shaders", ctx->info.name);
    uint64_t es = prec == NB_FP64 ? 8 : 4, cbytes = batch * (n / 2 + 1) * 2 * es;
    if (cbytes > ctx->info.max_storage_buffer_range)
        return nb__fail(NB_ERR_UNSUPPORTED,
                        "an FFT of batch %llu at length %llu needs %.1f MiB buffers, over this device's storage "
                        "buffer range of %.1f MiB: split the batch (at most %llu)",
                        (unsigned long long)batch, (unsigned long long)n, (double)cbytes / 1048576.0,
                        (double)ctx->info.max_storage_buffer_range / 1048576.0,
                        (unsigned long long)(ctx->info.max_storage_buffer_range / ((n / 2 + 1) * 2 * es)));
    if (bins < 1 || bins > n / 2 + 1)
        return nb__fail(NB_ERR_INVALID_ARGUMENT, "nb_fft_plan_bins: %llu bins of a length-%llu transform (1 to %llu)",
                        (unsigned long long)bins, (unsigned long long)n, (unsigned long long)(n / 2 + 1));
    /* Only the CPU backend limits the band (at fp32): elsewhere every count
     * of bins is the same whole transform, one plan. */
    if (ctx->backend != NB_BACKEND_CPU || prec != NB_FP32)
        bins = n / 2 + 1;
    if (packed && bins > n / 2)
        return nb__fail(NB_ERR_UNSUPPORTED,
                        "nb_fft_plan_packed: packed rows need the CPU backend's band-limited transform (fp32, at "
                        "most n/2 bins); this is '%s' at %s, %llu of %llu bins",
                        ctx->info.name, prec == NB_FP32 ? "fp32" : "fp64", (unsigned long long)bins,
                        (unsigned long long)(n / 2 + 1));
    for (nb_fft *p = ctx->fft.plans; p; p = p->next)
        if (p->n == n && p->batch == batch && p->kind == kind && p->prec == prec && p->bins == bins &&
            p->packed == packed) {
            *out = p;
            return NB_OK;
        }
    nb_fft *p = calloc(1, sizeof *p);
    if (!p)
        return nb__fail(NB_ERR_OUT_OF_MEMORY, "out of host memory");
    p->ctx = ctx;
    p->n = n;
    p->batch = batch;
    p->kind = kind;
    p->prec = prec;
    p->bins = bins;
    if (ctx->backend == NB_BACKEND_CPU) {
        p->host = 1;
        p->threads = nb__cpu_threads(ctx);
        p->tail = batch % CHUNK_ROWS;
        if (bins <= n / 2)
            p->pf = nb__pfft_create(n, bins, kind == NB_FFT_C2R, p->threads);
        if (packed && !p->pf) {
            plan_free(p);
            return nb__fail(NB_ERR_UNSUPPORTED,
                            "nb_fft_plan_packed: the band-limited transform does not take length %llu",
                            (unsigned long long)n);
        }
        p->packed = packed;
        if (!p->pf && ((batch >= CHUNK_ROWS && !(p->cplan = chunk_plan(p, CHUNK_ROWS))) ||
                       (p->tail && !(p->ctail = chunk_plan(p, p->tail))))) {
            plan_free(p);
            return nb__fail(NB_ERR_UNSUPPORTED, "FFTW could not plan the %s transform of length %llu",
                            kind == NB_FFT_R2C ? "R2C" : "C2R", (unsigned long long)n);
        }
        p->next = ctx->fft.plans;
        ctx->fft.plans = p;
        ctx->fft.n++;
        *out = p;
        return NB_OK;
    }
    if (ctx->fft.host) {
        p->host = 1;
        if (!(p->hplan = host_plan(p, 0))) {
            plan_free(p);
            return nb__fail(NB_ERR_UNSUPPORTED, "FFTW could not plan the %s transform of length %llu, batch %llu",
                            kind == NB_FFT_R2C ? "R2C" : "C2R", (unsigned long long)n, (unsigned long long)batch);
        }
        p->next = ctx->fft.plans;
        ctx->fft.plans = p;
        ctx->fft.n++;
        *out = p;
        return NB_OK;
    }
#ifndef NOBLE_HAVE_VULKAN
    plan_free(p);
    return nb__no_vulkan();
#else
    /* Compile once against scratch buffers, keep the binaries, and load
     * them for every pair of buffers the plan is later used with. */
    nb_buffer *real = NULL, *cplx = NULL;
    nb_vkfft *app = NULL;
    nb_status s = nb_buffer_create(ctx, nb__fft_real_bytes(p), NB_MEM_DEVICE, &real);
    if (!s)
        s = nb_buffer_create(ctx, nb__fft_complex_bytes(p), NB_MEM_DEVICE, &cplx);
    if (!s)
        s = make_app(p, real, cplx, NULL, 1, &app);
    if (!s) {
        const void *str = nb__vkfft_saved(app, &p->saved_bytes);
        p->saved = str && p->saved_bytes ? malloc(p->saved_bytes) : NULL;
        if (!p->saved)
            s = nb__fail(NB_ERR_OUT_OF_MEMORY, "VkFFT kept no compiled application (or out of host memory)");
        else
            memcpy(p->saved, str, p->saved_bytes);
    }
    nb__vkfft_destroy(app);
    nb_buffer_destroy(real);
    nb_buffer_destroy(cplx);
    if (s) {
        plan_free(p);
        return s;
    }
    p->next = ctx->fft.plans;
    ctx->fft.plans = p;
    ctx->fft.n++;
    *out = p;
    return NB_OK;
#endif
}

#ifdef NOBLE_HAVE_VULKAN
nb_status nb__fft_record(nb_fft *p, VkCommandBuffer cmd, nb_buffer *in, nb_buffer *out)
{
    nb_buffer *real = p->kind == NB_FFT_R2C ? in : out;
    nb_buffer *cplx = p->kind == NB_FFT_R2C ? out : in;
    binding *bd = NULL;
    for (uint32_t i = 0; i < p->nb && !bd; i++)
        if (p->b[i].real_id == real->id && p->b[i].complex_id == cplx->id)
            bd = &p->b[i];
    if (!bd) {
        binding *b = nb__grow(p->b, p->nb, &p->capb, sizeof *b, 4);
        if (!b)
            return nb__fail(NB_ERR_OUT_OF_MEMORY, "out of host memory");
        p->b = b;
        nb_vkfft *app;
        nb_status s = make_app(p, real, cplx, p->saved, 0, &app);
        if (s)
            return s;
        bd = &p->b[p->nb++];
        *bd = (binding){real->id, cplx->id, app};
    }
    int r = nb__vkfft_append(bd->app, cmd, real->buffer, cplx->buffer, p->kind == NB_FFT_C2R);
    if (r)
        return nb__fail(NB_ERR_VULKAN, "VkFFTAppend failed: %s (%d)", nb__vkfft_error_name(r), r);
    return NB_OK;
}

void nb__fft_forget_buffer(nb_context *ctx, uint64_t id)
{
    for (nb_fft *p = ctx->fft.plans; p; p = p->next)
        for (uint32_t i = 0; i < p->nb;) {
            if (p->b[i].real_id == id || p->b[i].complex_id == id) {
                nb__vkfft_destroy(p->b[i].app);
                p->b[i] = p->b[--p->nb];
            } else {
                i++;
            }
        }
}
#endif

void nb__fft_destroy_all(nb_context *ctx)
{
    nb_fft *p = ctx->fft.plans;
    while (p) {
        nb_fft *n = p->next;
        plan_free(p);
        p = n;
    }
    ctx->fft.plans = NULL;
    ctx->fft.n = 0;
}

const char *nb_fftw_version(void) { return fftwf_version; }

#ifndef NOBLE_HAVE_VULKAN
const char *nb_vkfft_version(void) { return ""; }
#endif
