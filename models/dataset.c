/* dataset.c - ground-truth datasets written by `noble datagen` (docs/dataset.md),
 * read whole into host memory and cut into NOBLE's windows. */
#include "nm_models.h"

#include <errno.h>
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FORMAT "noble-dataset"
#define FORMAT_VERSION 1
#define FIELDS "(docs/dataset.md lists the fields of format_version 1)"

/* HDF5 prints an error stack to stderr by default; the library must not. */
static void quiet(void) { H5Eset_auto2(H5E_DEFAULT, NULL, NULL); }

/* ------------------------------------------------------- root attributes */

/* Opens root attribute name; a missing one is an error naming it. */
static nb_status attr_open(hid_t f, const char *path, const char *name, hid_t *a)
{
    *a = -1;
    if (H5Aexists(f, name) <= 0)
        return nb_error(NB_ERR_INVALID_ARGUMENT, "dataset %s: root attribute '%s' is missing %s", path, name, FIELDS);
    *a = H5Aopen(f, name, H5P_DEFAULT);
    if (*a < 0)
        return nb_error(NB_ERR_IO, "dataset %s: cannot open root attribute '%s'", path, name);
    return NB_OK;
}

/* n numbers (integer or float in the file) of root attribute name. */
static nb_status attr_nums(hid_t f, const char *path, const char *name, double *v, hssize_t n)
{
    hid_t a;
    nb_status s = attr_open(f, path, name, &a);
    if (s)
        return s;
    hid_t t = H5Aget_type(a), sp = H5Aget_space(a);
    H5T_class_t c = H5Tget_class(t);
    hssize_t got = H5Sget_simple_extent_npoints(sp);
    if (c != H5T_INTEGER && c != H5T_FLOAT)
        s = nb_error(NB_ERR_INVALID_ARGUMENT, "dataset %s: root attribute '%s' is not a number", path, name);
    else if (got != n)
        s = nb_error(NB_ERR_INVALID_ARGUMENT, "dataset %s: root attribute '%s' has %lld value(s), expected %lld", path,
                     name, (long long)got, (long long)n);
    else if (H5Aread(a, H5T_NATIVE_DOUBLE, v) < 0)
        s = nb_error(NB_ERR_IO, "dataset %s: reading root attribute '%s' failed", path, name);
    for (hssize_t i = 0; !s && i < n; i++)
        if (!isfinite(v[i]))
            s = nb_error(NB_ERR_INVALID_ARGUMENT, "dataset %s: root attribute '%s' is not finite", path, name);
    H5Sclose(sp);
    H5Tclose(t);
    H5Aclose(a);
    return s;
}

/* A whole number in [lo, hi]. */
static nb_status attr_int(hid_t f, const char *path, const char *name, double lo, double hi, int64_t *v)
{
    double x;
    nb_status s = attr_nums(f, path, name, &x, 1);
    if (s)
        return s;
    if (x != floor(x) || x < lo || x > hi)
        return nb_error(NB_ERR_INVALID_ARGUMENT,
                        "dataset %s: root attribute '%s' = %g, expected a whole number in [%g, %g]", path, name, x, lo,
                        hi);
    *v = (int64_t)x;
    return NB_OK;
}

static void copy_str(char *out, size_t cap, const char *s) { snprintf(out, cap, "%s", s ? s : ""); }

/* Reads n strings (fixed or variable length, as h5py writes str) of
 * attribute a into out[i] (cap bytes each, longer ones truncated). */
static int read_strings(hid_t a, hssize_t n, char *out, size_t cap)
{
    hid_t ft = H5Aget_type(a);
    int ok = 0;
    if (H5Tget_class(ft) != H5T_STRING) {
        H5Tclose(ft);
        return 0;
    }
    hid_t mt = H5Tcopy(H5T_C_S1);
    H5Tset_cset(mt, H5Tget_cset(ft)); /* h5py writes UTF-8; HDF5 converts no character set */
    if (H5Tis_variable_str(ft) > 0) {
        char **v = calloc((size_t)n, sizeof *v);
        H5Tset_size(mt, H5T_VARIABLE);
        if (v && H5Aread(a, mt, v) >= 0) {
            for (hssize_t i = 0; i < n; i++) {
                copy_str(out + (size_t)i * cap, cap, v[i]);
                H5free_memory(v[i]);
            }
            ok = 1;
        }
        free(v);
    } else {
        size_t w = H5Tget_size(ft) + 1;
        char *buf = calloc((size_t)n, w);
        H5Tset_size(mt, w);
        if (buf && H5Aread(a, mt, buf) >= 0) {
            for (hssize_t i = 0; i < n; i++)
                copy_str(out + (size_t)i * cap, cap, buf + (size_t)i * w);
            ok = 1;
        }
        free(buf);
    }
    H5Tclose(mt);
    H5Tclose(ft);
    return ok;
}

static nb_status attr_str(hid_t f, const char *path, const char *name, char *out, size_t cap)
{
    hid_t a;
    nb_status s = attr_open(f, path, name, &a);
    if (s)
        return s;
    hid_t sp = H5Aget_space(a);
    if (H5Sget_simple_extent_npoints(sp) != 1 || !read_strings(a, 1, out, cap))
        s = nb_error(NB_ERR_INVALID_ARGUMENT, "dataset %s: root attribute '%s' is not a string", path, name);
    H5Sclose(sp);
    H5Aclose(a);
    return s;
}

/* ---------------------------------------------------------------- fields */

static void shape_text(char *out, size_t cap, int rank, const hsize_t *dims)
{
    size_t k = (size_t)snprintf(out, cap, "(");
    for (int i = 0; i < rank && k < cap; i++)
        k += (size_t)snprintf(out + k, cap - k, "%s%llu", i ? ", " : "", (unsigned long long)dims[i]);
    if (k < cap)
        snprintf(out + k, cap - k, ")");
}

/* Reads field name (e.g. "/traces/voltage"), which must be of class cls
 * and rank rank; want[k] = 0 takes any extent and reports it in got[k],
 * otherwise the extent must equal want[k] (like says what set it). Data
 * are converted to mem and land in a fresh *out of elem-byte elements. */
static nb_status read_field(hid_t f, const char *path, const char *name, H5T_class_t cls, int rank, const hsize_t *want,
                            const char *like, hsize_t *got, hid_t mem, size_t elem, void **out)
{
    *out = NULL;
    /* The group first: H5Lexists fails on a path whose group is missing. */
    char group[64];
    size_t gl = strcspn(name + 1, "/") + 1;
    snprintf(group, sizeof group, "%.*s", (int)gl, name);
    if (H5Lexists(f, group, H5P_DEFAULT) <= 0 || H5Lexists(f, name, H5P_DEFAULT) <= 0)
        return nb_error(NB_ERR_INVALID_ARGUMENT, "dataset %s: %s is missing %s", path, name, FIELDS);
    hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
    if (d < 0)
        return nb_error(NB_ERR_INVALID_ARGUMENT, "dataset %s: %s is not a dataset %s", path, name, FIELDS);
    hid_t t = H5Dget_type(d), sp = H5Dget_space(d);
    nb_status s = NB_OK;
    int r = H5Sget_simple_extent_ndims(sp);
    hsize_t dims[8] = {0};
    if (r > 0 && r <= 8)
        H5Sget_simple_extent_dims(sp, dims, NULL);
    if (H5Tget_class(t) != cls) {
        s = nb_error(NB_ERR_INVALID_ARGUMENT, "dataset %s: %s holds %s, expected %s", path, name,
                     H5Tget_class(t) == H5T_FLOAT     ? "floating-point numbers"
                     : H5Tget_class(t) == H5T_INTEGER ? "integers"
                                                      : "neither integers nor floating-point numbers",
                     cls == H5T_FLOAT ? "floating-point numbers" : "integers");
    } else if (r != rank) {
        s = nb_error(NB_ERR_INVALID_ARGUMENT, "dataset %s: %s has rank %d, expected %d", path, name, r, rank);
    } else {
        int same = 1;
        for (int k = 0; k < rank; k++)
            same &= want[k] == 0 || dims[k] == want[k];
        if (!same) {
            char have[96], exp[96];
            shape_text(have, sizeof have, r, dims);
            hsize_t w[8];
            for (int k = 0; k < rank; k++)
                w[k] = want[k] ? want[k] : dims[k];
            shape_text(exp, sizeof exp, rank, w);
            s = nb_error(NB_ERR_INVALID_ARGUMENT, "dataset %s: %s has shape %s, expected %s (%s)", path, name, have,
                         exp, like);
        }
    }
    size_t n = 1;
    for (int k = 0; !s && k < rank; k++) {
        if (dims[k] == 0)
            s = nb_error(NB_ERR_INVALID_ARGUMENT, "dataset %s: %s is empty", path, name);
        got[k] = dims[k];
        n *= (size_t)dims[k];
    }
    if (!s && !(*out = malloc(n * elem)))
        s = nb_error(NB_ERR_OUT_OF_MEMORY, "dataset %s: out of host memory for %s (%zu bytes)", path, name, n * elem);
    if (!s && H5Dread(d, mem, H5S_ALL, H5S_ALL, H5P_DEFAULT, *out) < 0)
        s = nb_error(NB_ERR_IO, "dataset %s: reading %s failed", path, name);
    if (s) {
        free(*out);
        *out = NULL;
    }
    H5Sclose(sp);
    H5Tclose(t);
    H5Dclose(d);
    return s;
}

/* One dataset of a group, as read_field takes it. */
typedef struct field {
    const char *name;
    H5T_class_t cls;
    int rank;
    const hsize_t *want;
    const char *like;
    hid_t mem;
    size_t elem;
} field;

/* read_field for each of n fields in turn, into out[i] (NULL for those not
 * read); got is the last one's shape. On an error the fields read so far
 * stay in out, for the caller to hand over to its cleanup. */
static nb_status read_fields(hid_t f, const char *path, const field *fs, int n, hsize_t *got, void **out)
{
    for (int i = 0; i < n; i++)
        out[i] = NULL;
    for (int i = 0; i < n; i++) {
        nb_status s = read_field(f, path, fs[i].name, fs[i].cls, fs[i].rank, fs[i].want, fs[i].like, got, fs[i].mem,
                                 fs[i].elem, &out[i]);
        if (s)
            return s;
    }
    return NB_OK;
}

/* The `names` attribute of /traces/features: n strings. */
static nb_status feature_names(hid_t f, const char *path, hsize_t n, char (**out)[32])
{
    const char *name = "/traces/features";
    hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
    if (d < 0)
        return nb_error(NB_ERR_IO, "dataset %s: cannot open %s", path, name);
    nb_status s = NB_OK;
    if (H5Aexists(d, "names") <= 0) {
        s = nb_error(NB_ERR_INVALID_ARGUMENT, "dataset %s: %s lacks the attribute 'names' %s", path, name, FIELDS);
    } else {
        hid_t a = H5Aopen(d, "names", H5P_DEFAULT);
        hid_t sp = a >= 0 ? H5Aget_space(a) : -1;
        hssize_t got = sp >= 0 ? H5Sget_simple_extent_npoints(sp) : -1;
        if (got != (hssize_t)n)
            s = nb_error(NB_ERR_INVALID_ARGUMENT, "dataset %s: %s has %llu feature columns but %lld 'names'", path,
                         name, (unsigned long long)n, (long long)got);
        else if (!(*out = calloc(n, sizeof **out)))
            s = nb_error(NB_ERR_OUT_OF_MEMORY, "dataset %s: out of host memory", path);
        else if (!read_strings(a, got, (char *)*out, sizeof **out))
            s = nb_error(NB_ERR_INVALID_ARGUMENT, "dataset %s: the 'names' of %s are not strings", path, name);
        if (sp >= 0)
            H5Sclose(sp);
        if (a >= 0)
            H5Aclose(a);
    }
    H5Dclose(d);
    return s;
}

/* ------------------------------------------------------------------ open */

void nm_dataset_close(nm_dataset *d)
{
    if (!d)
        return;
    free(d->voltage);
    free(d->current);
    free(d->amplitude);
    free(d->model);
    free(d->near_threshold);
    free(d->neuron_wall_s);
    free(d->features);
    free(d->feature_names);
    free(d->I_thr);
    free(d->s_thr);
    free(d->split);
    free(d->family);
    free(d);
}

/* The first sample of a trace that is not finite, or -1. */
static int64_t not_finite(const float *x, uint64_t n)
{
    for (uint64_t i = 0; i < n; i++)
        if (!isfinite(x[i]))
            return (int64_t)i;
    return -1;
}

static nb_status check_finite(const nm_dataset *d, const char *name, const float *x)
{
    const uint64_t S = d->n_samples;
    int64_t i = not_finite(x, (uint64_t)d->n_traces * S);
    if (i < 0)
        return NB_OK;
    return nb_error(NB_ERR_INVALID_ARGUMENT, "dataset %s: %s is not finite at trace %llu, sample %llu (%g)", d->path,
                    name, (unsigned long long)((uint64_t)i / S), (unsigned long long)((uint64_t)i % S), (double)x[i]);
}

static nb_status load(hid_t f, nm_dataset *d)
{
    const char *path = d->path;
    char fmt[64];
    int64_t ver = 0, complete = 0, S = 0, n = 0;
    nb_status s;
    /* What the file is, before anything else. */
    if (H5Aexists(f, "format") <= 0 || attr_str(f, path, "format", fmt, sizeof fmt))
        return nb_error(NB_ERR_INVALID_ARGUMENT,
                        "dataset %s: not a noble dataset (no root attribute format = \"%s\"; `noble datagen` "
                        "writes them, docs/dataset.md)",
                        path, FORMAT);
    if (strcmp(fmt, FORMAT) != 0)
        return nb_error(NB_ERR_INVALID_ARGUMENT, "dataset %s: not a noble dataset (format = \"%s\", expected \"%s\")",
                        path, fmt, FORMAT);
    if ((s = attr_int(f, path, "format_version", 0, 1e9, &ver)))
        return s;
    if (ver != FORMAT_VERSION)
        return nb_error(NB_ERR_INVALID_ARGUMENT, "dataset %s: format_version %lld, this noble reads %d", path,
                        (long long)ver, FORMAT_VERSION);
    if ((s = attr_int(f, path, "complete", 0, 1, &complete)))
        return s;
    if (complete != 1)
        return nb_error(NB_ERR_INVALID_ARGUMENT,
                        "dataset %s: incomplete (root attribute complete = 0): its writer did not finish; "
                        "rerun the same `noble datagen` command to resume it",
                        path);

    /* The protocol. */
    if ((s = attr_str(f, path, "cell", d->cell, sizeof d->cell)) || (s = attr_nums(f, path, "dt_ms", &d->dt_ms, 1)) ||
        (s = attr_nums(f, path, "stim_start_ms", &d->stim_start_ms, 1)) ||
        (s = attr_nums(f, path, "stim_end_ms", &d->stim_end_ms, 1)) ||
        (s = attr_nums(f, path, "window_ms", &d->window_ms, 1)) ||
        (s = attr_nums(f, path, "window_step_start_ms", &d->window_step_start_ms, 1)) ||
        (s = attr_nums(f, path, "window_jitter_ms", d->jitter_ms, 2)) ||
        (s = attr_int(f, path, "n_samples", 1, UINT32_MAX, &S)))
        return s;
    if (!(d->dt_ms > 0))
        return nb_error(NB_ERR_INVALID_ARGUMENT, "dataset %s: root attribute 'dt_ms' = %g, expected > 0", path,
                        d->dt_ms);
    if (!(d->stim_end_ms > d->stim_start_ms))
        return nb_error(NB_ERR_INVALID_ARGUMENT, "dataset %s: the step ends (stim_end_ms = %g) before it starts (%g)",
                        path, d->stim_end_ms, d->stim_start_ms);
    if (!(d->jitter_ms[1] >= d->jitter_ms[0]))
        return nb_error(NB_ERR_INVALID_ARGUMENT,
                        "dataset %s: root attribute 'window_jitter_ms' = [%g, %g] is not a range", path,
                        d->jitter_ms[0], d->jitter_ms[1]);

    /* Traces: T x S, then per trace; models: M, then per model. */
    hsize_t TS[2] = {0, 0}, got[2], T1[1], TF[2] = {0, 0}, M1[1] = {0};
    void *p;
    if ((s = read_field(f, path, "/traces/voltage", H5T_FLOAT, 2, TS, "", got, H5T_NATIVE_FLOAT, 4, &p)))
        return s;
    d->voltage = p;
    if (got[1] != (hsize_t)S)
        return nb_error(NB_ERR_INVALID_ARGUMENT,
                        "dataset %s: /traces/voltage has %llu samples per trace, but n_samples = %lld", path,
                        (unsigned long long)got[1], (long long)S);
    if (got[0] > UINT32_MAX)
        return nb_error(NB_ERR_INVALID_ARGUMENT, "dataset %s: /traces/voltage has too many traces (%llu)", path,
                        (unsigned long long)got[0]);
    d->n_traces = (uint32_t)got[0];
    d->n_samples = (uint32_t)S;
    TS[0] = T1[0] = TF[0] = d->n_traces;
    TS[1] = d->n_samples;
    const char *like_ts = "[traces][samples], like /traces/voltage";
    const char *like_t = "one per trace, like /traces/voltage";
    const field per_trace[] = {
        {"/traces/current", H5T_FLOAT, 2, TS, like_ts, H5T_NATIVE_FLOAT, 4},
        {"/traces/amplitude", H5T_FLOAT, 1, T1, like_t, H5T_NATIVE_DOUBLE, 8},
        {"/traces/model", H5T_INTEGER, 1, T1, like_t, H5T_NATIVE_INT32, 4},
        {"/traces/near_threshold", H5T_INTEGER, 1, T1, like_t, H5T_NATIVE_UINT8, 1},
        {"/traces/neuron_wall_s", H5T_FLOAT, 1, T1, like_t, H5T_NATIVE_DOUBLE, 8},
        {"/traces/features", H5T_FLOAT, 2, TF, "[traces][features]", H5T_NATIVE_DOUBLE, 8},
    };
    void *pt[6];
    s = read_fields(f, path, per_trace, 6, got, pt);
    d->current = pt[0]; /* handed over even on an error, for the caller to free */
    d->amplitude = pt[1];
    d->model = pt[2];
    d->near_threshold = pt[3];
    d->neuron_wall_s = pt[4];
    d->features = pt[5];
    if (s)
        return s;
    d->n_features = (uint32_t)got[1];
    if ((s = feature_names(f, path, d->n_features, &d->feature_names)))
        return s;

    if ((s = read_field(f, path, "/models/I_thr", H5T_FLOAT, 1, M1, "", got, H5T_NATIVE_DOUBLE, 8, &p)))
        return s;
    d->I_thr = p;
    if (got[0] > INT32_MAX)
        return nb_error(NB_ERR_INVALID_ARGUMENT, "dataset %s: /models/I_thr has too many models (%llu)", path,
                        (unsigned long long)got[0]);
    d->n_models = (uint32_t)got[0];
    M1[0] = d->n_models;
    const char *like_m = "one per model, like /models/I_thr";
    const field per_model[] = {
        {"/models/s_thr", H5T_FLOAT, 1, M1, like_m, H5T_NATIVE_DOUBLE, 8},
        {"/models/split", H5T_INTEGER, 1, M1, like_m, H5T_NATIVE_INT8, 1},
        {"/models/family", H5T_INTEGER, 1, M1, like_m, H5T_NATIVE_INT32, 4},
    };
    void *pm[3];
    s = read_fields(f, path, per_model, 3, got, pm);
    d->s_thr = pm[0];
    d->split = pm[1];
    d->family = pm[2];
    if (s)
        return s;

    /* Agreement and ranges. */

    if (H5Aexists(f, "n_models") > 0 && (s = attr_int(f, path, "n_models", 0, 1e12, &n)) == NB_OK && n != d->n_models)
        return nb_error(NB_ERR_INVALID_ARGUMENT, "dataset %s: root attribute n_models = %lld, but /models/I_thr has %u",
                        path, (long long)n, d->n_models);
    if (s)
        return s;
    if (H5Aexists(f, "n_traces") > 0 && (s = attr_int(f, path, "n_traces", 0, 1e12, &n)) == NB_OK && n != d->n_traces)
        return nb_error(NB_ERR_INVALID_ARGUMENT,
                        "dataset %s: root attribute n_traces = %lld, but /traces/voltage has %u", path, (long long)n,
                        d->n_traces);
    if (s)
        return s;
    for (uint32_t i = 0; i < d->n_traces; i++)
        if (d->model[i] < 0 || (uint32_t)d->model[i] >= d->n_models)
            return nb_error(NB_ERR_INVALID_ARGUMENT, "dataset %s: /traces/model[%u] = %d is not a model (0 to %u)",
                            path, i, d->model[i], d->n_models - 1);
    for (uint32_t m = 0; m < d->n_models; m++) {
        if (d->split[m] < NM_SPLIT_TRAIN || d->split[m] > NM_SPLIT_TEST)
            return nb_error(NB_ERR_INVALID_ARGUMENT,
                            "dataset %s: /models/split[%u] = %d, expected 0 (train), 1 (validation) or 2 (test)", path,
                            m, d->split[m]);
        if (!isfinite(d->I_thr[m]) || !isfinite(d->s_thr[m]))
            return nb_error(NB_ERR_INVALID_ARGUMENT, "dataset %s: /models/%s[%u] is not finite", path,
                            isfinite(d->I_thr[m]) ? "s_thr" : "I_thr", m);
    }
    for (uint32_t i = 0; i < d->n_traces; i++)
        if (!isfinite(d->amplitude[i]))
            return nb_error(NB_ERR_INVALID_ARGUMENT, "dataset %s: /traces/amplitude[%u] is not finite", path, i);
    if ((s = check_finite(d, "/traces/voltage", d->voltage)) || (s = check_finite(d, "/traces/current", d->current)))
        return s;
    return NB_OK;
}

nb_status nm_dataset_open(const char *path, nm_dataset **out)
{
    if (!out)
        return nb_error(NB_ERR_INVALID_ARGUMENT, "nm_dataset_open: out is NULL");
    *out = NULL;
    if (!path || !*path)
        return nb_error(NB_ERR_INVALID_ARGUMENT, "nm_dataset_open: no path");
    quiet();
    if (access(path, R_OK) != 0)
        return nb_error(NB_ERR_IO, "dataset %s: cannot read it (%s)", path, strerror(errno));
    if (H5Fis_hdf5(path) <= 0)
        return nb_error(NB_ERR_INVALID_ARGUMENT,
                        "dataset %s: not an HDF5 file (`noble datagen` writes datasets, "
                        "docs/dataset.md)",
                        path);
    nm_dataset *d = calloc(1, sizeof *d);
    if (!d)
        return nb_error(NB_ERR_OUT_OF_MEMORY, "out of host memory");
    snprintf(d->path, sizeof d->path, "%s", path);
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) {
        free(d);
        return nb_error(NB_ERR_IO, "dataset %s: HDF5 cannot open it", path);
    }
    nb_status s = load(f, d);
    H5Fclose(f);
    if (s) {
        nm_dataset_close(d);
        return s;
    }
    *out = d;
    return NB_OK;
}

/* ------------------------------------------------------------ selections */

uint32_t nm_dataset_select(const nm_dataset *d, int split, int models, uint32_t *out, uint32_t cap)
{
    if (!d)
        return 0;
    uint32_t k = 0, n = models ? d->n_models : d->n_traces;
    for (uint32_t i = 0; i < n; i++) {
        int8_t sp = models ? d->split[i] : d->split[d->model[i]];
        if (sp != split)
            continue;
        if (out && k < cap)
            out[k] = i;
        k++;
    }
    return k;
}

int64_t nm_dataset_window_start(const nm_dataset *d, double jitter_ms)
{
    return llround((d->stim_start_ms - d->window_step_start_ms - jitter_ms) / d->dt_ms);
}

nb_status nm_dataset_window(const nm_dataset *d, const uint32_t *ids, const int64_t *start, uint32_t n, uint32_t length,
                            uint32_t stride, float *current, float *voltage, float *codes)
{
    if (!d)
        return nb_error(NB_ERR_INVALID_ARGUMENT, "nm_dataset_window: no dataset");
    if (n > 0 && (!ids || !start))
        return nb_error(NB_ERR_INVALID_ARGUMENT, "nm_dataset_window: ids or start is NULL");
    if (length == 0 || stride == 0)
        return nb_error(NB_ERR_INVALID_ARGUMENT, "nm_dataset_window: length %u, stride %u: both must be > 0", length,
                        stride);
    /* Everything is checked before anything is written. */
    const uint64_t S = d->n_samples, span = (uint64_t)(length - 1) * stride;
    for (uint32_t i = 0; i < n; i++) {
        if (ids[i] >= d->n_traces)
            return nb_error(NB_ERR_INVALID_ARGUMENT,
                            "nm_dataset_window: window %u: trace %u is out of range (dataset %s has %u traces)", i,
                            ids[i], d->path, d->n_traces);
        if (start[i] < 0 || (uint64_t)start[i] >= S || span >= S - (uint64_t)start[i])
            return nb_error(NB_ERR_INVALID_ARGUMENT,
                            "nm_dataset_window: window %u (trace %u, start %lld, length %u, stride %u) leaves the "
                            "trace: samples %lld to %.0f, the trace has 0 to %llu",
                            i, ids[i], (long long)start[i], length, stride, (long long)start[i],
                            (double)start[i] + (double)span, (unsigned long long)(S - 1));
    }
    for (uint32_t i = 0; i < n; i++) {
        const uint64_t row = (uint64_t)ids[i] * S + (uint64_t)start[i];
        float *c = current ? current + (uint64_t)i * length : NULL;
        float *v = voltage ? voltage + (uint64_t)i * length : NULL;
        for (uint32_t k = 0; k < length; k++) {
            const uint64_t at = row + (uint64_t)k * stride;
            if (c)
                c[k] = d->current[at];
            if (v)
                v[k] = d->voltage[at];
        }
        if (codes) {
            const int32_t m = d->model[ids[i]];
            codes[3 * i + 0] = (float)d->amplitude[ids[i]];
            codes[3 * i + 1] = (float)d->I_thr[m];
            codes[3 * i + 2] = (float)d->s_thr[m];
        }
    }
    return NB_OK;
}
