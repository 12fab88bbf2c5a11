/* store.c - a streaming, appendable HDF5 writer (docs/lua-api.md, "Stores"):
 * datasets whose first dimension grows by appends, written chunk by chunk
 * through a bounded chunk cache, so a population far larger than memory
 * goes to disk at a constant footprint. Like checkpoints, the file is
 * written as PATH.tmp.PID and renamed to PATH only when finished. */
#include "nm_models.h"

#include <errno.h>
#include <fcntl.h>
#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CHUNK_BYTES (1u << 20) /* the target chunk: about 1 MiB of rows */
#define CACHE_SLOTS 521        /* a prime, well above the chunks a cache holds */

typedef struct store_ds {
    char *name;        /* normalised: no leading, trailing or doubled '/' */
    hid_t id;          /* kept open: its chunk cache holds the chunk being filled */
    int int32;         /* 0 float32, 1 int32 */
    uint32_t rank;     /* of a row */
    uint64_t row_dims[3];
    uint64_t row_elems;
    uint64_t rows;     /* appended so far */
} store_ds;

struct nm_store {
    char *path, *tmp;
    hid_t file;
    store_ds *ds;
    uint32_t n, cap;
    int failed; /* an HDF5 write failed: the file cannot be trusted, finish refuses */
};

/* HDF5 prints an error stack to stderr by default; the library must not. */
static void quiet(void) { H5Eset_auto2(H5E_DEFAULT, NULL, NULL); }

static char *dup_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

/* The directory part of path ("." when there is none). */
static void dir_of(const char *path, char *out, size_t cap)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        snprintf(out, cap, ".");
    else if (slash == path)
        snprintf(out, cap, "/");
    else
        snprintf(out, cap, "%.*s", (int)(slash - path), path);
}

nb_status nm_store_create(const char *path, nm_store **out)
{
    if (!out)
        return nb_error(NB_ERR_INVALID_ARGUMENT, "nm_store_create: out is NULL");
    *out = NULL;
    if (!path || !*path)
        return nb_error(NB_ERR_INVALID_ARGUMENT, "nm_store_create: no path");
    if (path[strlen(path) - 1] == '/')
        return nb_error(NB_ERR_INVALID_ARGUMENT, "store %s: the path names a directory, not a file", path);
    quiet();
    char dir[4096];
    dir_of(path, dir, sizeof dir);
    if (access(dir, F_OK) != 0)
        return nb_error(NB_ERR_IO, "store %s: the directory %s does not exist", path, dir);
    if (access(dir, W_OK | X_OK) != 0)
        return nb_error(NB_ERR_IO, "store %s: the directory %s is not writable", path, dir);

    nm_store *s = calloc(1, sizeof *s);
    size_t tn = strlen(path) + 32;
    if (s) {
        s->path = dup_str(path);
        s->tmp = malloc(tn);
    }
    if (!s || !s->path || !s->tmp) {
        if (s) {
            free(s->path);
            free(s->tmp);
        }
        free(s);
        return nb_error(NB_ERR_OUT_OF_MEMORY, "out of host memory");
    }
    snprintf(s->tmp, tn, "%s.tmp.%ld", path, (long)getpid());
    if (access(s->tmp, F_OK) == 0) {
        nb_status e = nb_error(NB_ERR_IO,
                               "store %s: %s already exists (another store of this process is writing %s, or a "
                               "leftover of a crash: remove it)",
                               path, s->tmp, path);
        free(s->path);
        free(s->tmp);
        free(s);
        return e;
    }
    /* H5F_CLOSE_STRONG: closing the file closes whatever is still open in it. */
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    H5Pset_fclose_degree(fapl, H5F_CLOSE_STRONG);
    s->file = H5Fcreate(s->tmp, H5F_ACC_EXCL, H5P_DEFAULT, fapl);
    H5Pclose(fapl);
    if (s->file < 0) {
        nb_status e = nb_error(NB_ERR_IO, "store %s: cannot create %s", path, s->tmp);
        unlink(s->tmp);
        free(s->path);
        free(s->tmp);
        free(s);
        return e;
    }
    /* complete = 0 until nm_store_finish sets it, as `noble datagen` does. */
    int64_t zero = 0;
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(s->file, "complete", H5T_STD_I64LE, sp, H5P_DEFAULT, H5P_DEFAULT);
    int ok = a >= 0 && H5Awrite(a, H5T_NATIVE_INT64, &zero) >= 0;
    if (a >= 0)
        H5Aclose(a);
    H5Sclose(sp);
    if (!ok) {
        nb_status e = nb_error(NB_ERR_IO, "store %s: cannot write to %s", path, s->tmp);
        nm_store_abort(s);
        return e;
    }
    *out = s;
    return NB_OK;
}

/* ---------------------------------------------------------------- names */

/* Copies name without leading, trailing or doubled '/' into out; 0 when
 * nothing is left or it does not fit. */
static int normalise(const char *name, char *out, size_t cap)
{
    size_t k = 0;
    for (const char *p = name; *p; p++) {
        if (*p == '/' && (k == 0 || out[k - 1] == '/'))
            continue;
        if (k + 1 >= cap)
            return 0;
        out[k++] = *p;
    }
    while (k > 0 && out[k - 1] == '/')
        k--;
    out[k] = 0;
    return k > 0;
}

static store_ds *find(nm_store *s, const char *norm)
{
    for (uint32_t i = 0; i < s->n; i++)
        if (strcmp(s->ds[i].name, norm) == 0)
            return &s->ds[i];
    return NULL;
}

/* Walks the groups above norm (and norm itself): each that exists must be
 * a group, except norm, which is reported in *kind (-1 absent, 1 a group,
 * 0 anything else). */
static nb_status walk(nm_store *s, const char *norm, int *kind)
{
    char part[1024];
    *kind = -1;
    for (const char *p = norm;; p++) {
        if (*p != '/' && *p != 0)
            continue;
        size_t n = (size_t)(p - norm);
        snprintf(part, sizeof part, "%.*s", (int)n, norm);
        htri_t e = H5Lexists(s->file, part, H5P_DEFAULT);
        if (e < 0)
            return nb_error(NB_ERR_IO, "store %s: cannot look up '%s'", s->path, part);
        if (e == 0)
            return NB_OK;
        /* H5Iget_type of the opened object: H5Oget_info changed across HDF5 versions. */
        hid_t o = H5Oopen(s->file, part, H5P_DEFAULT);
        if (o < 0)
            return nb_error(NB_ERR_IO, "store %s: cannot open '%s'", s->path, part);
        int group = H5Iget_type(o) == H5I_GROUP;
        H5Oclose(o);
        if (*p == 0) {
            *kind = group;
            return NB_OK;
        }
        if (!group)
            return nb_error(NB_ERR_INVALID_ARGUMENT,
                            "store %s: '%s' is a dataset, not a group, so '%s' cannot be under it", s->path, part,
                            norm);
    }
}

/* ------------------------------------------------------------- datasets */

static nb_status make_dataset(nm_store *s, const char *name, int int32, uint32_t rank, const uint64_t *row_dims,
                              const char *units)
{
    if (!s || !name)
        return nb_error(NB_ERR_INVALID_ARGUMENT, "nm_store_dataset: NULL store or name");
    char norm[1024];
    if (!normalise(name, norm, sizeof norm))
        return nb_error(NB_ERR_INVALID_ARGUMENT, "store %s: '%s' is not a dataset name", s->path, name);
    if (rank > 3)
        return nb_error(NB_ERR_INVALID_ARGUMENT, "store %s: dataset '%s': rows of rank %u (0 to 3)", s->path, norm,
                        rank);
    if (rank > 0 && !row_dims)
        return nb_error(NB_ERR_INVALID_ARGUMENT, "store %s: dataset '%s': no row dimensions", s->path, norm);
    uint64_t elems = 1;
    for (uint32_t k = 0; k < rank; k++) {
        if (row_dims[k] == 0 || row_dims[k] > (1ull << 32))
            return nb_error(NB_ERR_INVALID_ARGUMENT, "store %s: dataset '%s': row dimension %u is %llu (1 to 2^32)",
                            s->path, norm, k + 1, (unsigned long long)row_dims[k]);
        elems *= row_dims[k];
        if (elems > (1ull << 30)) /* HDF5 chunks are below 4 GiB, and a chunk holds a row */
            return nb_error(NB_ERR_INVALID_ARGUMENT, "store %s: dataset '%s': a row of more than 2^30 values", s->path,
                            norm);
    }
    if (find(s, norm))
        return nb_error(NB_ERR_INVALID_ARGUMENT, "store %s: dataset '%s' already exists", s->path, norm);
    int kind;
    nb_status st = walk(s, norm, &kind);
    if (st)
        return st;
    if (kind >= 0)
        return nb_error(NB_ERR_INVALID_ARGUMENT, "store %s: '%s' already exists (a %s)", s->path, norm,
                        kind == 1 ? "group" : "dataset");
    if (H5Zfilter_avail(H5Z_FILTER_DEFLATE) <= 0 || H5Zfilter_avail(H5Z_FILTER_SHUFFLE) <= 0)
        return nb_error(NB_ERR_UNSUPPORTED, "store %s: this HDF5 lacks the deflate or shuffle filter", s->path);
    if (s->n == s->cap) {
        uint32_t cap = s->cap ? 2 * s->cap : 8;
        store_ds *d = realloc(s->ds, cap * sizeof *d);
        if (!d)
            return nb_error(NB_ERR_OUT_OF_MEMORY, "out of host memory");
        s->ds = d;
        s->cap = cap;
    }
    store_ds *d = &s->ds[s->n];
    memset(d, 0, sizeof *d);
    d->name = dup_str(norm);
    if (!d->name)
        return nb_error(NB_ERR_OUT_OF_MEMORY, "out of host memory");
    d->int32 = int32;
    d->rank = rank;
    d->row_elems = elems;
    for (uint32_t k = 0; k < rank; k++)
        d->row_dims[k] = row_dims[k];

    const uint64_t row_bytes = 4 * elems;
    uint64_t chunk_rows = CHUNK_BYTES / row_bytes;
    if (chunk_rows < 1)
        chunk_rows = 1;
    hsize_t dims[4] = {0}, maxdims[4] = {H5S_UNLIMITED}, chunk[4] = {chunk_rows};
    for (uint32_t k = 0; k < rank; k++)
        dims[k + 1] = maxdims[k + 1] = chunk[k + 1] = row_dims[k];
    /* The cache holds two chunks: the one being filled and its successor
     * when an append straddles them; filled chunks leave first (w0 = 1).
     * Smaller than a chunk, HDF5 would reread and recompress it on every
     * partial append. */
    const size_t cache = (size_t)(2 * chunk_rows * row_bytes);

    hid_t sp = H5Screate_simple((int)rank + 1, dims, maxdims);
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE), dcpl = H5Pcreate(H5P_DATASET_CREATE),
          dapl = H5Pcreate(H5P_DATASET_ACCESS);
    int ok = sp >= 0 && lcpl >= 0 && dcpl >= 0 && dapl >= 0 && H5Pset_create_intermediate_group(lcpl, 1) >= 0 &&
             H5Pset_chunk(dcpl, (int)rank + 1, chunk) >= 0 && H5Pset_shuffle(dcpl) >= 0 &&
             H5Pset_deflate(dcpl, 4) >= 0 && H5Pset_chunk_cache(dapl, CACHE_SLOTS, cache, 1.0) >= 0;
    d->id = ok ? H5Dcreate2(s->file, norm, int32 ? H5T_STD_I32LE : H5T_IEEE_F32LE, sp, lcpl, dcpl, dapl) : -1;
    H5Pclose(lcpl);
    H5Pclose(dcpl);
    H5Pclose(dapl);
    if (sp >= 0)
        H5Sclose(sp);
    if (d->id < 0) {
        free(d->name);
        return nb_error(NB_ERR_IO, "store %s: cannot create dataset '%s'", s->path, norm);
    }
    s->n++;
    if (units && (st = nm_store_attr_string(s, norm, "units", units)))
        return st;
    return NB_OK;
}

nb_status nm_store_dataset(nm_store *s, const char *name, uint32_t rank, const uint64_t *row_dims, const char *units)
{
    return make_dataset(s, name, 0, rank, row_dims, units);
}

nb_status nm_store_dataset_int32(nm_store *s, const char *name, uint32_t rank, const uint64_t *row_dims,
                                 const char *units)
{
    return make_dataset(s, name, 1, rank, row_dims, units);
}

/* The dataset name of s, appended as int32 or not; names what is wrong. */
static nb_status lookup(nm_store *s, const char *name, int int32, store_ds **out)
{
    if (!s || !name)
        return nb_error(NB_ERR_INVALID_ARGUMENT, "nm_store: NULL store or name");
    char norm[1024];
    store_ds *d = normalise(name, norm, sizeof norm) ? find(s, norm) : NULL;
    if (!d)
        return nb_error(NB_ERR_INVALID_ARGUMENT, "store %s: no dataset '%s' (create it before appending)", s->path,
                        name);
    if (int32 >= 0 && d->int32 != int32)
        return nb_error(NB_ERR_INVALID_ARGUMENT, "store %s: dataset '%s' holds %s, not %s", s->path, d->name,
                        d->int32 ? "int32" : "float32", int32 ? "int32" : "float32");
    *out = d;
    return NB_OK;
}

static nb_status append(nm_store *s, const char *name, int int32, uint64_t rows, const void *data)
{
    store_ds *d;
    nb_status st = lookup(s, name, int32, &d);
    if (st)
        return st;
    if (s->failed)
        return nb_error(NB_ERR_IO, "store %s: an earlier write failed; abort the store", s->path);
    if (rows == 0)
        return NB_OK;
    if (!data)
        return nb_error(NB_ERR_INVALID_ARGUMENT, "store %s: dataset '%s': no data for %llu rows", s->path, d->name,
                        (unsigned long long)rows);
    if (rows > (1ull << 62) / d->row_elems || d->rows + rows > (1ull << 62) / d->row_elems)
        return nb_error(NB_ERR_INVALID_ARGUMENT, "store %s: dataset '%s': %llu rows are too many", s->path, d->name,
                        (unsigned long long)(d->rows + rows));
    hsize_t size[4] = {d->rows + rows}, start[4] = {d->rows}, count[4] = {rows};
    for (uint32_t k = 0; k < d->rank; k++) {
        size[k + 1] = count[k + 1] = d->row_dims[k];
        start[k + 1] = 0;
    }
    const int r = (int)d->rank + 1;
    int ok = H5Dset_extent(d->id, size) >= 0;
    hid_t fs = ok ? H5Dget_space(d->id) : -1;
    hid_t ms = ok ? H5Screate_simple(r, count, NULL) : -1;
    ok = ok && fs >= 0 && ms >= 0 && H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, count, NULL) >= 0 &&
         H5Dwrite(d->id, int32 ? H5T_NATIVE_INT32 : H5T_NATIVE_FLOAT, ms, fs, H5P_DEFAULT, data) >= 0;
    if (fs >= 0)
        H5Sclose(fs);
    if (ms >= 0)
        H5Sclose(ms);
    if (!ok) {
        s->failed = 1;
        return nb_error(NB_ERR_IO, "store %s: appending %llu rows to '%s' failed (is the disk full?)", s->path,
                        (unsigned long long)rows, d->name);
    }
    d->rows += rows;
    return NB_OK;
}

nb_status nm_store_append(nm_store *s, const char *name, uint64_t rows, const float *data)
{
    return append(s, name, 0, rows, data);
}

nb_status nm_store_append_int32(nm_store *s, const char *name, uint64_t rows, const int32_t *data)
{
    return append(s, name, 1, rows, data);
}

nb_status nm_store_shape(nm_store *s, const char *name, int *int32, uint32_t *rank, uint64_t row_dims[3],
                         uint64_t *rows)
{
    store_ds *d;
    nb_status st = lookup(s, name, -1, &d);
    if (st)
        return st;
    if (int32)
        *int32 = d->int32;
    if (rank)
        *rank = d->rank;
    if (row_dims)
        memcpy(row_dims, d->row_dims, sizeof d->row_dims);
    if (rows)
        *rows = d->rows;
    return NB_OK;
}

/* ----------------------------------------------------------- attributes */

/* Writes attribute name of obj ("" or "/" the root) from a dataspace and
 * a type, replacing one of that name. */
static nb_status put_attr(nm_store *s, const char *obj, const char *name, hid_t ftype, hid_t mtype, hid_t sp,
                          const void *v)
{
    if (!s || !name || !*name)
        return nb_error(NB_ERR_INVALID_ARGUMENT, "nm_store_attr: NULL store or no attribute name");
    char norm[1024] = "/";
    int root = !obj || !normalise(obj, norm, sizeof norm);
    if (root && strcmp(name, "complete") == 0)
        return nb_error(NB_ERR_INVALID_ARGUMENT, "store %s: the root attribute 'complete' is the store's own (set by "
                                                 "finishing)", s->path);
    if (!root && strlen(obj) >= sizeof norm - 1)
        return nb_error(NB_ERR_INVALID_ARGUMENT, "store %s: object name too long", s->path);
    if (!root) {
        int kind;
        nb_status st = walk(s, norm, &kind);
        if (st)
            return st;
        if (kind < 0)
            return nb_error(NB_ERR_INVALID_ARGUMENT, "store %s: no dataset or group '%s' for attribute '%s'", s->path,
                            norm, name);
    }
    hid_t o = root ? H5Oopen(s->file, "/", H5P_DEFAULT) : H5Oopen(s->file, norm, H5P_DEFAULT);
    if (o < 0)
        return nb_error(NB_ERR_IO, "store %s: cannot open '%s'", s->path, norm);
    int ok = 1;
    if (H5Aexists(o, name) > 0)
        ok = H5Adelete(o, name) >= 0;
    hid_t a = ok ? H5Acreate2(o, name, ftype, sp, H5P_DEFAULT, H5P_DEFAULT) : -1;
    ok = a >= 0 && H5Awrite(a, mtype, v) >= 0;
    if (a >= 0)
        H5Aclose(a);
    H5Oclose(o);
    return ok ? NB_OK
              : nb_error(NB_ERR_IO, "store %s: cannot write attribute '%s' of '%s'", s->path, name, root ? "/" : norm);
}

nb_status nm_store_attr_double(nm_store *s, const char *obj, const char *name, double v)
{
    hid_t sp = H5Screate(H5S_SCALAR);
    nb_status st = put_attr(s, obj, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, sp, &v);
    H5Sclose(sp);
    return st;
}

nb_status nm_store_attr_doubles(nm_store *s, const char *obj, const char *name, uint64_t n, const double *v)
{
    if (n == 0 || !v)
        return nb_error(NB_ERR_INVALID_ARGUMENT, "store %s: attribute '%s': no values", s ? s->path : "?",
                        name ? name : "?");
    hsize_t dims[1] = {n};
    hid_t sp = H5Screate_simple(1, dims, NULL);
    nb_status st = put_attr(s, obj, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, sp, v);
    H5Sclose(sp);
    return st;
}

/* Variable-length UTF-8, which h5py reads as str (a fixed-length string
 * comes back as bytes). */
nb_status nm_store_attr_string(nm_store *s, const char *obj, const char *name, const char *v)
{
    if (!v)
        return nb_error(NB_ERR_INVALID_ARGUMENT, "store: attribute '%s': NULL string", name ? name : "?");
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, H5T_VARIABLE);
    H5Tset_cset(t, H5T_CSET_UTF8);
    hid_t sp = H5Screate(H5S_SCALAR);
    nb_status st = put_attr(s, obj, name, t, t, sp, &v);
    H5Sclose(sp);
    H5Tclose(t);
    return st;
}

/* --------------------------------------------------------------- ending */

static void release(nm_store *s)
{
    for (uint32_t i = 0; i < s->n; i++)
        free(s->ds[i].name);
    free(s->ds);
    free(s->path);
    free(s->tmp);
    free(s);
}

static void close_all(nm_store *s)
{
    for (uint32_t i = 0; i < s->n; i++)
        if (s->ds[i].id >= 0) {
            H5Dclose(s->ds[i].id);
            s->ds[i].id = -1;
        }
}

void nm_store_abort(nm_store *s)
{
    if (!s)
        return;
    close_all(s);
    if (s->file >= 0)
        H5Fclose(s->file);
    unlink(s->tmp);
    release(s);
}

static int fsync_path(const char *path, int flags)
{
    int fd = open(path, flags);
    if (fd < 0)
        return -1;
    int r = fsync(fd);
    close(fd);
    return r;
}

nb_status nm_store_finish(nm_store *s)
{
    if (!s)
        return nb_error(NB_ERR_INVALID_ARGUMENT, "nm_store_finish: NULL store");
    nb_status st = NB_OK;
    if (s->failed)
        st = nb_error(NB_ERR_IO, "store %s: an earlier write failed; nothing was kept", s->path);
    /* Closing the datasets writes out the chunks their caches hold. */
    int ok = 1;
    for (uint32_t i = 0; i < s->n; i++) {
        ok &= H5Dclose(s->ds[i].id) >= 0;
        s->ds[i].id = -1;
    }
    if (!st && !ok)
        st = nb_error(NB_ERR_IO, "store %s: writing the last chunks failed (is the disk full?)", s->path);
    if (!st) {
        int64_t one = 1;
        hid_t a = H5Aopen(s->file, "complete", H5P_DEFAULT);
        ok = a >= 0 && H5Awrite(a, H5T_NATIVE_INT64, &one) >= 0;
        if (a >= 0)
            H5Aclose(a);
        if (!ok)
            st = nb_error(NB_ERR_IO, "store %s: cannot set 'complete'", s->path);
    }
    ok = H5Fclose(s->file) >= 0;
    s->file = -1;
    if (!st && !ok)
        st = nb_error(NB_ERR_IO, "store %s: closing %s failed (is the disk full?)", s->path, s->tmp);
    if (!st && fsync_path(s->tmp, O_RDONLY) != 0)
        st = nb_error(NB_ERR_IO, "store %s: fsync of %s failed: %s", s->path, s->tmp, strerror(errno));
    if (!st && rename(s->tmp, s->path) != 0)
        st = nb_error(NB_ERR_IO, "store %s: cannot rename %s to it: %s", s->path, s->tmp, strerror(errno));
    if (st) {
        nm_store_abort(s);
        return st;
    }
    /* The rename itself, made durable; its failure loses nothing already written. */
    char dir[4096];
    dir_of(s->path, dir, sizeof dir);
    fsync_path(dir, O_RDONLY | O_DIRECTORY);
    release(s);
    return NB_OK;
}

/* ---------------------------------------------------------------- joining */

/* Reads a string attribute (variable or fixed length) into a malloc'd copy;
 * NULL when absent or not a string. */
static char *read_string_attr(hid_t a)
{
    hid_t t = H5Aget_type(a);
    char *out = NULL;
    if (t >= 0 && H5Tget_class(t) == H5T_STRING) {
        if (H5Tis_variable_str(t) > 0) {
            hid_t mt = H5Tcopy(H5T_C_S1);
            H5Tset_size(mt, H5T_VARIABLE);
            H5Tset_cset(mt, H5Tget_cset(t));
            char *v = NULL;
            if (H5Aread(a, mt, &v) >= 0 && v) {
                out = dup_str(v);
                H5free_memory(v);
            }
            H5Tclose(mt);
        } else {
            size_t n = H5Tget_size(t);
            out = calloc(1, n + 1);
            if (out && H5Aread(a, t, out) < 0) {
                free(out);
                out = NULL;
            }
        }
    }
    if (t >= 0)
        H5Tclose(t);
    return out;
}

typedef struct join_op {
    nm_store *s;
    const char *part;
    nb_status st;
} join_op;

/* Root attributes of the part (but 'complete'): strings as strings, numbers
 * as float64 scalars or arrays, as nm_store writes them. */
static herr_t join_attr(hid_t loc, const char *name, const H5A_info_t *info, void *opv)
{
    (void)info;
    join_op *op = opv;
    if (strcmp(name, "complete") == 0)
        return 0;
    hid_t a = H5Aopen(loc, name, H5P_DEFAULT);
    if (a < 0) {
        op->st = nb_error(NB_ERR_IO, "store %s: cannot read attribute '%s' of %s", op->s->path, name, op->part);
        return -1;
    }
    hid_t t = H5Aget_type(a), sp = H5Aget_space(a);
    H5T_class_t cls = H5Tget_class(t);
    if (cls == H5T_STRING) {
        char *v = read_string_attr(a);
        op->st = v ? nm_store_attr_string(op->s, NULL, name, v)
                   : nb_error(NB_ERR_IO, "store %s: cannot read attribute '%s' of %s", op->s->path, name, op->part);
        free(v);
    } else if (cls == H5T_FLOAT || cls == H5T_INTEGER) {
        hssize_t n = H5Sget_simple_extent_npoints(sp);
        double *v = n > 0 ? malloc((size_t)n * sizeof *v) : NULL;
        if (!v || H5Aread(a, H5T_NATIVE_DOUBLE, v) < 0)
            op->st = nb_error(NB_ERR_IO, "store %s: cannot read attribute '%s' of %s", op->s->path, name, op->part);
        else if (H5Sget_simple_extent_type(sp) == H5S_SCALAR)
            op->st = nm_store_attr_double(op->s, NULL, name, v[0]);
        else
            op->st = nm_store_attr_doubles(op->s, NULL, name, (uint64_t)n, v);
        free(v);
    } else {
        op->st = nb_error(NB_ERR_IO, "store %s: attribute '%s' of %s is neither a string nor numbers", op->s->path,
                          name, op->part);
    }
    H5Sclose(sp);
    H5Tclose(t);
    H5Aclose(a);
    return op->st ? -1 : 0;
}

/* Appends one dataset of the part, in blocks of about 16 MiB. */
static nb_status join_dataset(nm_store *s, const char *part, hid_t d, const char *name)
{
    hid_t t = H5Dget_type(d), fs = H5Dget_space(d);
    int int32 = H5Tget_class(t) == H5T_INTEGER;
    H5Tclose(t);
    int nd = H5Sget_simple_extent_ndims(fs);
    hsize_t dims[4] = {0};
    if (nd < 1 || nd > 4 || H5Sget_simple_extent_dims(fs, dims, NULL) < 0) {
        H5Sclose(fs);
        return nb_error(NB_ERR_IO, "store %s: dataset '%s' of %s is not a store's dataset", s->path, name, part);
    }
    uint32_t rank = (uint32_t)nd - 1;
    uint64_t row_dims[3] = {0}, elems = 1;
    for (uint32_t k = 0; k < rank; k++) {
        row_dims[k] = dims[k + 1];
        elems *= dims[k + 1];
    }
    char norm[1024];
    nb_status st = NB_OK;
    if (!normalise(name, norm, sizeof norm) || !find(s, norm)) {
        char *units = NULL;
        if (H5Aexists(d, "units") > 0) {
            hid_t a = H5Aopen(d, "units", H5P_DEFAULT);
            units = read_string_attr(a);
            H5Aclose(a);
        }
        st = make_dataset(s, name, int32, rank, row_dims, units);
        free(units);
    } else {
        int i32;
        uint32_t r;
        uint64_t rd[3];
        st = nm_store_shape(s, name, &i32, &r, rd, NULL);
        if (!st && (i32 != int32 || r != rank || memcmp(rd, row_dims, sizeof rd) != 0))
            st = nb_error(NB_ERR_INVALID_ARGUMENT, "store %s: dataset '%s' of %s has another type or row shape",
                          s->path, name, part);
    }
    uint64_t block = elems > (4u << 20) ? 1 : (4u << 20) / elems;
    void *buf = st ? NULL : malloc((size_t)(block * elems * 4));
    if (!st && !buf)
        st = nb_error(NB_ERR_OUT_OF_MEMORY, "out of host memory");
    for (uint64_t at = 0; !st && at < dims[0]; at += block) {
        hsize_t start[4] = {at}, count[4] = {dims[0] - at < block ? dims[0] - at : block};
        for (uint32_t k = 0; k < rank; k++)
            count[k + 1] = dims[k + 1];
        hid_t ms = H5Screate_simple(nd, count, NULL);
        int ok = ms >= 0 && H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, count, NULL) >= 0 &&
                 H5Dread(d, int32 ? H5T_NATIVE_INT32 : H5T_NATIVE_FLOAT, ms, fs, H5P_DEFAULT, buf) >= 0;
        if (ms >= 0)
            H5Sclose(ms);
        st = ok ? append(s, name, int32, count[0], buf)
                : nb_error(NB_ERR_IO, "store %s: cannot read dataset '%s' of %s", s->path, name, part);
    }
    free(buf);
    H5Sclose(fs);
    return st;
}

static herr_t join_link(hid_t g, const char *name, const H5L_info_t *info, void *opv)
{
    (void)info;
    join_op *op = opv;
    hid_t o = H5Oopen(g, name, H5P_DEFAULT);
    if (o < 0) {
        op->st = nb_error(NB_ERR_IO, "store %s: cannot open '%s' of %s", op->s->path, name, op->part);
        return -1;
    }
    if (H5Iget_type(o) == H5I_DATASET)
        op->st = join_dataset(op->s, op->part, o, name);
    H5Oclose(o);
    return op->st ? -1 : 0;
}

nb_status nm_store_append_file(nm_store *s, const char *part, int copy_attrs)
{
    if (!s || !part)
        return nb_error(NB_ERR_INVALID_ARGUMENT, "nm_store_append_file: NULL store or path");
    quiet();
    hid_t f = H5Fopen(part, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0)
        return nb_error(NB_ERR_IO, "store %s: cannot open %s", s->path, part);
    int64_t complete = 0;
    hid_t a = H5Aexists(f, "complete") > 0 ? H5Aopen(f, "complete", H5P_DEFAULT) : -1;
    if (a >= 0) {
        if (H5Aread(a, H5T_NATIVE_INT64, &complete) < 0)
            complete = 0;
        H5Aclose(a);
    }
    join_op op = {s, part, NB_OK};
    if (complete != 1)
        op.st = nb_error(NB_ERR_IO, "store %s: %s is not a complete store (its 'complete' attribute is not 1)",
                         s->path, part);
    if (!op.st && copy_attrs) {
        hsize_t idx = 0;
        if (H5Aiterate2(f, H5_INDEX_NAME, H5_ITER_INC, &idx, join_attr, &op) < 0 && !op.st)
            op.st = nb_error(NB_ERR_IO, "store %s: cannot read the attributes of %s", s->path, part);
    }
    if (!op.st && H5Lvisit(f, H5_INDEX_NAME, H5_ITER_INC, join_link, &op) < 0 && !op.st)
        op.st = nb_error(NB_ERR_IO, "store %s: cannot read the objects of %s", s->path, part);
    H5Fclose(f);
    return op.st;
}
