/* checkpoint.c - the operator's checkpoints in HDF5 (docs/checkpoint.md). */
#include "nm_models.h"

#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define FORMAT "noble-checkpoint"
#define FORMAT_VERSION 1

/* HDF5 prints an error stack to stderr by default; the library must not. */
static void quiet(void) { H5Eset_auto2(H5E_DEFAULT, NULL, NULL); }

static int attr_str(hid_t obj, const char *name, const char *v)
{
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, strlen(v) + 1);
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(obj, name, t, sp, H5P_DEFAULT, H5P_DEFAULT);
    int ok = a >= 0 && H5Awrite(a, t, v) >= 0;
    if (a >= 0)
        H5Aclose(a);
    H5Sclose(sp);
    H5Tclose(t);
    return ok;
}

static int attr_num(hid_t obj, const char *name, hid_t type, const void *v)
{
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(obj, name, type, sp, H5P_DEFAULT, H5P_DEFAULT);
    int ok = a >= 0 && H5Awrite(a, type, v) >= 0;
    if (a >= 0)
        H5Aclose(a);
    H5Sclose(sp);
    return ok;
}

static int attr_u32(hid_t o, const char *n, uint32_t v) { return attr_num(o, n, H5T_NATIVE_UINT32, &v); }
static int attr_u64(hid_t o, const char *n, uint64_t v) { return attr_num(o, n, H5T_NATIVE_UINT64, &v); }
static int attr_f64(hid_t o, const char *n, double v) { return attr_num(o, n, H5T_NATIVE_DOUBLE, &v); }

static int write_ds(hid_t g, const char *name, hid_t mem_type, hid_t file_type, int rank, const hsize_t *dims,
                    const void *data)
{
    hid_t sp = H5Screate_simple(rank, dims, NULL);
    hid_t d = H5Dcreate2(g, name, file_type, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    int ok = d >= 0 && H5Dwrite(d, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) >= 0;
    if (d >= 0)
        H5Dclose(d);
    H5Sclose(sp);
    return ok;
}

static nb_status save_into(hid_t f, const nm_checkpoint *ck)
{
    const nm_config *c = &ck->config;
    int ok = 1;
    char when[32];
    time_t now = time(NULL);
    struct tm tmv;
    gmtime_r(&now, &tmv);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tmv);
    char ver[32];
    snprintf(ver, sizeof ver, "%d.%d.%d", NB_VERSION_MAJOR, NB_VERSION_MINOR, NB_VERSION_PATCH);
    ok &= attr_str(f, "format", FORMAT) && attr_u32(f, "format_version", FORMAT_VERSION) &&
          attr_str(f, "noble_version", ver) && attr_str(f, "created", when);

    hid_t g = H5Gcreate2(f, "config", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    ok &= g >= 0 && attr_u32(g, "in_channels", c->in_channels) && attr_u32(g, "out_channels", c->out_channels) &&
          attr_u32(g, "width", c->width) && attr_u32(g, "blocks", c->blocks) && attr_u32(g, "modes", c->modes) &&
          attr_u32(g, "length", c->length) && attr_u32(g, "lifting_channels", c->lifting_channels) &&
          attr_u32(g, "projection_channels", c->projection_channels) &&
          attr_u32(g, "mlp_channels", c->mlp_channels) && attr_u32(g, "grid", c->grid) &&
          attr_u32(g, "last_block_activation", c->last_block_activation) && attr_str(g, "preset", c->preset);
    if (g >= 0)
        H5Gclose(g);

    uint32_t nt = nm_param_table(c, NULL, 0);
    nm_param *t = calloc(nt, sizeof *t);
    if (!t)
        return nb_error(NB_ERR_OUT_OF_MEMORY, "out of host memory");
    nm_param_table(c, t, nt);
    g = H5Gcreate2(f, "params", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    ok &= g >= 0;
    for (uint32_t i = 0; ok && i < nt; i++) {
        hsize_t dims[5];
        int rank = (int)t[i].rank;
        for (int k = 0; k < rank; k++)
            dims[k] = t[i].shape[k];
        if (t[i].complex)
            dims[rank++] = 2;
        ok &= write_ds(g, t[i].name, H5T_NATIVE_FLOAT, H5T_IEEE_F32LE, rank, dims, ck->params + t[i].offset);
        hid_t d = ok ? H5Dopen2(g, t[i].name, H5P_DEFAULT) : -1;
        ok &= d >= 0 && attr_u64(d, "offset", t[i].offset) && attr_u32(d, "complex", (uint32_t)t[i].complex);
        if (d >= 0)
            H5Dclose(d);
    }
    if (g >= 0)
        H5Gclose(g);
    free(t);

    const uint64_t P = nm_param_count(c);
    g = H5Gcreate2(f, "optimizer", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    ok &= g >= 0 && attr_str(g, "type", "AdamW") && attr_f64(g, "lr", ck->opt.lr) &&
          attr_f64(g, "beta1", ck->opt.beta1) && attr_f64(g, "beta2", ck->opt.beta2) &&
          attr_f64(g, "eps", ck->opt.eps) && attr_f64(g, "weight_decay", ck->opt.weight_decay) &&
          attr_u64(g, "step", ck->step);
    if (ok && ck->exp_avg && ck->exp_avg_sq) {
        hsize_t dims[1] = {P};
        ok &= write_ds(g, "exp_avg", H5T_NATIVE_FLOAT, H5T_IEEE_F32LE, 1, dims, ck->exp_avg) &&
              write_ds(g, "exp_avg_sq", H5T_NATIVE_FLOAT, H5T_IEEE_F32LE, 1, dims, ck->exp_avg_sq);
    }
    if (g >= 0)
        H5Gclose(g);

    g = H5Gcreate2(f, "train", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    hsize_t four[1] = {4};
    ok &= g >= 0 && attr_u64(g, "epoch", ck->epoch) && attr_u64(g, "step", ck->step) &&
          attr_f64(g, "best_metric", ck->best_metric) &&
          write_ds(g, "rng_state", H5T_NATIVE_UINT64, H5T_STD_U64LE, 1, four, ck->rng.s);
    if (g >= 0)
        H5Gclose(g);

    if (ok && ck->state) {
        /* The training script's state: a byte dataset (no attribute size limit). */
        hid_t tg = H5Gopen2(f, "train", H5P_DEFAULT);
        hsize_t n[1] = {strlen(ck->state) + 1};
        ok &= tg >= 0 && write_ds(tg, "script_state", H5T_NATIVE_CHAR, H5T_STD_I8LE, 1, n, ck->state);
        if (tg >= 0)
            H5Gclose(tg);
    }

    if (ok && ck->has_embedding) {
        const nm_embedding *e = &ck->embedding;
        g = H5Gcreate2(f, "embedding", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        ok &= g >= 0 && attr_str(g, "kind", "nerf") && attr_u32(g, "amp_freqs", e->amp_freqs) &&
              attr_u32(g, "feat_freqs", e->feat_freqs) && attr_u32(g, "n_codes", e->n_codes) &&
              attr_f64(g, "lo", e->lo) && attr_f64(g, "hi", e->hi) &&
              attr_f64(g, "current_scale", e->current_scale) && attr_str(g, "current_units", "pA") &&
              attr_f64(g, "voltage_scale", e->voltage_scale) && attr_str(g, "voltage_units", "mV");
        if (ok && e->n_codes > 0 && e->n_codes <= NM_MAX_CODES) {
            hsize_t dims[1] = {e->n_codes};
            ok &= write_ds(g, "scaler_min", H5T_NATIVE_DOUBLE, H5T_IEEE_F64LE, 1, dims, e->min) &&
                  write_ds(g, "scaler_max", H5T_NATIVE_DOUBLE, H5T_IEEE_F64LE, 1, dims, e->max);
            hid_t st = H5Tcopy(H5T_C_S1);
            H5Tset_size(st, 32);
            ok &= write_ds(g, "names", st, st, 1, dims, e->names);
            H5Tset_size(st, 16);
            ok &= write_ds(g, "units", st, st, 1, dims, e->units);
            H5Tclose(st);
        }
        if (g >= 0)
            H5Gclose(g);
    }
    return ok ? NB_OK : nb_error(NB_ERR_IO, "an HDF5 write failed");
}

nb_status nm_checkpoint_save(const char *path, const nm_checkpoint *ck)
{
    if (!path || !*path || !ck || !ck->params)
        return nb_error(NB_ERR_INVALID_ARGUMENT, "nm_checkpoint_save: no path or no parameters");
    nb_status s = nm_config_check(&ck->config);
    if (s)
        return s;
    const uint64_t P = nm_param_count(&ck->config);
    for (uint64_t i = 0; i < P; i++)
        if (!isfinite(ck->params[i]))
            return nb_error(NB_ERR_INVALID_ARGUMENT, "not saving %s: parameter %llu is not finite", path,
                            (unsigned long long)i);
    quiet();
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    hid_t f = H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (f < 0)
        return nb_error(NB_ERR_IO, "cannot create %s (is the directory there and writable?)", tmp);
    s = save_into(f, ck);
    if (H5Fclose(f) < 0 && !s)
        s = nb_error(NB_ERR_IO, "closing %s failed", tmp);
    if (!s && rename(tmp, path) != 0)
        s = nb_error(NB_ERR_IO, "cannot rename %s to %s", tmp, path);
    if (s) {
        char keep[2048];
        snprintf(keep, sizeof keep, "%s", nb_last_error());
        unlink(tmp);
        return nb_error(s, "saving checkpoint %s: %s", path, keep);
    }
    return NB_OK;
}

/* ------------------------------------------------------------------ load */

static int read_attr(hid_t obj, const char *name, hid_t type, void *v)
{
    if (H5Aexists(obj, name) <= 0)
        return 0;
    hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
    int ok = a >= 0 && H5Aread(a, type, v) >= 0;
    if (a >= 0)
        H5Aclose(a);
    return ok;
}

static int read_attr_str(hid_t obj, const char *name, char *out, size_t cap)
{
    out[0] = 0;
    if (H5Aexists(obj, name) <= 0)
        return 0;
    hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
    if (a < 0)
        return 0;
    hid_t ft = H5Aget_type(a);
    int ok = 0;
    if (H5Tget_class(ft) == H5T_STRING && !H5Tis_variable_str(ft)) {
        size_t n = H5Tget_size(ft);
        char *buf = calloc(n + 1, 1);
        hid_t mt = H5Tcopy(H5T_C_S1);
        H5Tset_size(mt, n + 1);
        if (buf && H5Aread(a, mt, buf) >= 0) {
            snprintf(out, cap, "%s", buf);
            ok = 1;
        }
        H5Tclose(mt);
        free(buf);
    } else if (H5Tget_class(ft) == H5T_STRING) { /* variable-length, as h5py writes str */
        char *v = NULL;
        hid_t mt = H5Tcopy(H5T_C_S1);
        H5Tset_size(mt, H5T_VARIABLE);
        if (H5Aread(a, mt, &v) >= 0 && v) {
            snprintf(out, cap, "%s", v);
            ok = 1;
            H5free_memory(v);
        }
        H5Tclose(mt);
    }
    H5Tclose(ft);
    H5Aclose(a);
    return ok;
}

/* Reads a float dataset whose shape must be exactly dims. */
static nb_status read_ds(hid_t g, const char *path, const char *name, int rank, const hsize_t *dims, hid_t mt,
                         void *out)
{
    if (H5Lexists(g, name, H5P_DEFAULT) <= 0)
        return nb_error(NB_ERR_INVALID_ARGUMENT, "%s: missing dataset '%s'", path, name);
    hid_t d = H5Dopen2(g, name, H5P_DEFAULT);
    if (d < 0)
        return nb_error(NB_ERR_INVALID_ARGUMENT, "%s: cannot open dataset '%s'", path, name);
    hid_t sp = H5Dget_space(d);
    int r = H5Sget_simple_extent_ndims(sp);
    hsize_t got[8] = {0};
    if (r > 0 && r <= 8)
        H5Sget_simple_extent_dims(sp, got, NULL);
    H5Sclose(sp);
    int same = r == rank;
    for (int k = 0; same && k < rank; k++)
        same = got[k] == dims[k];
    if (!same) {
        char want[96] = "", have[96] = "";
        size_t a = 0, b = 0;
        for (int k = 0; k < rank; k++)
            a += (size_t)snprintf(want + a, sizeof want - a, "%s%llu", k ? ", " : "", (unsigned long long)dims[k]);
        for (int k = 0; k < r && k < 8; k++)
            b += (size_t)snprintf(have + b, sizeof have - b, "%s%llu", k ? ", " : "", (unsigned long long)got[k]);
        H5Dclose(d);
        return nb_error(NB_ERR_INVALID_ARGUMENT, "%s: dataset '%s' has shape (%s), expected (%s)", path, name, have,
                        want);
    }
    herr_t e = H5Dread(d, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, out);
    H5Dclose(d);
    return e < 0 ? nb_error(NB_ERR_IO, "%s: reading '%s' failed", path, name) : NB_OK;
}

static nb_status config_mismatch(const char *path, const nm_config *a, const nm_config *b)
{
#define CMP(f)                                                                                     \
    if (a->f != b->f)                                                                              \
        return nb_error(NB_ERR_INVALID_ARGUMENT, "%s holds a model with " #f " = %u, expected %u (another configuration)", \
                        path, a->f, b->f);
    CMP(in_channels)
    CMP(out_channels)
    CMP(width)
    CMP(blocks)
    CMP(modes)
    CMP(lifting_channels)
    CMP(projection_channels)
    CMP(mlp_channels)
    CMP(grid)
    CMP(last_block_activation)
#undef CMP
    return NB_OK;
}

void nm_checkpoint_free(nm_checkpoint *ck)
{
    if (!ck)
        return;
    free(ck->params);
    free(ck->exp_avg);
    free(ck->exp_avg_sq);
    free(ck->state);
    ck->params = ck->exp_avg = ck->exp_avg_sq = NULL;
    ck->state = NULL;
}

static nb_status load_from(hid_t f, const char *path, const nm_config *expect, nm_checkpoint *ck)
{
    char fmt[64];
    uint32_t ver = 0;
    if (!read_attr_str(f, "format", fmt, sizeof fmt) || strcmp(fmt, FORMAT) != 0)
        return nb_error(NB_ERR_INVALID_ARGUMENT, "%s is not a noble checkpoint (no format = \"%s\" attribute)", path,
                        FORMAT);
    if (!read_attr(f, "format_version", H5T_NATIVE_UINT32, &ver) || ver != FORMAT_VERSION)
        return nb_error(NB_ERR_INVALID_ARGUMENT, "%s: checkpoint format version %u, this noble reads %d", path, ver,
                        FORMAT_VERSION);
    if (H5Lexists(f, "config", H5P_DEFAULT) <= 0)
        return nb_error(NB_ERR_INVALID_ARGUMENT, "%s: missing group /config", path);
    hid_t g = H5Gopen2(f, "config", H5P_DEFAULT);
    nm_config *c = &ck->config;
    struct {
        const char *name;
        uint32_t *v;
    } fields[] = {{"in_channels", &c->in_channels},
                  {"out_channels", &c->out_channels},
                  {"width", &c->width},
                  {"blocks", &c->blocks},
                  {"modes", &c->modes},
                  {"length", &c->length},
                  {"lifting_channels", &c->lifting_channels},
                  {"projection_channels", &c->projection_channels},
                  {"mlp_channels", &c->mlp_channels},
                  {"grid", &c->grid},
                  {"last_block_activation", &c->last_block_activation}};
    for (size_t i = 0; i < sizeof fields / sizeof *fields; i++)
        if (!read_attr(g, fields[i].name, H5T_NATIVE_UINT32, fields[i].v)) {
            H5Gclose(g);
            return nb_error(NB_ERR_INVALID_ARGUMENT, "%s: /config lacks the attribute '%s'", path, fields[i].name);
        }
    read_attr_str(g, "preset", c->preset, sizeof c->preset);
    H5Gclose(g);
    nb_status s = nm_config_check(c);
    if (s) {
        char keep[1024];
        snprintf(keep, sizeof keep, "%s", nb_last_error());
        return nb_error(s, "%s: %s", path, keep);
    }
    if (expect && (s = config_mismatch(path, c, expect)))
        return s;

    const uint64_t P = nm_param_count(c);
    uint32_t nt = nm_param_table(c, NULL, 0);
    nm_param *t = calloc(nt, sizeof *t);
    ck->params = malloc(P * sizeof *ck->params);
    if (!t || !ck->params) {
        free(t);
        return nb_error(NB_ERR_OUT_OF_MEMORY, "out of host memory");
    }
    nm_param_table(c, t, nt);
    if (H5Lexists(f, "params", H5P_DEFAULT) <= 0) {
        free(t);
        return nb_error(NB_ERR_INVALID_ARGUMENT, "%s: missing group /params", path);
    }
    g = H5Gopen2(f, "params", H5P_DEFAULT);
    for (uint32_t i = 0; i < nt && !s; i++) {
        hsize_t dims[5];
        int rank = (int)t[i].rank;
        for (int k = 0; k < rank; k++)
            dims[k] = t[i].shape[k];
        if (t[i].complex)
            dims[rank++] = 2;
        char where[96];
        snprintf(where, sizeof where, "%s /params", path);
        s = read_ds(g, where, t[i].name, rank, dims, H5T_NATIVE_FLOAT, ck->params + t[i].offset);
    }
    H5Gclose(g);
    free(t);
    if (s)
        return s;
    for (uint64_t i = 0; i < P; i++)
        if (!isfinite(ck->params[i]))
            return nb_error(NB_ERR_INVALID_ARGUMENT, "%s: parameter %llu is not finite", path, (unsigned long long)i);

    nm_adamw_default(&ck->opt);
    if (H5Lexists(f, "optimizer", H5P_DEFAULT) > 0) {
        g = H5Gopen2(f, "optimizer", H5P_DEFAULT);
        read_attr(g, "lr", H5T_NATIVE_DOUBLE, &ck->opt.lr);
        read_attr(g, "beta1", H5T_NATIVE_DOUBLE, &ck->opt.beta1);
        read_attr(g, "beta2", H5T_NATIVE_DOUBLE, &ck->opt.beta2);
        read_attr(g, "eps", H5T_NATIVE_DOUBLE, &ck->opt.eps);
        read_attr(g, "weight_decay", H5T_NATIVE_DOUBLE, &ck->opt.weight_decay);
        read_attr(g, "step", H5T_NATIVE_UINT64, &ck->step);
        if (H5Lexists(g, "exp_avg", H5P_DEFAULT) > 0) {
            hsize_t dims[1] = {P};
            char where[96];
            snprintf(where, sizeof where, "%s /optimizer", path);
            ck->exp_avg = malloc(P * 4);
            ck->exp_avg_sq = malloc(P * 4);
            if (!ck->exp_avg || !ck->exp_avg_sq)
                s = nb_error(NB_ERR_OUT_OF_MEMORY, "out of host memory");
            if (!s)
                s = read_ds(g, where, "exp_avg", 1, dims, H5T_NATIVE_FLOAT, ck->exp_avg);
            if (!s)
                s = read_ds(g, where, "exp_avg_sq", 1, dims, H5T_NATIVE_FLOAT, ck->exp_avg_sq);
        }
        H5Gclose(g);
        if (s)
            return s;
    }
    if (H5Lexists(f, "train", H5P_DEFAULT) > 0) {
        g = H5Gopen2(f, "train", H5P_DEFAULT);
        read_attr(g, "epoch", H5T_NATIVE_UINT64, &ck->epoch);
        read_attr(g, "step", H5T_NATIVE_UINT64, &ck->step);
        read_attr(g, "best_metric", H5T_NATIVE_DOUBLE, &ck->best_metric);
        hsize_t four[1] = {4};
        if (H5Lexists(g, "rng_state", H5P_DEFAULT) > 0)
            s = read_ds(g, path, "rng_state", 1, four, H5T_NATIVE_UINT64, ck->rng.s);
        H5Gclose(g);
        if (s)
            return s;
    }
    if (H5Lexists(f, "train", H5P_DEFAULT) > 0) {
        g = H5Gopen2(f, "train", H5P_DEFAULT);
        if (H5Lexists(g, "script_state", H5P_DEFAULT) > 0) {
            hid_t d = H5Dopen2(g, "script_state", H5P_DEFAULT);
            hid_t sp = d >= 0 ? H5Dget_space(d) : -1;
            hssize_t n = sp >= 0 ? H5Sget_simple_extent_npoints(sp) : -1;
            if (sp >= 0)
                H5Sclose(sp);
            ck->state = n > 0 ? calloc((size_t)n + 1, 1) : NULL;
            if (!ck->state || H5Dread(d, H5T_NATIVE_CHAR, H5S_ALL, H5S_ALL, H5P_DEFAULT, ck->state) < 0)
                s = nb_error(NB_ERR_INVALID_ARGUMENT, "%s: cannot read /train/script_state", path);
            if (d >= 0)
                H5Dclose(d);
        }
        H5Gclose(g);
        if (s)
            return s;
    }
    if (H5Lexists(f, "embedding", H5P_DEFAULT) > 0) {
        nm_embedding *e = &ck->embedding;
        g = H5Gopen2(f, "embedding", H5P_DEFAULT);
        int ok = read_attr(g, "amp_freqs", H5T_NATIVE_UINT32, &e->amp_freqs) &&
                 read_attr(g, "feat_freqs", H5T_NATIVE_UINT32, &e->feat_freqs) &&
                 read_attr(g, "n_codes", H5T_NATIVE_UINT32, &e->n_codes) &&
                 read_attr(g, "lo", H5T_NATIVE_DOUBLE, &e->lo) && read_attr(g, "hi", H5T_NATIVE_DOUBLE, &e->hi) &&
                 read_attr(g, "current_scale", H5T_NATIVE_DOUBLE, &e->current_scale) &&
                 read_attr(g, "voltage_scale", H5T_NATIVE_DOUBLE, &e->voltage_scale);
        if (!ok)
            s = nb_error(NB_ERR_INVALID_ARGUMENT, "%s: /embedding lacks one of its attributes (amp_freqs, feat_freqs, "
                                                  "n_codes, lo, hi, current_scale, voltage_scale)", path);
        else if (e->n_codes == 0 || e->n_codes > NM_MAX_CODES)
            s = nb_error(NB_ERR_INVALID_ARGUMENT, "%s: %u embedding codes, 1 to %d", path, e->n_codes, NM_MAX_CODES);
        else {
            hsize_t dims[1] = {e->n_codes};
            char where[600];
            snprintf(where, sizeof where, "%s /embedding", path);
            s = read_ds(g, where, "scaler_min", 1, dims, H5T_NATIVE_DOUBLE, e->min);
            if (!s)
                s = read_ds(g, where, "scaler_max", 1, dims, H5T_NATIVE_DOUBLE, e->max);
            hid_t st = H5Tcopy(H5T_C_S1);
            H5Tset_size(st, 32);
            if (!s)
                s = read_ds(g, where, "names", 1, dims, st, e->names);
            H5Tset_size(st, 16);
            if (!s)
                s = read_ds(g, where, "units", 1, dims, st, e->units);
            H5Tclose(st);
            if (!s && (s = nm_embedding_check(e))) {
                char why[512];
                snprintf(why, sizeof why, "%s", nb_last_error());
                s = nb_error(s, "%s: %s", path, why);
            }
            if (!s && nm_embedding_channels(e) != ck->config.in_channels)
                s = nb_error(NB_ERR_INVALID_ARGUMENT, "%s: the embedding makes %u channels, the model takes %u", path,
                             nm_embedding_channels(e), ck->config.in_channels);
        }
        H5Gclose(g);
        ck->has_embedding = !s;
    }
    return s;
}

/* Opens an HDF5 file for reading, naming what is wrong when it cannot. */
static nb_status open_readonly(const char *path, const char *what, hid_t *f)
{
    quiet();
    if (access(path, R_OK) != 0)
        return nb_error(NB_ERR_IO, "cannot read %s%s", what, path);
    if (H5Fis_hdf5(path) <= 0)
        return nb_error(NB_ERR_INVALID_ARGUMENT, "%s is not an HDF5 file", path);
    *f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (*f < 0)
        return nb_error(NB_ERR_IO, "cannot open %s", path);
    return NB_OK;
}

nb_status nm_checkpoint_load(const char *path, const nm_config *expect, nm_checkpoint *ck)
{
    if (!path || !ck)
        return nb_error(NB_ERR_INVALID_ARGUMENT, "nm_checkpoint_load: NULL argument");
    memset(ck, 0, sizeof *ck);
    hid_t f;
    nb_status s = open_readonly(path, "checkpoint ", &f);
    if (s)
        return s;
    s = load_from(f, path, expect, ck);
    H5Fclose(f);
    if (s)
        nm_checkpoint_free(ck);
    return s;
}

/* ---------------------------------------------------------------- arrays */

nb_status nm_array_load(const char *path, const char *name, float **data, uint32_t *rank, uint64_t dims[4])
{
    *data = NULL;
    hid_t f;
    nb_status s = open_readonly(path, "", &f);
    if (s)
        return s;
    if (H5Lexists(f, name, H5P_DEFAULT) <= 0) {
        s = nb_error(NB_ERR_INVALID_ARGUMENT, "%s: no dataset '%s'", path, name);
    } else {
        hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
        hid_t sp = H5Dget_space(d);
        int r = H5Sget_simple_extent_ndims(sp);
        hsize_t got[8] = {0};
        if (r < 1 || r > 4) {
            s = nb_error(NB_ERR_INVALID_ARGUMENT, "%s: dataset '%s' has rank %d (1 to 4)", path, name, r);
        } else {
            H5Sget_simple_extent_dims(sp, got, NULL);
            uint64_t n = 1;
            for (int k = 0; k < r; k++) {
                dims[k] = got[k];
                n *= got[k];
            }
            *rank = (uint32_t)r;
            *data = malloc((n ? n : 1) * sizeof **data);
            if (!*data)
                s = nb_error(NB_ERR_OUT_OF_MEMORY, "out of host memory reading %s", name);
            else if (H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, *data) < 0)
                s = nb_error(NB_ERR_IO, "%s: reading '%s' failed", path, name);
            for (uint64_t i = 0; !s && i < n; i++)
                if (!isfinite((*data)[i]))
                    s = nb_error(NB_ERR_INVALID_ARGUMENT, "%s: '%s' holds a value that is not finite (element %llu)",
                                 path, name, (unsigned long long)i);
        }
        H5Sclose(sp);
        H5Dclose(d);
    }
    H5Fclose(f);
    if (s) {
        free(*data);
        *data = NULL;
    }
    return s;
}

nb_status nm_array_save(const char *path, const char *name, const float *data, uint32_t rank, const uint64_t *dims,
                        const char *units)
{
    if (!path || !name || !data || rank < 1 || rank > 4)
        return nb_error(NB_ERR_INVALID_ARGUMENT, "nm_array_save: bad arguments");
    quiet();
    /* Into a copy, renamed over the original when complete. */
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    if (access(path, F_OK) == 0) {
        FILE *in = fopen(path, "rb"), *out = fopen(tmp, "wb");
        int ok = in && out;
        char buf[65536];
        size_t n;
        while (ok && (n = fread(buf, 1, sizeof buf, in)) > 0)
            ok = fwrite(buf, 1, n, out) == n;
        if (in)
            fclose(in);
        if (out && fclose(out) != 0)
            ok = 0;
        if (!ok) {
            unlink(tmp);
            return nb_error(NB_ERR_IO, "cannot copy %s to %s", path, tmp);
        }
    }
    hid_t f = access(tmp, F_OK) == 0 ? H5Fopen(tmp, H5F_ACC_RDWR, H5P_DEFAULT)
                                     : H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (f < 0) {
        unlink(tmp);
        return nb_error(NB_ERR_IO, "cannot write %s (is the directory there and writable?)", path);
    }
    if (H5Lexists(f, name, H5P_DEFAULT) > 0)
        H5Ldelete(f, name, H5P_DEFAULT);
    hsize_t hd[4];
    for (uint32_t k = 0; k < rank; k++)
        hd[k] = dims[k];
    int ok = write_ds(f, name, H5T_NATIVE_FLOAT, H5T_IEEE_F32LE, (int)rank, hd, data);
    if (ok && units) {
        hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
        ok = d >= 0 && attr_str(d, "units", units);
        if (d >= 0)
            H5Dclose(d);
    }
    ok = H5Fclose(f) >= 0 && ok;
    if (!ok || rename(tmp, path) != 0) {
        unlink(tmp);
        return nb_error(NB_ERR_IO, "writing '%s' to %s failed", name, path);
    }
    return NB_OK;
}
