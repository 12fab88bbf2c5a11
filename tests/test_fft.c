/* Batched real FFTs against a double-precision DFT at every length the
 * project uses, at batches up to 1536; refused lengths; the plan cache.
 *
 * Error bounds (fp32, stated here and in docs/architecture.md):
 *   forward R2C:  ||X - X_ref||_2 / ||X_ref||_2 <= 2e-6 per checked row
 *   C2R alone:    ||y - N x||_2 / ||N x||_2       <= 2e-6
 *   round trip:   max |C2R(R2C(x))/N - x| / max |x| <= 2e-6 over every row
 * (fp64 plans: 1e-12 for all three). */
#include "nb_test.h"

typedef struct {
    double forward, inverse, roundtrip;
} errs;

/* X[k] = sum_n x[n] e^{-2 pi i k n / N}, k = 0..N/2, in double. */
static void dft_row(const double *x, uint64_t n, const double *cs, const double *sn, double *re, double *im)
{
    for (uint64_t k = 0; k <= n / 2; k++) {
        double r = 0, i = 0;
        uint64_t idx = 0;
        for (uint64_t j = 0; j < n; j++) {
            r += x[j] * cs[idx];
            i -= x[j] * sn[idx];
            idx += k;
            if (idx >= n)
                idx -= n;
        }
        re[k] = r;
        im[k] = i;
    }
}

static errs run_case(nb_context *ctx, uint64_t n, uint64_t batch, nb_precision prec, int rows_to_check)
{
    errs e = {0, 0, 0};
    const uint64_t nc = n / 2 + 1, es = prec == NB_FP64 ? 8 : 4;
    nb_fft *fwd, *inv;
    nb_status s = nb_fft_plan(ctx, n, batch, NB_FFT_R2C, prec, &fwd);
    CHECK(s == NB_OK, "plan R2C n=%llu batch=%llu: %s", (unsigned long long)n, (unsigned long long)batch,
          nb_last_error());
    if (s)
        return (errs){1, 1, 1};
    REQUIRE_OK(nb_fft_plan(ctx, n, batch, NB_FFT_C2R, prec, &inv));
    double *x = malloc(n * batch * sizeof *x);
    uint64_t seed = n * 131 + batch;
    for (uint64_t i = 0; i < n * batch; i++)
        x[i] = nbt_rand(&seed) + (i % n == 3 ? 2.0 : 0.0);
    void *hx = malloc(n * batch * es), *hX = malloc(nc * 2 * batch * es), *hy = malloc(n * batch * es);
    for (uint64_t i = 0; i < n * batch; i++) {
        if (prec == NB_FP64)
            ((double *)hx)[i] = x[i];
        else
            ((float *)hx)[i] = (float)x[i];
    }
    nb_buffer *bx, *bX, *by, *bX2;
    REQUIRE_OK(nb_buffer_create(ctx, n * batch * es, NB_MEM_DEVICE, &bx));
    REQUIRE_OK(nb_buffer_create(ctx, nc * 2 * batch * es, NB_MEM_DEVICE, &bX));
    REQUIRE_OK(nb_buffer_create(ctx, nc * 2 * batch * es, NB_MEM_DEVICE, &bX2));
    REQUIRE_OK(nb_buffer_create(ctx, n * batch * es, NB_MEM_DEVICE, &by));
    CHECK_OK(nb_buffer_upload(bx, 0, hx, n * batch * es));

    /* R2C, then a copy of the spectrum (C2R consumes its input), then C2R:
     * four ops in one submit. */
    nb_cmd *c;
    REQUIRE_OK(nb_cmd_begin(ctx, 1, &c));
    CHECK_OK(nb_cmd_fft(c, fwd, bx, bX, NULL));
    CHECK_OK(nb_cmd_copy(c, bX, 0, bX2, 0, nc * 2 * batch * es));
    CHECK_OK(nb_cmd_fft(c, inv, bX2, by, NULL));
    CHECK_OK(nb_cmd_submit(c));
    nb_cmd_destroy(c);
    CHECK_OK(nb_buffer_download(bX, 0, hX, nc * 2 * batch * es));
    CHECK_OK(nb_buffer_download(by, 0, hy, n * batch * es));

    /* Round trip over every row. */
    double maxerr = 0, maxx = 0;
    for (uint64_t i = 0; i < n * batch; i++) {
        double y = prec == NB_FP64 ? ((double *)hy)[i] : (double)((float *)hy)[i];
        double d = fabs(y / (double)n - x[i]);
        if (d > maxerr)
            maxerr = d;
        if (fabs(x[i]) > maxx)
            maxx = fabs(x[i]);
    }
    e.roundtrip = maxerr / maxx;

    /* Forward, and C2R on its own fed the reference spectrum, on some rows. */
    double *cs = malloc(n * sizeof *cs), *sn = malloc(n * sizeof *sn);
    double *re = malloc(nc * sizeof *re), *im = malloc(nc * sizeof *im);
    for (uint64_t j = 0; j < n; j++) {
        cs[j] = cos(2.0 * M_PI * (double)j / (double)n);
        sn[j] = sin(2.0 * M_PI * (double)j / (double)n);
    }
    uint64_t rows[4] = {0, batch - 1, batch / 2, batch / 3};
    void *spec = malloc(nc * 2 * batch * es);
    memset(spec, 0, nc * 2 * batch * es);
    int nrows = rows_to_check < 4 ? rows_to_check : 4;
    if ((uint64_t)nrows > batch)
        nrows = (int)batch;
    for (int r = 0; r < nrows; r++) {
        uint64_t row = rows[r];
        dft_row(x + row * n, n, cs, sn, re, im);
        double num = 0, den = 0;
        for (uint64_t k = 0; k < nc; k++) {
            uint64_t at = (row * nc + k) * 2;
            double gr, gi;
            if (prec == NB_FP64) {
                gr = ((double *)hX)[at];
                gi = ((double *)hX)[at + 1];
                ((double *)spec)[at] = re[k];
                ((double *)spec)[at + 1] = im[k];
            } else {
                gr = ((float *)hX)[at];
                gi = ((float *)hX)[at + 1];
                ((float *)spec)[at] = (float)re[k];
                ((float *)spec)[at + 1] = (float)im[k];
            }
            num += (gr - re[k]) * (gr - re[k]) + (gi - im[k]) * (gi - im[k]);
            den += re[k] * re[k] + im[k] * im[k];
        }
        double fe = sqrt(num / den);
        if (fe > e.forward)
            e.forward = fe;
    }
    CHECK_OK(nb_buffer_upload(bX2, 0, spec, nc * 2 * batch * es));
    REQUIRE_OK(nb_cmd_begin(ctx, 0, &c));
    CHECK_OK(nb_cmd_fft(c, inv, bX2, by, "c2r alone"));
    CHECK_OK(nb_cmd_submit(c));
    nb_cmd_destroy(c);
    CHECK_OK(nb_buffer_download(by, 0, hy, n * batch * es));
    for (int r = 0; r < nrows; r++) {
        uint64_t row = rows[r];
        double num = 0, den = 0;
        for (uint64_t j = 0; j < n; j++) {
            double y = prec == NB_FP64 ? ((double *)hy)[row * n + j] : (double)((float *)hy)[row * n + j];
            double want = (double)n * x[row * n + j];
            num += (y - want) * (y - want);
            den += want * want;
        }
        double ie = sqrt(num / den);
        if (ie > e.inverse)
            e.inverse = ie;
    }
    nb_buffer_destroy(bx);
    nb_buffer_destroy(bX);
    nb_buffer_destroy(bX2);
    nb_buffer_destroy(by);
    free(x);
    free(hx);
    free(hX);
    free(hy);
    free(cs);
    free(sn);
    free(re);
    free(im);
    free(spec);
    return e;
}

static void check_case(nb_context *ctx, uint64_t n, uint64_t batch, nb_precision prec, int rows)
{
    errs e = run_case(ctx, n, batch, prec, rows);
    double bound = prec == NB_FP64 ? 1e-12 : 2e-6;
    printf("n=%-6llu batch=%-5llu %s  forward %.2e  c2r %.2e  round trip %.2e\n", (unsigned long long)n,
           (unsigned long long)batch, prec == NB_FP64 ? "fp64" : "fp32", e.forward, e.inverse, e.roundtrip);
    CHECK(e.forward <= bound, "n=%llu batch=%llu forward error %.3g > %.1g", (unsigned long long)n,
          (unsigned long long)batch, e.forward, bound);
    CHECK(e.inverse <= bound, "n=%llu batch=%llu c2r error %.3g > %.1g", (unsigned long long)n,
          (unsigned long long)batch, e.inverse, bound);
    CHECK(e.roundtrip <= bound, "n=%llu batch=%llu round-trip error %.3g > %.1g", (unsigned long long)n,
          (unsigned long long)batch, e.roundtrip, bound);
}

static void test_refusals(nb_context *ctx)
{
    static const uint64_t bad[] = {8584, 8602, 8583, 8581, 7, 0, 2 * 17};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        nb_fft *p = NULL;
        nb_status s = nb_fft_plan(ctx, bad[i], 4, NB_FFT_R2C, NB_FP32, &p);
        CHECK(s == NB_ERR_UNSUPPORTED && p == NULL, "length %llu must be refused, got %s",
              (unsigned long long)bad[i], nb_status_name(s));
        CHECK(strstr(nb_last_error(), "nearest good length") != NULL, "message: %s", nb_last_error());
        CHECK(!nb_fft_length_ok(bad[i]), "length_ok(%llu)", (unsigned long long)bad[i]);
    }
    printf("refused: %s\n", nb_last_error());
    CHECK(nb_fft_good_length(8583) == 8580, "good_length(8583) = %llu", (unsigned long long)nb_fft_good_length(8583));
    CHECK(nb_fft_good_length(8584) == 8580, "good_length(8584)");
    CHECK(nb_fft_good_length(8602) == 8624 || nb_fft_good_length(8602) == 8580 ||
              nb_fft_length_ok(nb_fft_good_length(8602)),
          "good_length(8602)");
    CHECK(nb_fft_good_length(8580) == 8580, "a good length maps to itself");
    CHECK(nb_fft_good_length(1023) == 1024, "good_length(1023) = %llu", (unsigned long long)nb_fft_good_length(1023));
    for (uint64_t n = 8; n < 20000; n += 97) { /* the answer is good and nothing nearer is */
        uint64_t g = nb_fft_good_length(n), d = g > n ? g - n : n - g;
        CHECK(nb_fft_length_ok(g), "good_length(%llu) = %llu is not ok", (unsigned long long)n, (unsigned long long)g);
        for (uint64_t m = n - d + 1; m < n + d; m++)
            CHECK(!nb_fft_length_ok(m) || (m > n && m - n == d) || (m < n && n - m == d) || m == g,
                  "good_length(%llu) = %llu but %llu is nearer", (unsigned long long)n, (unsigned long long)g,
                  (unsigned long long)m);
    }
    nb_fft *p;
    CHECK(nb_fft_plan(ctx, 1024, 0, NB_FFT_R2C, NB_FP32, &p) == NB_ERR_INVALID_ARGUMENT, "batch 0");
    /* More than one binding can address: refused with the batch that fits. */
    uint64_t range = nb_context_device(ctx)->max_storage_buffer_range;
    uint64_t too_many = range / ((8580 / 2 + 1) * 8) + 1;
    nb_status s = nb_fft_plan(ctx, 8580, too_many, NB_FFT_R2C, NB_FP32, &p);
    if (too_many <= (1u << 24)) /* the binding limits the batch (Vulkan) */
        CHECK(s == NB_ERR_UNSUPPORTED && strstr(nb_last_error(), "split the batch"), "batch %llu: %s",
              (unsigned long long)too_many, nb_last_error());
    else /* else the plan's own limit (the CPU backend binds host memory) */
        CHECK(s == NB_ERR_INVALID_ARGUMENT && strstr(nb_last_error(), "2^24"), "batch %llu: %s",
              (unsigned long long)too_many, nb_last_error());
}

static void test_cache_and_rebinding(nb_context *ctx)
{
    nb_fft *a, *b;
    uint32_t before = nb_fft_plans_cached(ctx);
    REQUIRE_OK(nb_fft_plan(ctx, 96, 5, NB_FFT_R2C, NB_FP32, &a));
    REQUIRE_OK(nb_fft_plan(ctx, 96, 5, NB_FFT_R2C, NB_FP32, &b));
    CHECK(a == b, "the same key gives the cached plan");
    CHECK(nb_fft_plans_cached(ctx) == before + 1, "one plan added");
    REQUIRE_OK(nb_fft_plan(ctx, 96, 6, NB_FFT_R2C, NB_FP32, &b));
    CHECK(a != b, "another batch is another plan");

    /* One plan used on two pairs of buffers in one recording: both right. */
    const uint64_t n = 96, batch = 5, nc = n / 2 + 1;
    float x1[96 * 5], x2[96 * 5], X1[49 * 2 * 5], X2[49 * 2 * 5];
    uint64_t seed = 5;
    for (int i = 0; i < 96 * 5; i++) {
        x1[i] = (float)nbt_rand(&seed);
        x2[i] = (float)nbt_rand(&seed);
    }
    nb_buffer *r1, *r2, *c1, *c2;
    REQUIRE_OK(nb_buffer_create(ctx, sizeof x1, NB_MEM_DEVICE, &r1));
    REQUIRE_OK(nb_buffer_create(ctx, sizeof x2, NB_MEM_DEVICE, &r2));
    REQUIRE_OK(nb_buffer_create(ctx, sizeof X1, NB_MEM_DEVICE, &c1));
    REQUIRE_OK(nb_buffer_create(ctx, sizeof X2, NB_MEM_DEVICE, &c2));
    CHECK_OK(nb_buffer_upload(r1, 0, x1, sizeof x1));
    CHECK_OK(nb_buffer_upload(r2, 0, x2, sizeof x2));
    nb_cmd *c;
    REQUIRE_OK(nb_cmd_begin(ctx, 0, &c));
    CHECK_OK(nb_cmd_fft(c, a, r1, c1, NULL));
    CHECK_OK(nb_cmd_fft(c, a, r2, c2, NULL));
    nb_cmd_stats st;
    nb_cmd_stats_get(c, &st);
    CHECK(st.barriers == 0, "independent FFTs need no barrier (%u)", st.barriers);
    CHECK_OK(nb_cmd_submit(c));
    nb_cmd_destroy(c);
    CHECK_OK(nb_buffer_download(c1, 0, X1, sizeof X1));
    CHECK_OK(nb_buffer_download(c2, 0, X2, sizeof X2));
    for (int which = 0; which < 2; which++) {
        const float *x = which ? x2 : x1, *X = which ? X2 : X1;
        double maxe = 0;
        for (uint64_t r = 0; r < batch; r++)
            for (uint64_t k = 0; k < nc; k++) {
                double re = 0, im = 0;
                for (uint64_t j = 0; j < n; j++) {
                    double ang = -2.0 * M_PI * (double)(k * j % n) / (double)n;
                    re += x[r * n + j] * cos(ang);
                    im += x[r * n + j] * sin(ang);
                }
                double d = hypot(X[(r * nc + k) * 2] - re, X[(r * nc + k) * 2 + 1] - im);
                if (d > maxe)
                    maxe = d;
            }
        CHECK(maxe < 1e-4, "binding %d: max error %.3g", which, maxe);
    }
    /* Buffers freed and new ones made: the plan still works. */
    nb_buffer_destroy(r2);
    nb_buffer_destroy(c2);
    REQUIRE_OK(nb_buffer_create(ctx, sizeof x2, NB_MEM_DEVICE, &r2));
    REQUIRE_OK(nb_buffer_create(ctx, sizeof X2, NB_MEM_DEVICE, &c2));
    CHECK_OK(nb_buffer_upload(r2, 0, x1, sizeof x1));
    REQUIRE_OK(nb_cmd_begin(ctx, 0, &c));
    CHECK_OK(nb_cmd_fft(c, a, r2, c2, NULL));
    CHECK_OK(nb_cmd_submit(c));
    nb_cmd_destroy(c);
    float X3[49 * 2 * 5];
    CHECK_OK(nb_buffer_download(c2, 0, X3, sizeof X3));
    CHECK(memcmp(X3, X1, sizeof X1) == 0, "same input, same plan, new buffers: same bits");
    /* A buffer too small for the plan is refused. */
    nb_buffer *small;
    REQUIRE_OK(nb_buffer_create(ctx, 64, NB_MEM_DEVICE, &small));
    REQUIRE_OK(nb_cmd_begin(ctx, 0, &c));
    CHECK(nb_cmd_fft(c, a, small, c2, NULL) == NB_ERR_INVALID_ARGUMENT, "small input buffer");
    nb_cmd_destroy(c);
    nb_buffer_destroy(small);
    nb_buffer_destroy(r1);
    nb_buffer_destroy(r2);
    nb_buffer_destroy(c1);
    nb_buffer_destroy(c2);
}

/* Both backends: the one the context chose by default is checked in full
 * by main; this checks the other on the project's lengths, and how the
 * choice is made and refused. */
static void test_backends(nb_context *ctx)
{
    const nb_device_info *di = nb_context_device(ctx);
    nb_fft_backend have = nb_context_fft_backend(ctx);
    const char *env = getenv("NOBLE_FFT");
    printf("FFT backend: %s on '%s'%s%s\n", nb_fft_backend_name(have), di->name, env ? ", NOBLE_FFT=" : "",
           env ? env : "");
    if (!env || !*env || strcmp(env, "auto") == 0)
        CHECK((have == NB_FFT_HOST) == (di->type == NB_DEVICE_CPU && di->unified_memory),
              "auto chose %s on a device of type %s", nb_fft_backend_name(have), nb_device_type_name(di->type));
    nb_context_options o;
    nb_context_options_default(&o);
    o.fft = have == NB_FFT_HOST ? NB_FFT_VKFFT : NB_FFT_HOST;
    nb_context *other = NULL;
    nb_status s = nb_context_create(&o, &other);
    if (nb_context_backend(ctx) == NB_BACKEND_CPU) {
        CHECK(s == NB_ERR_UNSUPPORTED && !other && strstr(nb_last_error(), "no VkFFT"),
              "VkFFT is refused on the CPU backend: %s", nb_last_error());
    } else if (o.fft == NB_FFT_HOST && !di->unified_memory) {
        CHECK(s == NB_ERR_UNSUPPORTED && strstr(nb_last_error(), "host FFT needs device memory"),
              "the host FFT is refused without mappable memory: %s", nb_last_error());
    } else {
        REQUIRE_OK(s);
        CHECK(nb_context_fft_backend(other) == o.fft, "the asked-for backend is used");
        static const uint64_t lengths[] = {1024, 8580, 8640, 10, 26, 390, 3000};
        for (size_t i = 0; i < sizeof lengths / sizeof *lengths; i++)
            check_case(other, lengths[i], i < 3 ? 7 : 3, NB_FP32, 3);
        if (di->float64)
            check_case(other, 8580, 3, NB_FP64, 3);
        uint32_t n = nb_validation_count(other);
        CHECK(n == 0, "%u validation message(s) with the %s backend", n, nb_fft_backend_name(o.fft));
        nb_context_destroy(other);
    }
    setenv("NOBLE_FFT", "cufft", 1);
    nb_context_options_default(&o);
    other = NULL;
    s = nb_context_create(&o, &other);
    CHECK(s == NB_ERR_INVALID_ARGUMENT && other == NULL && strstr(nb_last_error(), "NOBLE_FFT='cufft'"),
          "an unknown NOBLE_FFT is named: %s", nb_last_error());
    if (env)
        setenv("NOBLE_FFT", env, 1);
    else
        unsetenv("NOBLE_FFT");
}


/* Band-limited plans (nb_fft_plan_bins): the kept bins against the double
 * DFT, the rest of an R2C's output left alone and a C2R's input past the
 * kept bins never read (garbage there must not reach the output), where the
 * plan says it is band-limited; the CPU backend must be at fp32. Same bounds
 * as the whole transforms (relative L2 per row, 2e-6). */
static void band_case(nb_context *ctx, uint64_t n, uint64_t bins, uint64_t batch)
{
    const uint64_t nc = n / 2 + 1;
    nb_fft *fwd = NULL, *inv = NULL;
    REQUIRE_OK(nb_fft_plan_bins(ctx, n, batch, NB_FFT_R2C, NB_FP32, bins, &fwd));
    REQUIRE_OK(nb_fft_plan_bins(ctx, n, batch, NB_FFT_C2R, NB_FP32, bins, &inv));
    const int cpu = nb_context_backend(ctx) == NB_BACKEND_CPU;
    const int band = nb_fft_band_limited(fwd);
    CHECK(band == nb_fft_band_limited(inv), "n=%llu: both directions band-limited or neither", (unsigned long long)n);
    CHECK(band == (cpu && bins <= n / 2), "n=%llu bins=%llu: band-limited %d on the %s backend",
          (unsigned long long)n, (unsigned long long)bins, band, cpu ? "CPU" : "Vulkan");
    float *hx = malloc(n * batch * 4), *hX = malloc(nc * 2 * batch * 4), *hy = malloc(n * batch * 4);
    uint64_t seed = n * 7 + bins * 3 + batch;
    for (uint64_t i = 0; i < n * batch; i++)
        hx[i] = (float)(nbt_rand(&seed) + (i % n == 5 ? 1.5 : 0.0));
    const float sentinel = -12345.0f;
    for (uint64_t i = 0; i < nc * 2 * batch; i++)
        hX[i] = sentinel;
    nb_buffer *bx, *bX, *by;
    REQUIRE_OK(nb_buffer_create(ctx, n * batch * 4, NB_MEM_DEVICE, &bx));
    REQUIRE_OK(nb_buffer_create(ctx, nc * 2 * batch * 4, NB_MEM_DEVICE, &bX));
    REQUIRE_OK(nb_buffer_create(ctx, n * batch * 4, NB_MEM_DEVICE, &by));
    CHECK_OK(nb_buffer_upload(bx, 0, hx, n * batch * 4));
    CHECK_OK(nb_buffer_upload(bX, 0, hX, nc * 2 * batch * 4));
    nb_cmd *c;
    REQUIRE_OK(nb_cmd_begin(ctx, 0, &c));
    CHECK_OK(nb_cmd_fft(c, fwd, bx, bX, "band r2c"));
    CHECK_OK(nb_cmd_submit(c));
    nb_cmd_destroy(c);
    CHECK_OK(nb_buffer_download(bX, 0, hX, nc * 2 * batch * 4));
    double *x = malloc(n * sizeof *x), *cs = malloc(n * sizeof *cs), *sn = malloc(n * sizeof *sn);
    double *re = malloc(nc * sizeof *re), *im = malloc(nc * sizeof *im);
    for (uint64_t j = 0; j < n; j++) {
        cs[j] = cos(2.0 * M_PI * (double)j / (double)n);
        sn[j] = sin(2.0 * M_PI * (double)j / (double)n);
    }
    const uint64_t rows[3] = {0, batch / 2, batch - 1};
    double fmax = 0, imax = 0;
    uint64_t touched = 0;
    for (int r = 0; r < 3; r++) {
        const uint64_t row = rows[r];
        for (uint64_t j = 0; j < n; j++)
            x[j] = hx[row * n + j];
        dft_row(x, n, cs, sn, re, im);
        double num = 0, den = 0;
        for (uint64_t k = 0; k < bins; k++) {
            const double gr = hX[(row * nc + k) * 2], gi = hX[(row * nc + k) * 2 + 1];
            num += (gr - re[k]) * (gr - re[k]) + (gi - im[k]) * (gi - im[k]);
            den += re[k] * re[k] + im[k] * im[k];
        }
        if (sqrt(num / den) > fmax)
            fmax = sqrt(num / den);
        for (uint64_t k = bins; band && k < nc; k++)
            touched += hX[(row * nc + k) * 2] != sentinel || hX[(row * nc + k) * 2 + 1] != sentinel;
    }
    CHECK(fmax <= 2e-6, "n=%llu bins=%llu batch=%llu: band R2C error %.3g", (unsigned long long)n,
          (unsigned long long)bins, (unsigned long long)batch, fmax);
    CHECK(touched == 0, "n=%llu: the band-limited R2C wrote %llu values past its bins", (unsigned long long)n,
          (unsigned long long)touched);
    /* C2R of a spectrum with kept bins only: garbage past them where the plan
     * does not read them, zeros where it does; bin 0's imaginary part is
     * ignored, as FFTW's and VkFFT's C2R do. */
    for (uint64_t row = 0; row < batch; row++)
        for (uint64_t k = 0; k < nc; k++) {
            float *v = hX + (row * nc + k) * 2;
            if (k < bins) {
                v[0] = (float)nbt_rand(&seed);
                v[1] = (float)nbt_rand(&seed);
            } else
                v[0] = v[1] = band ? 1e30f : 0.0f;
        }
    CHECK_OK(nb_buffer_upload(bX, 0, hX, nc * 2 * batch * 4));
    REQUIRE_OK(nb_cmd_begin(ctx, 0, &c));
    CHECK_OK(nb_cmd_fft(c, inv, bX, by, "band c2r"));
    CHECK_OK(nb_cmd_submit(c));
    nb_cmd_destroy(c);
    CHECK_OK(nb_buffer_download(by, 0, hy, n * batch * 4));
    for (int r = 0; r < 3; r++) {
        const uint64_t row = rows[r];
        const float *X = hX + row * nc * 2;
        double num = 0, den = 0;
        for (uint64_t j = 0; j < n; j++) {
            double want = X[0];
            uint64_t idx = 0;
            for (uint64_t k = 1; k < bins && k < nc; k++) {
                idx += j;
                idx %= n;
                const double w = k == n - k ? 1.0 : 2.0; /* the Nyquist bin once */
                want += w * (X[2 * k] * cs[idx] - X[2 * k + 1] * sn[idx]);
            }
            num += (hy[row * n + j] - want) * (hy[row * n + j] - want);
            den += want * want;
        }
        if (sqrt(num / den) > imax)
            imax = sqrt(num / den);
    }
    CHECK(imax <= 2e-6, "n=%llu bins=%llu batch=%llu: band C2R error %.3g", (unsigned long long)n,
          (unsigned long long)bins, (unsigned long long)batch, imax);
    nb_buffer_destroy(bx);
    nb_buffer_destroy(bX);
    nb_buffer_destroy(by);
    free(hx);
    free(hX);
    free(hy);
    free(x);
    free(cs);
    free(sn);
    free(re);
    free(im);
}

/* Packed plans (nb_fft_plan_packed): where a band-limited plan exists, the
 * packed R2C writes exactly the unpacked one's kept bins (same bits) into
 * rows of `bins`, nothing past the batch's packed rows, and the packed C2R
 * of those rows gives the unpacked C2R's output (same bits); elsewhere the
 * packed plan is refused by name. */
static void packed_case(nb_context *ctx, uint64_t n, uint64_t bins, uint64_t batch)
{
    const uint64_t nc = n / 2 + 1;
    nb_fft *fu = NULL, *iu = NULL, *fp = NULL, *ip = NULL;
    REQUIRE_OK(nb_fft_plan_bins(ctx, n, batch, NB_FFT_R2C, NB_FP32, bins, &fu));
    REQUIRE_OK(nb_fft_plan_bins(ctx, n, batch, NB_FFT_C2R, NB_FP32, bins, &iu));
    nb_status s = nb_fft_plan_packed(ctx, n, batch, NB_FFT_R2C, NB_FP32, bins, &fp);
    if (!nb_fft_band_limited(fu)) {
        CHECK(s == NB_ERR_UNSUPPORTED && !fp && strstr(nb_last_error(), "packed rows need"),
              "n=%llu bins=%llu: a packed plan without a band-limited one is refused: %s", (unsigned long long)n,
              (unsigned long long)bins, nb_last_error());
        return;
    }
    REQUIRE_OK(s);
    REQUIRE_OK(nb_fft_plan_packed(ctx, n, batch, NB_FFT_C2R, NB_FP32, bins, &ip));
    CHECK(nb_fft_packed(fp) && nb_fft_packed(ip) && !nb_fft_packed(fu), "n=%llu: packed flags",
          (unsigned long long)n);
    float *hx = malloc(n * batch * 4), *hu = malloc(nc * 2 * batch * 4), *hp = malloc((bins * batch + 16) * 8);
    float *yu = malloc(n * batch * 4), *yp = malloc(n * batch * 4);
    uint64_t seed = n * 11 + bins;
    for (uint64_t i = 0; i < n * batch; i++)
        hx[i] = (float)nbt_rand(&seed);
    for (uint64_t i = 0; i < (bins * batch + 16) * 2; i++)
        hp[i] = -12345.0f;
    nb_buffer *bx, *bu, *bp, *by;
    REQUIRE_OK(nb_buffer_create(ctx, n * batch * 4, NB_MEM_DEVICE, &bx));
    REQUIRE_OK(nb_buffer_create(ctx, nc * 2 * batch * 4, NB_MEM_DEVICE, &bu));
    REQUIRE_OK(nb_buffer_create(ctx, (bins * batch + 16) * 8, NB_MEM_DEVICE, &bp));
    REQUIRE_OK(nb_buffer_create(ctx, n * batch * 4, NB_MEM_DEVICE, &by));
    CHECK_OK(nb_buffer_upload(bx, 0, hx, n * batch * 4));
    CHECK_OK(nb_buffer_upload(bp, 0, hp, (bins * batch + 16) * 8));
    nb_cmd *c;
    REQUIRE_OK(nb_cmd_begin(ctx, 0, &c));
    CHECK_OK(nb_cmd_fft(c, fu, bx, bu, NULL));
    CHECK_OK(nb_cmd_fft(c, fp, bx, bp, NULL));
    CHECK_OK(nb_cmd_submit(c));
    nb_cmd_destroy(c);
    CHECK_OK(nb_buffer_download(bu, 0, hu, nc * 2 * batch * 4));
    CHECK_OK(nb_buffer_download(bp, 0, hp, (bins * batch + 16) * 8));
    uint64_t differ = 0, past = 0;
    for (uint64_t r = 0; r < batch; r++)
        differ += memcmp(hu + r * nc * 2, hp + r * bins * 2, bins * 8) != 0;
    for (uint64_t i = bins * batch * 2; i < (bins * batch + 16) * 2; i++)
        past += hp[i] != -12345.0f;
    CHECK(differ == 0 && past == 0, "n=%llu bins=%llu batch=%llu: packed R2C rows differ from the unpacked %llu, "
          "written past them %llu", (unsigned long long)n, (unsigned long long)bins, (unsigned long long)batch,
          (unsigned long long)differ, (unsigned long long)past);
    REQUIRE_OK(nb_cmd_begin(ctx, 0, &c));
    CHECK_OK(nb_cmd_fft(c, iu, bu, by, NULL));
    CHECK_OK(nb_cmd_submit(c));
    nb_cmd_destroy(c);
    CHECK_OK(nb_buffer_download(by, 0, yu, n * batch * 4));
    REQUIRE_OK(nb_cmd_begin(ctx, 0, &c));
    CHECK_OK(nb_cmd_fft(c, ip, bp, by, NULL));
    CHECK_OK(nb_cmd_submit(c));
    nb_cmd_destroy(c);
    CHECK_OK(nb_buffer_download(by, 0, yp, n * batch * 4));
    CHECK(memcmp(yu, yp, n * batch * 4) == 0, "n=%llu bins=%llu: the packed C2R differs from the unpacked",
          (unsigned long long)n, (unsigned long long)bins);
    nb_buffer *all[4] = {bx, bu, bp, by};
    for (int i = 0; i < 4; i++)
        nb_buffer_destroy(all[i]);
    free(hx);
    free(hu);
    free(hp);
    free(yu);
    free(yp);
}

static void test_band_limited(nb_context *ctx, int quick)
{
    /* the published length and modes, the pretrained recipe's and the
     * quickstart's, then edge cases: one bin, n/2 bins, every bin (a whole
     * transform), lengths of 2 to 16 lanes */
    band_case(ctx, 8580, 129, 7);
    if (!quick)
        band_case(ctx, 8580, 129, 384);
    band_case(ctx, 4224, 65, 5);
    band_case(ctx, 2112, 33, 3);
    band_case(ctx, 256, 16, 3);
    band_case(ctx, 8580, 1, 2);
    packed_case(ctx, 8580, 129, 7);
    packed_case(ctx, 256, 16, 3);
    packed_case(ctx, 1000, 501, 3);
    band_case(ctx, 1000, 500, 3);
    band_case(ctx, 1000, 501, 3);
    static const uint64_t odd[] = {36, 42, 66, 78, 130, 390, 2002, 8640};
    for (size_t i = 0; i < sizeof odd / sizeof *odd; i++)
        band_case(ctx, odd[i], odd[i] / 8 + 1, 3);
    nb_fft *p = NULL;
    CHECK(nb_fft_plan_bins(ctx, 1024, 1, NB_FFT_R2C, NB_FP32, 0, &p) == NB_ERR_INVALID_ARGUMENT && !p, "0 bins");
    CHECK(nb_fft_plan_bins(ctx, 1024, 1, NB_FFT_R2C, NB_FP32, 514, &p) == NB_ERR_INVALID_ARGUMENT &&
              strstr(nb_last_error(), "1 to 513"),
          "514 bins of 1024: %s", nb_last_error());
}

int main(int argc, char **argv)
{
    nb_context *ctx = nbt_context();
    test_backends(ctx);
    test_refusals(ctx);
    test_cache_and_rebinding(ctx);
    /* The lengths the project uses, each at batch 1, an odd batch, and 1536
     * (= 64 traces x 24 channels). */
    static const uint64_t lengths[] = {1024, 4096, 8192, 8580, 8640};
    int quick = argc > 1 && strcmp(argv[1], "--quick") == 0;
    test_band_limited(ctx, quick);
    for (size_t i = 0; i < sizeof lengths / sizeof *lengths; i++) {
        check_case(ctx, lengths[i], 1, NB_FP32, 1);
        check_case(ctx, lengths[i], 7, NB_FP32, 3);
        if (!quick)
            check_case(ctx, lengths[i], 1536, NB_FP32, 4);
    }
    /* Small and mixed-radix lengths. */
    static const uint64_t small[] = {8, 10, 12, 16, 26, 42, 66, 78, 130, 210, 256, 390, 1000, 2002, 3000};
    for (size_t i = 0; i < sizeof small / sizeof *small; i++)
        check_case(ctx, small[i], 3, NB_FP32, 3);
    if (nb_context_device(ctx)->float64)
        check_case(ctx, 8580, 3, NB_FP64, 3);
    return nbt_finish(ctx);
}
