/* bench_runtime.c - `noble bench runtime`: the ceilings of the device that
 * later benches measure themselves against, and the FFT against FFTW. */
#include "nb_bench.h"

#include <dirent.h>
#include <fftw3.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>


#define MAX_ROUNDS 64
#define TRY(expr)                                                                                  \
    do {                                                                                           \
        nb_status s_ = (expr);                                                                     \
        if (s_ != NB_OK) {                                                                         \
            st = s_;                                                                               \
            goto done;                                                                             \
        }                                                                                          \
    } while (0)

/* Median time of one submit of a recorded command buffer: GPU timestamps
 * where the device has them, wall time otherwise. */
static nb_status time_cmd(nb_cmd *c, int rounds, double *ms, int use_gpu, double *samples)
{
    double t[MAX_ROUNDS];
    nb_status s = nb_cmd_submit(c); /* warm-up, also the first use of the memory */
    if (s)
        return s;
    for (int i = 0; i < rounds; i++) {
        double t0 = nbb_now_ms();
        if ((s = nb_cmd_resubmit(c)))
            return s;
        double wall = nbb_now_ms() - t0, gpu = nb_cmd_gpu_ms(c);
        t[i] = use_gpu && gpu > 0 ? gpu : wall;
    }
    if (samples) /* every round, in the order timed */
        memcpy(samples, t, (size_t)rounds * sizeof *t);
    *ms = nbb_median(t, rounds);
    return NB_OK;
}

typedef struct startup_kernel {
    const char *name;
    uint32_t n_bindings;
    nb_access access[2];
    const char *define;
} startup_kernel;

static const startup_kernel STARTUP[] = {
    {"saxpy", 2, {NB_READ, NB_READ_WRITE}, NULL},
    {"reduce_sum", 2, {NB_READ, NB_WRITE}, "WG=256"},
    {"copy", 2, {NB_READ, NB_WRITE}, NULL},
    {"fma_peak", 1, {NB_WRITE}, NULL},
    {"add_scalar", 1, {NB_READ_WRITE}, NULL},
    {"copy", 2, {NB_TEXEL, NB_WRITE}, "TEXEL=1"},
};
#define NSTARTUP (sizeof STARTUP / sizeof *STARTUP)

static nb_status make_kernel(nb_context *ctx, const startup_kernel *sk, uint32_t wg, nb_kernel **k)
{
    nb_kernel_desc d = {.name = sk->name, .n_bindings = sk->n_bindings, .push_bytes = 8, .n_spec = 1,
                        .spec_id = {0}, .spec_value = {wg}};
    d.access[0] = sk->access[0];
    d.access[1] = sk->access[1];
    d.defines[0] = sk->define;
    return nb_kernel_create(ctx, &d, k);
}

/* Context creation plus every runtime kernel, from a given cache directory. */
static nb_status startup(const nb_context_options *base, const char *dir, double *ms, nb_kernel_stats *ks)
{
    double t0 = nbb_now_ms();
    nb_context_options o = *base;
    o.cache_dir = dir;
    nb_context *ctx;
    nb_status s = nb_context_create(&o, &ctx);
    if (s)
        return s;
    nb_kernel *k[NSTARTUP] = {0};
    for (size_t i = 0; i < NSTARTUP && !s; i++)
        s = make_kernel(ctx, &STARTUP[i], 256, &k[i]);
    *ms = nbb_now_ms() - t0;
    nb_kernel_stats_get(ctx, ks);
    for (size_t i = 0; i < NSTARTUP; i++)
        nb_kernel_destroy(k[i]);
    nb_context_destroy(ctx);
    return s;
}

static void remove_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    char path[1024];
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        unlink(path);
    }
    closedir(d);
    rmdir(dir);
}

static nb_status bench_startup(const nbb_target *t, nbb_report *r)
{
    char dir[] = "/tmp/noble-bench-cache-XXXXXX";
    if (!mkdtemp(dir))
        return NB_OK; /* no temporary directory: skip, it is only a timing */
    double cold = 0, warm = 0;
    nb_kernel_stats kc, kw;
    nb_status s = startup(&t->options, dir, &cold, &kc);
    if (!s)
        s = startup(&t->options, dir, &warm, &kw);
    remove_dir(dir);
    if (s)
        return s;
    char note[160];
    if (t->backend == NB_BACKEND_CPU) {
        snprintf(note, sizeof note, "context (threads) + %zu kernels, empty cache: C functions found by name, "
                 "nothing compiled", NSTARTUP);
        nbb_report_num(r, "startup_cold_ms", cold, "ms", note);
        nbb_report_num(r, "startup_warm_ms", warm, "ms", "the same again (the CPU backend has no kernel cache)");
        return NB_OK;
    }
    snprintf(note, sizeof note, "context + %zu kernels, empty cache (glslang %.0f ms, pipelines %.0f ms)", NSTARTUP,
             kc.compile_ms, kc.pipeline_ms);
    nbb_report_num(r, "startup_cold_ms", cold, "ms", note);
    snprintf(note, sizeof note, "the same, SPIR-V and pipeline cache warm (%u of %zu from cache)", kw.cache_hits,
             NSTARTUP);
    nbb_report_num(r, "startup_warm_ms", warm, "ms", note);
    return NB_OK;
}

static double host_memcpy_gbps(uint64_t bytes, int rounds, double *samples)
{
    char *a = malloc(bytes), *b = malloc(bytes);
    if (!a || !b) {
        free(a);
        free(b);
        return NAN;
    }
    memset(a, 1, bytes); /* first touch is expensive on these machines: not part of the copy */
    memset(b, 2, bytes);
    double t[MAX_ROUNDS];
    for (int i = 0; i < rounds; i++) {
        double t0 = nbb_now_ms();
        memcpy(b, a, bytes);
        t[i] = nbb_now_ms() - t0;
        a[i] = b[bytes - 1 - (uint64_t)i]; /* keep the copies observable */
    }
    memcpy(samples, t, (size_t)rounds * sizeof *t);
    double ms = nbb_median(t, rounds);
    free(a);
    free(b);
    return 2.0 * (double)bytes / (ms * 1e6);
}

static nb_status bench_fft(nb_context *ctx, const nbb_options *o, int rounds, nbb_report *r, nbb_report *tm)
{
    const uint64_t n = 8580, batch = o->quick ? 96 : 1536, nc = n / 2 + 1;
    nb_status st = NB_OK;
    nb_buffer *x = NULL, *X = NULL, *y = NULL;
    nb_cmd *c = NULL;
    float *hx = NULL, *hy = NULL;
    fftwf_complex *hX = NULL;
    fftwf_plan pf = NULL, pi = NULL;
    nb_fft *fwd, *inv;
    double t0 = nbb_now_ms();
    TRY(nb_fft_plan(ctx, n, batch, NB_FFT_R2C, NB_FP32, &fwd));
    TRY(nb_fft_plan(ctx, n, batch, NB_FFT_C2R, NB_FP32, &inv));
    double plan_ms = nbb_now_ms() - t0;
    TRY(nb_buffer_create(ctx, n * batch * 4, NB_MEM_DEVICE, &x));
    TRY(nb_buffer_create(ctx, nc * batch * 8, NB_MEM_DEVICE, &X));
    TRY(nb_buffer_create(ctx, n * batch * 4, NB_MEM_DEVICE, &y));
    hx = fftwf_malloc(n * batch * 4);
    hy = fftwf_malloc(n * batch * 4);
    hX = fftwf_malloc(nc * batch * 8);
    if (!hx || !hy || !hX) {
        st = NB_ERR_OUT_OF_MEMORY;
        goto done;
    }
    for (uint64_t i = 0; i < n * batch; i++)
        hx[i] = (float)sin(0.001 * (double)i);
    TRY(nb_buffer_upload(x, 0, hx, n * batch * 4));
    TRY(nb_cmd_begin(ctx, 1, &c));
    TRY(nb_cmd_fft(c, fwd, x, X, "r2c"));
    TRY(nb_cmd_fft(c, inv, X, y, "c2r"));
    double pair_ms, pair_t[MAX_ROUNDS], fftw_t[MAX_ROUNDS], band_t[MAX_ROUNDS];
    TRY(time_cmd(c, rounds, &pair_ms, 0, pair_t));
    const nb_profile_row *rows;
    uint32_t nrows = 0;
    double r2c_ms = NAN, c2r_ms = NAN;
    if (nb_cmd_profile(c, &rows, &nrows) == NB_OK)
        for (uint32_t i = 0; i < nrows; i++) {
            if (strcmp(rows[i].label, "r2c") == 0)
                r2c_ms = rows[i].total_ms;
            if (strcmp(rows[i].label, "c2r") == 0)
                c2r_ms = rows[i].total_ms;
        }

    /* FFTW on the same machine, in the same run, with every core. */
    int threads = (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (threads < 1)
        threads = 1;
    fftwf_init_threads();
    fftwf_plan_with_nthreads(threads);
    /* FFTW at its best is FFTW_MEASURE; its planning (minutes at batch
     * 1536 here) is kept as wisdom next to noble's kernel cache. --quick
     * uses FFTW_ESTIMATE, a few percent slower at this size, and so does
     * --fftw-estimate (a fresh machine whose minutes count). */
    const int estimate = o->quick || o->fftw_estimate;
    unsigned flags = estimate ? FFTW_ESTIMATE : FFTW_MEASURE;
    char wisdom[1200] = "";
    if (!estimate && nb_cache_dir(ctx)[0]) {
        snprintf(wisdom, sizeof wisdom, "%s/fftw-wisdom-%dthreads.txt", nb_cache_dir(ctx), threads);
        fftwf_import_wisdom_from_filename(wisdom);
    }
    int len = (int)n;
    double tp = nbb_now_ms();
    pf = fftwf_plan_many_dft_r2c(1, &len, (int)batch, hx, NULL, 1, (int)n, hX, NULL, 1, (int)nc, flags);
    pi = fftwf_plan_many_dft_c2r(1, &len, (int)batch, hX, NULL, 1, (int)nc, hy, NULL, 1, (int)n, flags);
    double fftw_plan_ms = nbb_now_ms() - tp;
    if (wisdom[0])
        fftwf_export_wisdom_to_filename(wisdom);
    for (uint64_t i = 0; i < n * batch; i++) /* FFTW_MEASURE overwrites the arrays */
        hx[i] = (float)sin(0.001 * (double)i);
    double t[MAX_ROUNDS];
    fftwf_execute(pf);
    fftwf_execute(pi);
    for (int i = 0; i < rounds; i++) {
        double a = nbb_now_ms();
        fftwf_execute(pf);
        fftwf_execute(pi);
        t[i] = nbb_now_ms() - a;
    }
    memcpy(fftw_t, t, (size_t)rounds * sizeof *t);
    double fftw_ms = nbb_median(t, rounds);
    double flops = 2.0 * 2.5 * (double)n * log2((double)n) * (double)batch; /* R2C + C2R */

    /* The spectral layers' transforms: the same pair planned for the NOBLE
     * preset's 129 kept bins (nb_fft_plan_bins), band-limited where the
     * backend does that (the CPU backend), the whole transform elsewhere. */
    const uint64_t bins = 129;
    nb_fft *bfwd, *binv;
    nb_cmd *cb = NULL;
    double band_ms = NAN;
    TRY(nb_fft_plan_bins(ctx, n, batch, NB_FFT_R2C, NB_FP32, bins, &bfwd));
    TRY(nb_fft_plan_bins(ctx, n, batch, NB_FFT_C2R, NB_FP32, bins, &binv));
    const int band = nb_fft_band_limited(bfwd) && nb_fft_band_limited(binv);
    st = nb_cmd_begin(ctx, 0, &cb);
    if (!st)
        st = nb_cmd_fft(cb, bfwd, x, X, "band r2c");
    if (!st)
        st = nb_cmd_fft(cb, binv, X, y, "band c2r");
    if (!st)
        st = time_cmd(cb, rounds, &band_ms, 0, band_t);
    nb_cmd_destroy(cb);
    if (st)
        goto done;

    char note[160];
    const int cpu = nb_context_backend(ctx) == NB_BACKEND_CPU, host = nb_context_fft_backend(ctx) == NB_FFT_HOST;
    snprintf(note, sizeof note, "N = %llu, batch %llu, R2C + C2R pair in one submit, wall%s", (unsigned long long)n,
             (unsigned long long)batch, cpu ? "; 16-row chunks on the backend's threads" : "");
    nbb_report_num(r, "fft_n", (double)n, "", NULL);
    nbb_report_num(r, "fft_batch", (double)batch, "", NULL);
    nbb_report_num(r, "fft_pair_ms", pair_ms, "ms", note);
    const char *op_time = cpu ? "wall time of the op on the host" : host ? "host wall time of the transform"
                                                                         : "GPU timestamps";
    nbb_report_num(r, "fft_r2c_gpu_ms", r2c_ms, "ms", op_time);
    nbb_report_num(r, "fft_c2r_gpu_ms", c2r_ms, "ms", op_time);
    nbb_report_num(r, "fft_gflops", flops / (pair_ms * 1e6), "GFLOP/s", "2.5 N log2 N per real transform");
    if (cpu && nb_cache_dir(ctx)[0])
        snprintf(note, sizeof note, "both plans: one-thread FFTW_MEASURE plans of 16 rows, kept as wisdom in "
                 "the cache dir (measured once)");
    else if (cpu)
        snprintf(note, sizeof note, "both plans: one-thread plans of 16 rows, FFTW_ESTIMATE (no cache dir)");
    else
        snprintf(note, sizeof note, "%s", host ? "both plans, FFTW_ESTIMATE" : "both plans, VkFFT compiles its kernels");
    nbb_report_num(r, "fft_plan_ms", plan_ms, "ms", note);
    snprintf(note, sizeof note, "FFTW %s, %d threads, %s", fftwf_version, threads,
             estimate ? "FFTW_ESTIMATE" : "FFTW_MEASURE");
    nbb_report_num(r, "fftw_pair_ms", fftw_ms, "ms", note);
    nbb_report_num(r, "fftw_threads", threads, "", NULL);
    nbb_report_num(r, "fftw_plan_ms", fftw_plan_ms, "ms", NULL);
    nbb_report_num(r, "fft_vs_fftw_ratio", fftw_ms / pair_ms, "x", "noble throughput / FFTW throughput; > 1: noble faster");
    snprintf(note, sizeof note, "the same pair for the first %llu bins (nb_fft_plan_bins): %s", (unsigned long long)bins,
             band ? "band-limited (runtime/cpu_fft.c)" : "the whole transform on this backend");
    nbb_report_num(r, "fft_band_pair_ms", band_ms, "ms", note);
    nbb_report_num(r, "fft_band_vs_fftw_ratio", fftw_ms / band_ms, "x",
                   "FFTW's whole pair / the band-limited pair: what the spectral layers gain");
    nbb_report_samples(tm, "fft_pair", pair_t, rounds, "ms", "wall time of each round");
    nbb_report_samples(tm, "fftw_pair", fftw_t, rounds, "ms", "wall time of each round");
    nbb_report_samples(tm, "fft_band_pair", band_t, rounds, "ms", "wall time of each round");
done:
    if (pf)
        fftwf_destroy_plan(pf);
    if (pi)
        fftwf_destroy_plan(pi);
    fftwf_free(hx);
    fftwf_free(hy);
    fftwf_free(hX);
    nb_cmd_destroy(c);
    nb_buffer_destroy(x);
    nb_buffer_destroy(X);
    nb_buffer_destroy(y);
    return st;
}

const char *nbb_ceiling_copy_what(nb_context *ctx)
{
    static char buf[160];
    if (nb_context_backend(ctx) == NB_BACKEND_CPU) {
        snprintf(buf, sizeof buf, "the cores' copy: the copy kernel in C on %u thread(s) (runtime/cpu_kernels.c)",
                 nb_context_device(ctx)->threads);
        return buf;
    }
    return "vec4 copy shader: the better of storage and texel reads";
}

const char *nbb_ceiling_fma_what(nb_context *ctx)
{
    static char buf[160];
    if (nb_context_backend(ctx) == NB_BACKEND_CPU) {
        snprintf(buf, sizeof buf, "fma_peak in C: 8 independent FMA chains of 16 lanes, %s, %u thread(s)",
                 nb_context_device(ctx)->simd, nb_context_device(ctx)->threads);
        return buf;
    }
    return "fma_peak shader: 8 independent vec4 FMA chains per invocation";
}

nb_status nbb_measure_ceilings(nb_context *ctx, int quick, int rounds, nbb_ceilings *out)
{
    nb_status st = NB_OK;
    nb_kernel *kcopy = NULL, *ktexel = NULL, *kfma = NULL;
    nb_buffer *a = NULL, *b = NULL;
    nb_cmd *c = NULL;
    uint64_t bytes = quick ? (32ull << 20) : (256ull << 20);
    const uint64_t range = nb_context_device(ctx)->max_storage_buffer_range;
    if (bytes > range) /* what one kernel binding can see */
        bytes = range / 4096 * 4096;
    if (rounds > MAX_ROUNDS)
        rounds = MAX_ROUNDS;
    memset(out, 0, sizeof *out);
    out->bytes = bytes;
    out->rounds = rounds;
    TRY(make_kernel(ctx, &STARTUP[2], 256, &kcopy));
    TRY(nb_buffer_create(ctx, bytes, NB_MEM_DEVICE, &a));
    TRY(nb_buffer_create(ctx, bytes, NB_MEM_DEVICE, &b));
    {
        uint32_t n4 = (uint32_t)(bytes / 16), groups = n4 / 256;
        uint32_t gx = groups < 65535 ? groups : 32768, gy = (groups + gx - 1) / gx;
        struct {
            uint32_t n4, row;
        } p = {n4, gx * 256};
        TRY(nb_cmd_begin(ctx, 1, &c));
        TRY(nb_cmd_fill(c, a, 0, bytes, 0x3f800000u));
        TRY(nb_cmd_submit(c));
        TRY(nb_cmd_reset(c));
        nb_buffer *bufs[2] = {a, b};
        uint32_t g[3] = {gx, gy, 1};
        TRY(nb_cmd_dispatch(c, kcopy, g, bufs, &p, "copy shader"));
        double ms;
        TRY(time_cmd(c, rounds, &ms, 1, out->copy_storage_ms));
        out->copy_storage_gbps = 2.0 * (double)bytes / (ms * 1e6);
        if (bytes / 16 <= nb_context_device(ctx)->max_texel_buffer_elements) {
            TRY(make_kernel(ctx, &STARTUP[5], 256, &ktexel));
            TRY(nb_cmd_reset(c));
            TRY(nb_cmd_dispatch(c, ktexel, g, bufs, &p, "copy shader, texel reads"));
            TRY(time_cmd(c, rounds, &ms, 1, out->copy_texel_ms));
            out->texel_rounds = rounds;
            out->copy_texel_gbps = 2.0 * (double)bytes / (ms * 1e6);
        }
        out->copy_shader_gbps =
            out->copy_texel_gbps > out->copy_storage_gbps ? out->copy_texel_gbps : out->copy_storage_gbps;
        TRY(nb_cmd_reset(c));
        TRY(nb_cmd_copy(c, a, 0, b, 0, bytes));
        TRY(time_cmd(c, rounds, &ms, 1, out->copy_vkcmd_ms));
        out->copy_vkcmd_gbps = 2.0 * (double)bytes / (ms * 1e6);
        nb_cmd_destroy(c);
        c = NULL;
    }
    nb_buffer_destroy(a);
    nb_buffer_destroy(b);
    a = b = NULL;
    TRY(make_kernel(ctx, &STARTUP[3], 256, &kfma));
    {
        const uint32_t inv = quick ? (1u << 16) : (1u << 18), iters = quick ? 256 : 1024;
        TRY(nb_buffer_create(ctx, inv * 4ull, NB_MEM_DEVICE, &a));
        struct {
            uint32_t iters;
            float seed;
        } p = {iters, 0.5f};
        uint32_t g[3] = {inv / 256, 1, 1};
        TRY(nb_cmd_begin(ctx, 1, &c));
        TRY(nb_cmd_dispatch(c, kfma, g, &a, &p, NULL));
        double ms;
        TRY(time_cmd(c, rounds, &ms, 1, out->fma_ms));
        out->fma_gflops = (double)inv * iters * 64.0 / (ms * 1e6);
    }
done:
    nb_cmd_destroy(c);
    nb_buffer_destroy(a);
    nb_buffer_destroy(b);
    nb_kernel_destroy(kcopy);
    nb_kernel_destroy(ktexel);
    nb_kernel_destroy(kfma);
    return st;
}

/* The runtime bench on one backend. */
static nb_status runtime_one(const nbb_options *o, const nbb_target *t, int rounds, const nbb_accuracy *acc,
                             nbb_report *r)
{
    uint64_t bytes = o->quick ? (32ull << 20) : (256ull << 20);
    nb_context *ctx = NULL;
    nb_status st = nb_context_create(&t->options, &ctx);
    if (st)
        return st;
    const int cpu = nb_context_backend(ctx) == NB_BACKEND_CPU;
    nb_kernel *kadd = NULL;
    nb_buffer *small = NULL, **many = NULL;
    nb_cmd *c = NULL;
    char note[160];
    nbb_report_backend(r, t, ctx);
    nbb_report_num(r, "rounds", rounds, "", "each figure is the median of this many");
    nbb_report *cond = nbb_report_conditions(r, ctx, rounds, 1);
    nbb_report_num(cond, "quick", o->quick, "", "1: --quick (smaller sizes)");
    nbb_report_str(cond, "timing_ceilings", cpu || !nb_context_device(ctx)->timestamps
                   ? "wall clock of each submit" : "device timestamps of each submit");
    nbb_report_str(cond, "timing_dispatch_fft", "wall clock of each submit");
    nbb_report *tm = nbb_report_object(r, "timings");
    TRY(bench_startup(t, r));

    /* Copy bandwidth (bytes read + bytes written per second) and FMA rate. */
    double memcpy_t[MAX_ROUNDS];
    nbb_report_num(r, "copy_host_memcpy_gbps", host_memcpy_gbps(bytes, rounds, memcpy_t), "GB/s",
                   "memcpy on the host, for scale (read + write)");
    nbb_report_samples(tm, "host_memcpy", memcpy_t, rounds, "ms", "one memcpy per round");
    {
        nbb_ceilings cl;
        TRY(nbb_measure_ceilings(ctx, o->quick, rounds, &cl));
        nbb_report_num(cond, "copy_bytes", (double)cl.bytes, "bytes", "copied by each copy round");
        nbb_report_samples(tm, "copy_shader_storage", cl.copy_storage_ms, cl.rounds, "ms", NULL);
        if (cl.texel_rounds)
            nbb_report_samples(tm, "copy_shader_texel", cl.copy_texel_ms, cl.texel_rounds, "ms", NULL);
        nbb_report_samples(tm, "copy_vkcmdcopybuffer", cl.copy_vkcmd_ms, cl.rounds, "ms", NULL);
        nbb_report_samples(tm, "fma_fp32", cl.fma_ms, cl.rounds, "ms", NULL);
        if (cpu)
            snprintf(note, sizeof note, "the copy kernel in C, %u thread(s), %llu MiB (read + write)",
                     nb_context_device(ctx)->threads, (unsigned long long)(cl.bytes >> 20));
        else
            snprintf(note, sizeof note, "vec4 copy kernel, %llu MiB (read + write)",
                     (unsigned long long)(cl.bytes >> 20));
        nbb_report_num(r, "copy_shader_storage_gbps", cl.copy_storage_gbps, "GB/s", note);
        nbb_report_num(r, "copy_shader_texel_gbps", cl.copy_texel_gbps, "GB/s",
                       cpu ? "0: no texel path on the CPU backend" : "the same, reading texels");
        nbb_report_num(r, "copy_shader_gbps", cl.copy_shader_gbps, "GB/s",
                       cpu ? "the copy kernel's: the bandwidth ceiling" : "the better of the two: the ceiling");
        nbb_report_num(r, "copy_vkcmdcopybuffer_gbps", cl.copy_vkcmd_gbps, "GB/s",
                       cpu ? "nb_cmd_copy: one memmove on the submitting thread (read + write)"
                           : "vkCmdCopyBuffer (read + write)");
        nbb_report_num(r, "fma_fp32_gflops", cl.fma_gflops, "GFLOP/s", nbb_ceiling_fma_what(ctx));
    }

    /* The cost of a dispatch inside a large batch, and of an empty submit. */
    TRY(make_kernel(ctx, &STARTUP[4], 64, &kadd));
    {
        enum { N = 1000 };
        struct {
            uint32_t n;
            float v;
        } p = {64, 1.0f};
        uint32_t g[3] = {1, 1, 1};
        TRY(nb_buffer_create(ctx, 256, NB_MEM_DEVICE, &small));
        TRY(nb_cmd_begin(ctx, 0, &c));
        for (int i = 0; i < N; i++)
            TRY(nb_cmd_dispatch(c, kadd, g, &small, &p, NULL));
        double ms, dt[MAX_ROUNDS];
        TRY(time_cmd(c, rounds, &ms, 0, dt));
        nbb_report_samples(tm, "dispatch_dependent_1000", dt, rounds, "ms", "1000 dispatches per round");
        nbb_report_num(r, "dispatch_dependent_us", ms * 1e3 / N, "us",
                       cpu ? "per kernel call (64 floats), 1000 in one submit on one buffer"
                           : "per dispatch, 1000 in one submit, each behind a barrier");
        TRY(nb_cmd_reset(c));
        many = calloc(N, sizeof *many);
        if (!many) {
            st = NB_ERR_OUT_OF_MEMORY;
            goto done;
        }
        for (int i = 0; i < N; i++)
            TRY(nb_buffer_create(ctx, 256, NB_MEM_DEVICE, &many[i]));
        for (int i = 0; i < N; i++)
            TRY(nb_cmd_dispatch(c, kadd, g, &many[i], &p, NULL));
        TRY(time_cmd(c, rounds, &ms, 0, dt));
        nbb_report_samples(tm, "dispatch_independent_1000", dt, rounds, "ms", "1000 dispatches per round");
        nbb_report_num(r, "dispatch_independent_us", ms * 1e3 / N, "us",
                       cpu ? "the same on 1000 buffers (the CPU backend runs ops in order either way)"
                           : "per dispatch, 1000 in one submit, no barriers");
        TRY(nb_cmd_reset(c));
        TRY(nb_cmd_submit(c)); /* nothing recorded */
        const int reps = o->quick ? 50 : 500;
        double t0 = nbb_now_ms();
        for (int i = 0; i < reps; i++)
            TRY(nb_cmd_resubmit(c));
        nbb_report_num(r, "empty_submit_us", (nbb_now_ms() - t0) * 1e3 / reps, "us",
                       cpu ? "submit of an empty op list, mean (no fence on the CPU backend)"
                           : "submit + fence wait, mean");
        nb_cmd_destroy(c);
        c = NULL;
    }

    TRY(bench_fft(ctx, o, rounds, r, tm));
    st = nb_context_check(ctx);
    if (!st && acc)
        st = nbb_accuracy_measure(acc, &t->options, r);
done:
    if (many)
        for (int i = 0; i < 1000; i++)
            nb_buffer_destroy(many[i]);
    free(many);
    nb_cmd_destroy(c);
    nb_buffer_destroy(small);
    nb_kernel_destroy(kadd);
    nb_context_destroy(ctx);
    return st;
}

nb_status nbb_runtime(const nbb_options *o, nbb_report *r)
{
    int rounds = o->rounds > 0 ? o->rounds : (o->quick ? 2 : 5);
    if (rounds > MAX_ROUNDS)
        rounds = MAX_ROUNDS;
    nbb_target t[NBB_MAX_TARGETS];
    uint32_t n;
    nb_status st = nbb_targets(o->backend, t, NBB_MAX_TARGETS, &n);
    if (st)
        return st;
    char names[256] = "";
    for (uint32_t i = 0; i < n; i++)
        snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", i ? ", " : "", t[i].name);
    nbb_report_str(r, "backends_measured", names);
    nbb_report_header(r);
    /* the accuracy line: the NOBLE preset's forward at its full length (520 with --quick) */
    nbb_accuracy *acc = NULL;
    if ((st = nbb_accuracy_prepare(o->quick ? 520 : 8580, &acc)))
        return st;
    for (uint32_t i = 0; i < n && !st; i++) {
        nbb_report *b = nbb_report_new(t[i].name);
        if (!b) {
            nbb_accuracy_free(acc);
            return nb_error(NB_ERR_OUT_OF_MEMORY, "out of host memory");
        }
        st = runtime_one(o, &t[i], rounds, acc, b);
        if (!st && i == 0) /* the first (the default where measured): also at the top, as before */
            nbb_report_append_json_only(r, b);
        if (st)
            nbb_report_free(b);
        else
            nbb_report_add_child(r, "backends", b);
    }
    nbb_accuracy_free(acc);
    return st;
}
