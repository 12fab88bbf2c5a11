/* embed_consumer.c - a program outside noble, built against the installed
 * tree (pkg-config noble, or find_package(noble)) by tests/test_embed.sh:
 * the embedding ABI's version, a prediction of a few cells of the shipped
 * checkpoint, resampling, and the documented error cases.
 *
 *   embed_consumer CHECKPOINT BACKEND [OUT.bin]
 *
 * OUT.bin gets the cells' voltages at the window's own dt, float32, cell by
 * cell, for test_embed.sh to compare bit for bit with the Lua module's
 * m:predict (tests/embed_lua_predict.lua, which runs the same cells). */
#include <noble_embed.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures;

#define CHECK(cond, ...)                                                                                               \
    do {                                                                                                               \
        if (!(cond)) {                                                                                                 \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);                                            \
            fprintf(stderr, __VA_ARGS__);                                                                              \
            fprintf(stderr, "\n");                                                                                     \
            failures++;                                                                                                \
        }                                                                                                              \
    } while (0)

/* A call that must fail with status want and a message containing text. */
static void expect_error(noble_status got, noble_status want, const char *text, const char *what)
{
    const char *msg = noble_last_error();
    CHECK(got == want, "%s: status %d (%s), expected %d (%s); message: %s", what, (int)got, noble_status_name(got),
          (int)want, noble_status_name(want), msg);
    CHECK(msg && strstr(msg, text), "%s: message '%s' does not mention '%s'", what, msg ? msg : "(null)", text);
    printf("ok: %s -> %s: %s\n", what, noble_status_name(got), msg);
}

/* The cells, the same as tests/embed_lua_predict.lua's. */
#define NCELLS 4
static void make_cells(noble_cell *c, double big_pA)
{
    memset(c, 0, NCELLS * sizeof *c);
    c[0] = (noble_cell){.amplitude_pA = big_pA, .hof_model = 0};
    c[1] = (noble_cell){.amplitude_pA = -100, .hof_model = 1};
    c[2] = (noble_cell){.amplitude_pA = 150, .hof_model = -1, .I_thr_pA = 55, .s_thr = 0.84};
    c[3] = (noble_cell){.amplitude_pA = 0, .hof_model = 2};
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: embed_consumer CHECKPOINT BACKEND [OUT.bin]\n");
        return 2;
    }
    const char *ckpt = argv[1], *backend = argv[2];

    /* version: the library's and the header's agree */
    int major = -1, minor = -1, patch = -1;
    int abi = noble_version(&major, &minor, &patch);
    CHECK(abi == NOBLE_ABI_VERSION, "ABI %d, header %d", abi, NOBLE_ABI_VERSION);
    CHECK(major == NOBLE_VERSION_MAJOR && minor == NOBLE_VERSION_MINOR && patch == NOBLE_VERSION_PATCH,
          "library %d.%d.%d, header %d.%d.%d", major, minor, patch, NOBLE_VERSION_MAJOR, NOBLE_VERSION_MINOR,
          NOBLE_VERSION_PATCH);
    char want[64];
    snprintf(want, sizeof want, "%d.%d.%d (ABI %d)", major, minor, patch, abi);
    CHECK(!strcmp(noble_version_string(), want), "version string '%s', expected '%s'", noble_version_string(), want);
    printf("noble %s\n", noble_version_string());

    /* errors of open */
    noble_model *m = (noble_model *)&failures;
    expect_error(noble_open("/nonexistent/ckpt.h5", backend, -1, 0, &m), NOBLE_ERR_IO, "/nonexistent/ckpt.h5",
                 "missing checkpoint");
    CHECK(m == NULL, "a failed open leaves *out NULL");
    expect_error(noble_open(ckpt, "cuda", -1, 0, &m), NOBLE_ERR_ARGUMENT, "expected \"auto\", \"cpu\" or \"vulkan\"",
                 "bad backend");
    expect_error(noble_open(ckpt, backend, -1, -3, &m), NOBLE_ERR_ARGUMENT, "threads", "negative threads");

    noble_status s = noble_open(ckpt, backend, -1, 0, &m);
    if (s) {
        fprintf(stderr, "FAIL: noble_open(%s, %s): %s: %s\n", ckpt, backend, noble_status_name(s),
                noble_last_error());
        return 1;
    }
    noble_info info;
    CHECK(noble_get_info(m, &info) == NOBLE_OK, "info: %s", noble_last_error());
    printf("window: %u samples at %g ms (%g ms), step %g ms for %g ms; amplitudes %g to %g pA, I_thr %g to %g pA, "
           "s_thr %g to %g Hz/pA; %u HoF models; %s on %s\n",
           info.samples, info.dt_ms, info.window_ms, info.step_start_ms, info.step_duration_ms, info.amplitude_min_pA,
           info.amplitude_max_pA, info.I_thr_min_pA, info.I_thr_max_pA, info.s_thr_min, info.s_thr_max,
           info.hof_models, info.backend, info.device);
    CHECK(!strcmp(info.backend, backend) || !strcmp(backend, "auto"), "backend %s, asked %s", info.backend, backend);
    /* the shipped checkpoint (models/pretrained/README.md) */
    CHECK(info.samples == 4224 && fabs(info.dt_ms - 0.12) < 1e-12, "window %u x %g", info.samples, info.dt_ms);
    CHECK(fabs(info.step_start_ms - 15) < 1e-9 && fabs(info.step_duration_ms - 400) < 1e-9, "step %g + %g",
          info.step_start_ms, info.step_duration_ms);
    CHECK(info.hof_models == 45, "%u HoF models, expected the 45 training models", info.hof_models);
    CHECK(info.amplitude_max_pA > info.amplitude_min_pA && info.I_thr_max_pA > info.I_thr_min_pA &&
              info.s_thr_max > info.s_thr_min,
          "ranges");
    double I0, s0;
    CHECK(noble_hof_model(m, 0, &I0, &s0) == NOBLE_OK && I0 == 44 && fabs(s0 - 0.80982236154649945) < 1e-15,
          "HoF model 0: (%g, %g)", I0, s0);
    expect_error(noble_hof_model(m, info.hof_models, &I0, &s0), NOBLE_ERR_ARGUMENT, "records", "HoF index past the end");

    /* a prediction at the window's dt */
    noble_cell cells[NCELLS];
    make_cells(cells, info.amplitude_max_pA); /* the largest amplitude trained on */
    const uint32_t n = noble_output_samples(m, info.dt_ms);
    CHECK(n == info.samples, "%u samples at the window's dt, expected %u", n, info.samples);
    enum { CAP = 64 };
    float *v = malloc((size_t)NCELLS * n * sizeof *v);
    double *spikes = malloc((size_t)NCELLS * CAP * sizeof *spikes);
    uint32_t counts[NCELLS];
    s = noble_predict(m, cells, NCELLS, info.step_start_ms, info.step_duration_ms, info.dt_ms, v, spikes, CAP, counts);
    CHECK(s == NOBLE_OK, "predict: %s", noble_last_error());
    const uint32_t before = (uint32_t)(info.step_start_ms / info.dt_ms) - 1;
    for (int c = 0; c < NCELLS; c++) {
        const float *vc = v + (size_t)c * n;
        int finite = 1;
        double lo = 1e9, hi = -1e9;
        for (uint32_t k = 0; k < n; k++) {
            finite &= isfinite(vc[k]) != 0;
            lo = fmin(lo, vc[k]);
            hi = fmax(hi, vc[k]);
        }
        CHECK(finite, "cell %d: a non-finite voltage", c);
        /* before the step: near rest (the pretrained model's pre-step voltage
         * wanders a few mV with the amplitude: the operator sees the whole
         * window at once), and never a spike */
        double mean = 0, top = -1e9;
        for (uint32_t k = 0; k < before; k++) {
            mean += vc[k] / before;
            top = fmax(top, vc[k]);
        }
        CHECK(mean > -95 && mean < -45 && top < -20, "cell %d: before the step mean %g mV, max %g mV", c, mean, top);
        printf("cell %d: %g pA: %.2f to %.2f mV, %.2f mV before the step, %u spikes", c, cells[c].amplitude_pA, lo, hi,
               mean, counts[c]);
        for (uint32_t k = 0; k < counts[c] && k < 3; k++)
            printf(" %.2f", spikes[c * CAP + k]);
        printf("%s\n", counts[c] > 3 ? " ..." : "");
        for (uint32_t k = 0; k < counts[c] && k < CAP; k++)
            CHECK(spikes[c * CAP + k] >= info.step_start_ms && spikes[c * CAP + k] < info.window_ms,
                  "cell %d: spike at %g ms", c, spikes[c * CAP + k]);
    }
    CHECK(counts[0] >= 3, "cell 0 (largest amplitude): %u spikes, expected several", counts[0]);
    CHECK(counts[1] == 0, "cell 1 (-100 pA): %u spikes, expected none", counts[1]);
    CHECK(counts[3] == 0, "cell 3 (0 pA): %u spikes, expected none", counts[3]);
    if (argc > 3) {
        FILE *f = fopen(argv[3], "wb");
        CHECK(f && fwrite(v, sizeof *v, (size_t)NCELLS * n, f) == (size_t)NCELLS * n && !fclose(f), "writing %s",
              argv[3]);
    }

    /* resampling: at half the window's dt every other sample is the window's
     * own, those between are midpoints; at a coarser dt, interpolation */
    uint32_t n2 = noble_output_samples(m, info.dt_ms / 2);
    CHECK(n2 == 2 * n - 1, "%u samples at dt/2, expected %u", n2, 2 * n - 1);
    float *v2 = malloc((size_t)NCELLS * n2 * sizeof *v2);
    uint32_t counts2[NCELLS];
    s = noble_predict(m, cells, NCELLS, info.step_start_ms, info.step_duration_ms, info.dt_ms / 2, v2, NULL, 0,
                      counts2);
    CHECK(s == NOBLE_OK, "predict at dt/2: %s", noble_last_error());
    double worst = 0;
    for (int c = 0; c < NCELLS && !s; c++) {
        CHECK(counts2[c] == counts[c], "cell %d: %u spikes at dt/2, %u at dt", c, counts2[c], counts[c]);
        for (uint32_t k = 0; k < n; k++)
            CHECK(v2[(size_t)c * n2 + 2 * k] == v[(size_t)c * n + k], "cell %d: sample %u differs at dt/2", c, k);
        for (uint32_t k = 0; k + 1 < n; k++) {
            double mid = 0.5 * ((double)v[(size_t)c * n + k] + v[(size_t)c * n + k + 1]);
            worst = fmax(worst, fabs(v2[(size_t)c * n2 + 2 * k + 1] - mid));
        }
    }
    CHECK(worst < 1e-4, "midpoints off by %g mV", worst);
    const double dt3 = 0.25;
    uint32_t n3 = noble_output_samples(m, dt3);
    CHECK(n3 == (uint32_t)floor((info.samples - 1) * info.dt_ms / dt3) + 1, "%u samples at 0.25 ms", n3);
    float *v3 = malloc((size_t)NCELLS * n3 * sizeof *v3);
    s = noble_predict(m, cells, NCELLS, info.step_start_ms, info.step_duration_ms, dt3, v3, NULL, 0, NULL);
    CHECK(s == NOBLE_OK, "predict at 0.25 ms: %s", noble_last_error());
    worst = 0;
    for (uint32_t k = 0; k < n3 && !s; k++) {
        double p = k * dt3 / info.dt_ms;
        uint32_t j = (uint32_t)p;
        double f = p - j, ref = j + 1 < n ? v[j] + f * ((double)v[j + 1] - v[j]) : v[n - 1];
        worst = fmax(worst, fabs(v3[k] - ref));
    }
    CHECK(worst < 1e-3, "interpolation at 0.25 ms off by %g mV", worst);

    /* what NOBLE cannot represent, and bad arguments */
    noble_cell bad[NCELLS];
    memcpy(bad, cells, sizeof bad);
    bad[2].amplitude_pA = NAN;
    expect_error(noble_predict(m, bad, NCELLS, info.step_start_ms, info.step_duration_ms, info.dt_ms, v, NULL, 0, NULL),
                 NOBLE_ERR_ARGUMENT, "amplitude", "NaN amplitude");
    memcpy(bad, cells, sizeof bad);
    bad[1].I_thr_pA = INFINITY;
    bad[1].hof_model = -1;
    expect_error(noble_predict(m, bad, NCELLS, info.step_start_ms, info.step_duration_ms, info.dt_ms, v, NULL, 0, NULL),
                 NOBLE_ERR_ARGUMENT, "I_thr", "infinite I_thr");
    bad[1].hof_model = 999;
    expect_error(noble_predict(m, bad, NCELLS, info.step_start_ms, info.step_duration_ms, info.dt_ms, v, NULL, 0, NULL),
                 NOBLE_ERR_ARGUMENT, "HoF model 999", "HoF index out of range");
    expect_error(noble_predict(m, cells, NCELLS, info.step_start_ms, 1000, info.dt_ms, v, NULL, 0, NULL),
                 NOBLE_ERR_UNSUPPORTED, "does not fit NOBLE's window", "step longer than the window");
    expect_error(noble_predict(m, cells, NCELLS, info.step_start_ms + 20, info.step_duration_ms, info.dt_ms, v, NULL, 0,
                               NULL),
                 NOBLE_ERR_UNSUPPORTED, "trained on steps from", "step placed elsewhere");
    expect_error(noble_predict(m, cells, NCELLS, info.step_start_ms, 100, info.dt_ms, v, NULL, 0, NULL),
                 NOBLE_ERR_UNSUPPORTED, "trained on steps from", "shorter step");
    expect_error(noble_predict(m, cells, NCELLS, 600, 10, info.dt_ms, v, NULL, 0, NULL), NOBLE_ERR_UNSUPPORTED,
                 "does not fit", "delay past the window");
    expect_error(noble_predict(m, cells, NCELLS, NAN, info.step_duration_ms, info.dt_ms, v, NULL, 0, NULL),
                 NOBLE_ERR_ARGUMENT, "finite", "NaN delay");
    expect_error(noble_predict(m, cells, NCELLS, info.step_start_ms, info.step_duration_ms, 0, v, NULL, 0, NULL),
                 NOBLE_ERR_ARGUMENT, "output dt", "dt 0");
    expect_error(noble_predict(m, cells, NCELLS, info.step_start_ms, info.step_duration_ms, 1e4, v, NULL, 0, NULL),
                 NOBLE_ERR_UNSUPPORTED, "fewer than 2 samples", "dt longer than the window");

    noble_close(m);
    noble_close(NULL);
    free(v);
    free(v2);
    free(v3);
    free(spikes);
    if (failures) {
        fprintf(stderr, "embed_consumer: %d check(s) failed\n", failures);
        return 1;
    }
    printf("embed_consumer: all checks passed\n");
    return 0;
}
