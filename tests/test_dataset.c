/* test_dataset.c - reading `noble datagen` datasets (models/dataset.c,
 * docs/dataset.md) on the mini PVALB dataset of the mini_dataset fixture
 * (tests/dataset.cmake): counts and attributes as requested, the split,
 * windows against direct indexing, and clear refusals of bad windows and of
 * broken copies of the file (made here with the HDF5 C API).
 * usage: test_dataset MINI_DATASET.h5 */
#include "nb_test.h"
#include "nm_models.h"

#include <hdf5.h>
#include <unistd.h>

/* What tests/dataset.cmake asks `noble datagen` for. */
#define N_MODELS 6
#define N_TEST 1
#define N_VALIDATION 1
static const double k_amps[] = {-110, -30, 0, 60, 150, 270};
static const double k_offsets[] = {0, 20};
#define N_AMPS (sizeof k_amps / sizeof *k_amps)
#define N_OFFSETS (sizeof k_offsets / sizeof *k_offsets)

static char g_dir[256];

#define HAS(msg, sub) CHECK(strstr((msg), (sub)) != NULL, "message lacks '%s': %s", (sub), (msg))

/* ------------------------------------------------------------ good file */

static void check_contents(const nm_dataset *d)
{
    CHECK(d->n_models == N_MODELS, "n_models = %u", d->n_models);
    CHECK(d->n_traces >= N_MODELS * N_AMPS && d->n_traces <= N_MODELS * (N_AMPS + N_OFFSETS), "n_traces = %u",
          d->n_traces);
    CHECK(d->n_samples == 9101, "n_samples = %u", d->n_samples);
    CHECK(strcmp(d->cell, "pvalb") == 0, "cell = '%s'", d->cell);
    CHECK(fabs(d->dt_ms - 0.06) < 1e-12 && d->stim_start_ms == 45 && d->stim_end_ms == 445, "protocol %g %g %g",
          d->dt_ms, d->stim_start_ms, d->stim_end_ms);
    CHECK(d->window_ms == 515 && d->window_step_start_ms == 15 && d->jitter_ms[0] == 0 && d->jitter_ms[1] == 30,
          "window %g %g [%g, %g]", d->window_ms, d->window_step_start_ms, d->jitter_ms[0], d->jitter_ms[1]);
    CHECK(d->n_features == NM_FEAT_COUNT, "n_features = %u", d->n_features);
    for (uint32_t j = 0; j < d->n_features && j < NM_FEAT_COUNT; j++)
        CHECK(strcmp(d->feature_names[j], nm_feature_name((int)j)) == 0, "feature %u is '%s'", j, d->feature_names[j]);

    /* Per model: each protocol step once, and the near-threshold steps at
     * I_thr + offset that are not protocol steps; traces grouped by model. */
    uint32_t per_model[N_MODELS] = {0};
    for (uint32_t i = 0; i < d->n_traces; i++) {
        const int32_t m = d->model[i];
        CHECK(m >= 0 && m < N_MODELS, "trace %u: model %d", i, m);
        if (m < 0 || m >= N_MODELS)
            continue;
        CHECK(i == 0 || d->model[i - 1] <= m, "trace %u: models not in order", i);
        per_model[m]++;
        int protocol = 0, near = 0;
        for (size_t a = 0; a < N_AMPS; a++)
            protocol |= d->amplitude[i] == k_amps[a];
        for (size_t o = 0; o < N_OFFSETS; o++)
            near |= fabs(d->amplitude[i] - (d->I_thr[m] + k_offsets[o])) < 1e-9;
        CHECK(d->near_threshold[i] ? near && !protocol : protocol, "trace %u: amplitude %g (near %u, I_thr %g)", i,
              d->amplitude[i], d->near_threshold[i], d->I_thr[m]);
        CHECK(d->neuron_wall_s[i] > 0, "trace %u: neuron_wall_s %g", i, d->neuron_wall_s[i]);
        /* the current is the step: 0 before it, the amplitude inside */
        const float *c = d->current + (uint64_t)i * d->n_samples;
        CHECK(c[0] == 0 && c[(uint32_t)(100 / d->dt_ms)] == (float)d->amplitude[i], "trace %u: current %g %g", i, c[0],
              c[(uint32_t)(100 / d->dt_ms)]);
    }
    for (int m = 0; m < N_MODELS; m++) {
        CHECK(per_model[m] >= N_AMPS && per_model[m] <= N_AMPS + N_OFFSETS, "model %d: %u traces", m, per_model[m]);
        CHECK(d->I_thr[m] > 0 && d->s_thr[m] > 0, "model %d: I_thr %g s_thr %g", m, d->I_thr[m], d->s_thr[m]);
        CHECK(d->family[m] >= 0 && d->family[m] < 3, "model %d: family %d", m, d->family[m]);
    }
}

static void check_split(const nm_dataset *d)
{
    const int want[3] = {N_MODELS - N_TEST - N_VALIDATION, N_VALIDATION, N_TEST};
    int model_seen[N_MODELS] = {0};
    int *trace_seen = calloc(d->n_traces, sizeof *trace_seen);
    uint32_t *ids = malloc(d->n_traces * sizeof *ids);
    uint32_t total_traces = 0;
    for (int sp = NM_SPLIT_TRAIN; sp <= NM_SPLIT_TEST; sp++) {
        uint32_t ms[N_MODELS];
        uint32_t nm = nm_dataset_select(d, sp, 1, ms, N_MODELS);
        CHECK((int)nm == want[sp], "split %d: %u models, expected %d", sp, nm, want[sp]);
        CHECK(nm_dataset_select(d, sp, 1, NULL, 0) == nm, "split %d: the count without room", sp);
        for (uint32_t k = 0; k < nm && k < N_MODELS; k++) {
            CHECK(k == 0 || ms[k] > ms[k - 1], "split %d: models not increasing", sp);
            CHECK(ms[k] < N_MODELS && d->split[ms[k]] == sp, "split %d: model %u", sp, ms[k]);
            if (ms[k] < N_MODELS)
                model_seen[ms[k]]++;
        }
        uint32_t nt = nm_dataset_select(d, sp, 0, ids, d->n_traces);
        CHECK(nt > 0, "split %d: no traces", sp);
        total_traces += nt;
        for (uint32_t k = 0; k < nt && k < d->n_traces; k++) {
            CHECK(k == 0 || ids[k] > ids[k - 1], "split %d: traces not increasing", sp);
            CHECK(d->split[d->model[ids[k]]] == sp, "split %d: trace %u of model %d", sp, ids[k], d->model[ids[k]]);
            trace_seen[ids[k]]++;
        }
        /* a short buffer gets the first cap and the full count */
        uint32_t two[2] = {~0u, ~0u};
        CHECK(nm_dataset_select(d, sp, 0, two, 1) == nt && two[0] == ids[0] && two[1] == ~0u, "split %d: cap 1", sp);
    }
    for (int m = 0; m < N_MODELS; m++)
        CHECK(model_seen[m] == 1, "model %d is in %d splits", m, model_seen[m]);
    CHECK(total_traces == d->n_traces, "the splits hold %u of %u traces", total_traces, d->n_traces);
    for (uint32_t i = 0; i < d->n_traces; i++)
        CHECK(trace_seen[i] == 1, "trace %u is in %d splits", i, trace_seen[i]);
    CHECK(nm_dataset_select(d, 3, 1, NULL, 0) == 0 && nm_dataset_select(d, -1, 0, NULL, 0) == 0, "unknown split");
    free(trace_seen);
    free(ids);
}

static void check_windows(const nm_dataset *d)
{
    const int64_t s0 = nm_dataset_window_start(d, 0);
    CHECK(s0 == llround((d->stim_start_ms - d->window_step_start_ms) / d->dt_ms) && s0 == 500, "start(0) = %lld",
          (long long)s0);
    CHECK(nm_dataset_window_start(d, 30) == 0, "start(30) = %lld", (long long)nm_dataset_window_start(d, 30));
    CHECK(nm_dataset_window_start(d, 10) == 333, "start(10) = %lld", (long long)nm_dataset_window_start(d, 10));
    CHECK(nm_dataset_window_start(d, 0.02) == 500 && nm_dataset_window_start(d, 0.04) == 499, "rounding");

    const uint32_t L = 8580, n = 4;
    const uint32_t ids[4] = {0, d->n_traces - 1, d->n_traces / 2, 3};
    const int64_t start[4] = {s0, nm_dataset_window_start(d, 30), nm_dataset_window_start(d, 17.3),
                              (int64_t)d->n_samples - L};
    float *c = malloc((size_t)n * L * sizeof *c), *v = malloc((size_t)n * L * sizeof *v);
    float codes[4 * 3];
    for (uint32_t stride = 1; stride <= 2; stride++) {
        const uint32_t len = L / stride;
        CHECK_OK(nm_dataset_window(d, ids, start, n, len, stride, c, v, codes));
        for (uint32_t i = 0; i < n; i++) {
            const float *vv = d->voltage + (uint64_t)ids[i] * d->n_samples;
            const float *cc = d->current + (uint64_t)ids[i] * d->n_samples;
            uint32_t bad = 0;
            for (uint32_t k = 0; k < len; k++)
                bad += c[i * len + k] != cc[start[i] + (int64_t)k * stride] ||
                       v[i * len + k] != vv[start[i] + (int64_t)k * stride];
            CHECK(bad == 0, "stride %u, window %u: %u samples differ", stride, i, bad);
            const int32_t m = d->model[ids[i]];
            CHECK(codes[3 * i] == (float)d->amplitude[ids[i]] && codes[3 * i + 1] == (float)d->I_thr[m] &&
                      codes[3 * i + 2] == (float)d->s_thr[m],
                  "window %u: codes %g %g %g", i, codes[3 * i], codes[3 * i + 1], codes[3 * i + 2]);
        }
    }
    /* either output may be NULL */
    CHECK_OK(nm_dataset_window(d, ids, start, n, L, 1, NULL, v, NULL));
    CHECK(v[L + 7] == d->voltage[(uint64_t)ids[1] * d->n_samples + (uint64_t)start[1] + 7], "voltage only");
    CHECK_OK(nm_dataset_window(d, ids, start, 0, L, 1, NULL, NULL, NULL));

    /* Refusals name the window and write nothing. */
    for (size_t i = 0; i < (size_t)n * L; i++)
        c[i] = -12345.0f;
    const uint32_t bad_id[2] = {0, d->n_traces};
    CHECK(nm_dataset_window(d, bad_id, start, 2, L, 1, c, v, codes) == NB_ERR_INVALID_ARGUMENT, "id out of range");
    char want[64];
    snprintf(want, sizeof want, "window 1: trace %u is out of range", d->n_traces);
    HAS(nb_last_error(), want);
    CHECK(c[0] == -12345.0f, "a refused call wrote window 0");
    const int64_t neg[2] = {0, -1};
    CHECK(nm_dataset_window(d, ids, neg, 2, L, 1, c, v, codes) == NB_ERR_INVALID_ARGUMENT, "start -1");
    HAS(nb_last_error(), "window 1 (trace");
    HAS(nb_last_error(), "start -1");
    CHECK(c[0] == -12345.0f, "a refused call wrote window 0");
    const int64_t late[2] = {0, (int64_t)d->n_samples - L + 1}; /* ends one sample past the trace */
    CHECK(nm_dataset_window(d, ids, late, 2, L, 1, c, v, codes) == NB_ERR_INVALID_ARGUMENT, "window past the end");
    HAS(nb_last_error(), "leaves the trace");
    HAS(nb_last_error(), "stride 1");
    const int64_t fits[1] = {(int64_t)d->n_samples - 2 * (L / 2 - 1) - 1}; /* last sample: the trace's last */
    CHECK_OK(nm_dataset_window(d, ids, fits, 1, L / 2, 2, c, v, codes));
    CHECK(v[L / 2 - 1] == d->voltage[(uint64_t)ids[0] * d->n_samples + d->n_samples - 1], "the last sample");
    const int64_t past[1] = {fits[0] + 1};
    CHECK(nm_dataset_window(d, ids, past, 1, L / 2, 2, c, v, codes) == NB_ERR_INVALID_ARGUMENT,
          "stride 2 past the end");
    HAS(nb_last_error(), "stride 2");
    const int64_t huge[1] = {INT64_MAX};
    CHECK(nm_dataset_window(d, ids, huge, 1, L, 1, c, v, codes) == NB_ERR_INVALID_ARGUMENT, "start INT64_MAX");
    CHECK(nm_dataset_window(d, ids, start, 1, L, UINT32_MAX, c, v, codes) == NB_ERR_INVALID_ARGUMENT, "huge stride");
    CHECK(nm_dataset_window(d, ids, start, 1, 0, 1, c, v, codes) == NB_ERR_INVALID_ARGUMENT, "length 0");
    HAS(nb_last_error(), "length 0");
    CHECK(nm_dataset_window(d, ids, start, 1, L, 0, c, v, codes) == NB_ERR_INVALID_ARGUMENT, "stride 0");
    HAS(nb_last_error(), "stride 0");
    free(c);
    free(v);
}

/* ----------------------------------------------------------- bad files */

static void copy_file(const char *from, const char *to)
{
    FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
    if (!in || !out) {
        fprintf(stderr, "cannot copy %s to %s\n", from, to);
        exit(1);
    }
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0)
        if (fwrite(buf, 1, n, out) != n) {
            fprintf(stderr, "cannot write %s\n", to);
            exit(1);
        }
    fclose(in);
    if (fclose(out) != 0) {
        fprintf(stderr, "cannot write %s\n", to);
        exit(1);
    }
}

/* A copy of the dataset, opened for writing. */
static hid_t broken_copy(const char *src, const char *name, char *path, size_t cap)
{
    snprintf(path, cap, "%s/%s", g_dir, name);
    copy_file(src, path);
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    if (f < 0) {
        fprintf(stderr, "HDF5 cannot open the copy %s\n", path);
        exit(1);
    }
    return f;
}

/* Opening path fails and the message names the file and has each want. */
static void refused(const char *path, const char *want1, const char *want2)
{
    nm_dataset *d = (nm_dataset *)1;
    nb_status s = nm_dataset_open(path, &d);
    CHECK(s != NB_OK && d == NULL, "%s opened (status %d)", path, (int)s);
    if (s == NB_OK) {
        nm_dataset_close(d);
        return;
    }
    const char *msg = nb_last_error();
    printf("  %s\n", msg);
    HAS(msg, path);
    HAS(msg, want1);
    if (want2)
        HAS(msg, want2);
}

static void write_i64_attr(hid_t f, const char *name, int64_t v)
{
    hid_t a = H5Aopen(f, name, H5P_DEFAULT);
    CHECK(a >= 0 && H5Awrite(a, H5T_NATIVE_INT64, &v) >= 0, "writing attribute %s", name);
    if (a >= 0)
        H5Aclose(a);
}

/* Writes one element [row][col] (col < 0: rank 1) of a dataset. */
static void poke(hid_t f, const char *name, hsize_t row, int col, hid_t mem, const void *v)
{
    hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
    hid_t fs = H5Dget_space(d);
    hsize_t at[2] = {row, (hsize_t)(col < 0 ? 0 : col)}, one[2] = {1, 1};
    H5Sselect_hyperslab(fs, H5S_SELECT_SET, at, NULL, one, NULL);
    hid_t ms = H5Screate_simple(col < 0 ? 1 : 2, one, NULL);
    CHECK(H5Dwrite(d, mem, ms, fs, H5P_DEFAULT, v) >= 0, "writing %s", name);
    H5Sclose(ms);
    H5Sclose(fs);
    H5Dclose(d);
}

static void check_bad_files(const char *src)
{
    char path[512];
    hid_t f;

    snprintf(path, sizeof path, "%s/no_such_file.h5", g_dir);
    refused(path, "cannot read", NULL);

    snprintf(path, sizeof path, "%s/text.h5", g_dir);
    FILE *t = fopen(path, "w");
    fputs("this is not HDF5\n", t);
    fclose(t);
    refused(path, "not an HDF5 file", NULL);

    /* an HDF5 file that is not a dataset */
    snprintf(path, sizeof path, "%s/empty.h5", g_dir);
    H5Fclose(H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT));
    refused(path, "not a noble dataset", NULL);

    f = broken_copy(src, "no_ithr.h5", path, sizeof path);
    H5Ldelete(f, "/models/I_thr", H5P_DEFAULT);
    H5Fclose(f);
    refused(path, "/models/I_thr is missing", "docs/dataset.md");

    f = broken_copy(src, "no_traces.h5", path, sizeof path);
    H5Ldelete(f, "/traces", H5P_DEFAULT);
    H5Fclose(f);
    refused(path, "/traces/voltage is missing", NULL);

    /* missing halfway through the per-trace and per-model tables: what was
     * read before is freed (the ASan build checks for leaks) */
    f = broken_copy(src, "no_wall.h5", path, sizeof path);
    H5Ldelete(f, "/traces/neuron_wall_s", H5P_DEFAULT);
    H5Fclose(f);
    refused(path, "/traces/neuron_wall_s is missing", NULL);

    f = broken_copy(src, "no_family.h5", path, sizeof path);
    H5Ldelete(f, "/models/family", H5P_DEFAULT);
    H5Fclose(f);
    refused(path, "/models/family is missing", NULL);

    f = broken_copy(src, "no_dt.h5", path, sizeof path);
    H5Adelete(f, "dt_ms");
    H5Fclose(f);
    refused(path, "root attribute 'dt_ms' is missing", NULL);

    f = broken_copy(src, "no_names.h5", path, sizeof path);
    H5Adelete_by_name(f, "/traces/features", "names", H5P_DEFAULT);
    H5Fclose(f);
    refused(path, "/traces/features lacks the attribute 'names'", NULL);

    f = broken_copy(src, "incomplete.h5", path, sizeof path);
    write_i64_attr(f, "complete", 0);
    H5Fclose(f);
    refused(path, "incomplete", "complete = 0");

    f = broken_copy(src, "version2.h5", path, sizeof path);
    write_i64_attr(f, "format_version", 2);
    H5Fclose(f);
    refused(path, "format_version 2", NULL);

    f = broken_copy(src, "nan.h5", path, sizeof path);
    const float nan = NAN;
    poke(f, "/traces/voltage", 2, 100, H5T_NATIVE_FLOAT, &nan);
    H5Fclose(f);
    refused(path, "/traces/voltage is not finite", "trace 2, sample 100");

    f = broken_copy(src, "current_shape.h5", path, sizeof path);
    H5Ldelete(f, "/traces/current", H5P_DEFAULT);
    hsize_t dims[2] = {2, 3};
    const float six[6] = {0};
    hid_t sp = H5Screate_simple(2, dims, NULL);
    hid_t ds = H5Dcreate2(f, "/traces/current", H5T_IEEE_F32LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    CHECK(ds >= 0 && H5Dwrite(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, six) >= 0, "new current");
    H5Dclose(ds);
    H5Sclose(sp);
    H5Fclose(f);
    refused(path, "/traces/current has shape (2, 3), expected (", ", 9101)");

    f = broken_copy(src, "bad_model.h5", path, sizeof path);
    const int32_t m99 = 99;
    poke(f, "/traces/model", 5, -1, H5T_NATIVE_INT32, &m99);
    H5Fclose(f);
    refused(path, "/traces/model[5] = 99 is not a model", NULL);

    f = broken_copy(src, "bad_split.h5", path, sizeof path);
    const int8_t three = 3;
    poke(f, "/models/split", 1, -1, H5T_NATIVE_INT8, &three);
    H5Fclose(f);
    refused(path, "/models/split[1] = 3", NULL);

    nm_dataset *none = NULL;
    CHECK(nm_dataset_open(NULL, &none) == NB_ERR_INVALID_ARGUMENT && none == NULL, "NULL path");
    CHECK(nm_dataset_open(src, NULL) == NB_ERR_INVALID_ARGUMENT, "NULL out");
    nm_dataset_close(NULL);
}

static void remove_dir(void)
{
    static const char *files[] = {"text.h5",  "empty.h5",         "no_ithr.h5",    "no_traces.h5",
                                  "no_dt.h5", "no_names.h5",      "incomplete.h5", "version2.h5",
                                  "nan.h5",   "current_shape.h5", "bad_model.h5",  "bad_split.h5"};
    char path[512];
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        snprintf(path, sizeof path, "%s/%s", g_dir, files[i]);
        unlink(path);
    }
    rmdir(g_dir);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: test_dataset MINI_DATASET.h5 (tests/dataset.cmake makes it)\n");
        return 2;
    }
    nm_dataset *d = NULL;
    REQUIRE_OK(nm_dataset_open(argv[1], &d));
    printf("%s: %s, %u models, %u traces x %u samples, %u features\n", argv[1], d->cell, d->n_models, d->n_traces,
           d->n_samples, d->n_features);
    check_contents(d);
    check_split(d);
    check_windows(d);
    nm_dataset_close(d);

    const char *tmp = getenv("TMPDIR");
    snprintf(g_dir, sizeof g_dir, "%s/test_dataset.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(g_dir)) {
        fprintf(stderr, "cannot make a folder %s\n", g_dir);
        return 1;
    }
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    check_bad_files(argv[1]);
    remove_dir();

    if (nbt_failures)
        fprintf(stderr, "%d check(s) failed\n", nbt_failures);
    else
        printf("all checks passed\n");
    return nbt_failures ? 1 : 0;
}
