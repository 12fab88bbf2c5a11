/* Stores (models/store.c): rows appended in pieces read back exactly with
 * the HDF5 C API (float32 and int32, row shapes (2, 4) and scalar, NaN
 * kept); attributes on the root, a group and a dataset; chunking and
 * compression really set; about 300 MB appended at a small, constant
 * resident memory; finish leaves exactly PATH, abort nothing; the errors
 * name the missing directory, the unknown dataset, and what else is wrong. */
#include "nb_test.h"
#include "nm_models.h"

#include <hdf5.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static int exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* The process's peak resident memory (VmHWM), kB; 0 when unknown. */
static long peak_rss_kb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = 0;
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "VmHWM:", 6) == 0)
            kb = strtol(line + 6, NULL, 10);
    if (f)
        fclose(f);
    return kb;
}

static int has(const char *msg, const char *part) { return strstr(msg, part) != NULL; }

static double attr_f64(hid_t o, const char *name)
{
    double v = -1;
    hid_t a = H5Aopen(o, name, H5P_DEFAULT);
    if (a >= 0) {
        H5Aread(a, H5T_NATIVE_DOUBLE, &v);
        H5Aclose(a);
    }
    return v;
}

/* A string attribute as the store writes it: variable-length UTF-8, as
 * h5py does (HDF5 converts no character set, hence the check). */
static void attr_text(hid_t o, const char *name, char *out, size_t cap)
{
    out[0] = 0;
    hid_t a = H5Aopen(o, name, H5P_DEFAULT);
    if (a < 0)
        return;
    hid_t ft = H5Aget_type(a);
    CHECK(H5Tis_variable_str(ft) > 0 && H5Tget_cset(ft) == H5T_CSET_UTF8, "'%s' is a UTF-8 string", name);
    H5Tclose(ft);
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, H5T_VARIABLE);
    H5Tset_cset(t, H5T_CSET_UTF8);
    char *v = NULL;
    if (H5Aread(a, t, &v) >= 0 && v) {
        snprintf(out, cap, "%s", v);
        H5free_memory(v);
    }
    H5Tclose(t);
    H5Aclose(a);
}

/* The shape of dataset name; returns its rank. */
static int shape(hid_t f, const char *name, hsize_t *dims, hsize_t *maxdims)
{
    hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
    if (d < 0)
        return -1;
    hid_t sp = H5Dget_space(d);
    int r = H5Sget_simple_extent_ndims(sp);
    H5Sget_simple_extent_dims(sp, dims, maxdims);
    H5Sclose(sp);
    H5Dclose(d);
    return r;
}

static void test_roundtrip(const char *dir)
{
    char path[512];
    snprintf(path, sizeof path, "%s/rt.h5", dir);
    nm_store *s = NULL;
    REQUIRE_OK(nm_store_create(path, &s));
    const uint64_t row[2] = {2, 4};
    CHECK_OK(nm_store_dataset(s, "traces/voltage", 2, row, "mV"));
    CHECK_OK(nm_store_dataset(s, "amplitude", 0, NULL, "pA"));
    CHECK_OK(nm_store_dataset_int32(s, "/traces//model/", 0, NULL, NULL)); /* normalised to traces/model */
    float a[8 * 8];
    for (int i = 0; i < 64; i++)
        a[i] = (float)(i * 0.37 - 5.0);
    CHECK_OK(nm_store_append(s, "traces/voltage", 3, a));
    CHECK_OK(nm_store_append(s, "/traces/voltage", 5, a + 24));
    CHECK_OK(nm_store_append(s, "traces/voltage", 0, NULL)); /* nothing, and fine */
    float amp[4] = {-110, 0, NAN, 270};
    CHECK_OK(nm_store_append(s, "amplitude", 1, amp));
    CHECK_OK(nm_store_append(s, "amplitude", 3, amp + 1));
    int32_t ids[5] = {0, 1, -7, 2147483647, 5};
    CHECK_OK(nm_store_append_int32(s, "traces/model", 5, ids));
    uint64_t rows = 0, dims[3];
    uint32_t rank = 9;
    int i32 = -1;
    CHECK_OK(nm_store_shape(s, "traces/voltage", &i32, &rank, dims, &rows));
    CHECK(rows == 8 && rank == 2 && dims[0] == 2 && dims[1] == 4 && i32 == 0, "shape: %llu rows, rank %u",
          (unsigned long long)rows, rank);
    CHECK_OK(nm_store_attr_double(s, "", "dt_ms", 0.025));
    CHECK_OK(nm_store_attr_double(s, "/", "dt_ms", 0.02)); /* replaces */
    CHECK_OK(nm_store_attr_string(s, NULL, "cell", "PVALB 689331391"));
    const double lims[3] = {-1.5, 0, 2.25};
    CHECK_OK(nm_store_attr_doubles(s, "traces", "window_ms", 3, lims));
    CHECK_OK(nm_store_attr_string(s, "traces/voltage", "note", "µ-volts? no: mV"));
    CHECK_OK(nm_store_finish(s));

    CHECK(exists(path), "finish leaves %s", path);
    CHECK(nbt_count_files(dir) == 1, "finish leaves exactly PATH, %d files in %s", nbt_count_files(dir), dir);

    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    CHECK(f >= 0, "reopen %s", path);
    if (f < 0)
        return;
    int64_t complete = 0;
    hid_t at = H5Aopen(f, "complete", H5P_DEFAULT);
    H5Aread(at, H5T_NATIVE_INT64, &complete);
    H5Aclose(at);
    CHECK(complete == 1, "complete = %lld", (long long)complete);
    CHECK(attr_f64(f, "dt_ms") == 0.02, "dt_ms replaced: %g", attr_f64(f, "dt_ms"));
    char text[128];
    attr_text(f, "cell", text, sizeof text);
    CHECK(strcmp(text, "PVALB 689331391") == 0, "cell = '%s'", text);

    hsize_t d[4], mx[4];
    CHECK(shape(f, "traces/voltage", d, mx) == 3 && d[0] == 8 && d[1] == 2 && d[2] == 4 && mx[0] == H5S_UNLIMITED &&
              mx[1] == 2 && mx[2] == 4,
          "voltage is (8, 2, 4), growing");
    float back[64] = {0};
    hid_t ds = H5Dopen2(f, "traces/voltage", H5P_DEFAULT);
    H5Dread(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, back);
    CHECK(memcmp(back, a, sizeof back) == 0, "3 + 5 rows of (2, 4) read back exactly");
    attr_text(ds, "units", text, sizeof text);
    CHECK(strcmp(text, "mV") == 0, "units = '%s'", text);
    attr_text(ds, "note", text, sizeof text);
    CHECK(strcmp(text, "µ-volts? no: mV") == 0, "UTF-8 note = '%s'", text);

    /* The creation property list: a chunk of about 1 MiB of rows, shuffle then deflate 4. */
    hid_t pl = H5Dget_create_plist(ds);
    hsize_t chunk[4] = {0};
    CHECK(H5Pget_layout(pl) == H5D_CHUNKED, "voltage is chunked");
    CHECK(H5Pget_chunk(pl, 4, chunk) == 3 && chunk[0] == (1u << 20) / 32 && chunk[1] == 2 && chunk[2] == 4,
          "chunk (%llu, %llu, %llu), expected (32768, 2, 4)", (unsigned long long)chunk[0],
          (unsigned long long)chunk[1], (unsigned long long)chunk[2]);
    int nf = H5Pget_nfilters(pl);
    CHECK(nf == 2, "%d filters, expected shuffle and deflate", nf);
    unsigned flags, cd[4];
    size_t ncd = 4;
    char fname[64];
    CHECK(nf > 0 && H5Pget_filter2(pl, 0, &flags, &ncd, cd, sizeof fname, fname, NULL) == H5Z_FILTER_SHUFFLE,
          "filter 0 is shuffle");
    ncd = 4;
    cd[0] = 0;
    CHECK(nf > 1 && H5Pget_filter2(pl, 1, &flags, &ncd, cd, sizeof fname, fname, NULL) == H5Z_FILTER_DEFLATE &&
              ncd >= 1 && cd[0] == 4,
          "filter 1 is deflate, level %u", cd[0]);
    H5Pclose(pl);
    H5Dclose(ds);

    CHECK(shape(f, "amplitude", d, mx) == 1 && d[0] == 4 && mx[0] == H5S_UNLIMITED, "amplitude is (4,), growing");
    ds = H5Dopen2(f, "amplitude", H5P_DEFAULT);
    float ab[4] = {0};
    H5Dread(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, ab);
    CHECK(ab[0] == -110 && ab[1] == 0 && isnan(ab[2]) && ab[3] == 270, "scalar rows and a NaN read back");
    pl = H5Dget_create_plist(ds);
    CHECK(H5Pget_chunk(pl, 4, chunk) == 1 && chunk[0] == (1u << 20) / 4, "scalar chunk %llu rows",
          (unsigned long long)chunk[0]);
    H5Pclose(pl);
    H5Dclose(ds);

    ds = H5Dopen2(f, "traces/model", H5P_DEFAULT);
    hid_t ty = H5Dget_type(ds);
    CHECK(H5Tequal(ty, H5T_STD_I32LE) > 0, "traces/model is int32");
    H5Tclose(ty);
    int32_t ib[5] = {0};
    H5Dread(ds, H5T_NATIVE_INT32, H5S_ALL, H5S_ALL, H5P_DEFAULT, ib);
    CHECK(memcmp(ib, ids, sizeof ib) == 0, "int32 rows read back");
    H5Dclose(ds);

    hid_t g = H5Gopen2(f, "traces", H5P_DEFAULT);
    double w[3] = {0};
    at = H5Aopen(g, "window_ms", H5P_DEFAULT);
    H5Aread(at, H5T_NATIVE_DOUBLE, w);
    H5Aclose(at);
    CHECK(w[0] == -1.5 && w[1] == 0 && w[2] == 2.25, "a double array on a group");
    H5Gclose(g);
    H5Fclose(f);
    unlink(path);
}

static void test_errors(const char *dir)
{
    char path[512];
    nm_store *s = NULL;
    snprintf(path, sizeof path, "%s/missing/x.h5", dir);
    CHECK(nm_store_create(path, &s) == NB_ERR_IO && !s, "a missing directory is refused");
    CHECK(has(nb_last_error(), "missing") && has(nb_last_error(), "does not exist"), "message: %s", nb_last_error());
    if (geteuid() != 0) { /* root writes anywhere */
        char ro[400];
        snprintf(ro, sizeof ro, "%s/ro", dir);
        mkdir(ro, 0500);
        snprintf(path, sizeof path, "%s/x.h5", ro);
        CHECK(nm_store_create(path, &s) == NB_ERR_IO, "a read-only directory is refused");
        CHECK(has(nb_last_error(), "not writable"), "message: %s", nb_last_error());
        rmdir(ro);
    }

    snprintf(path, sizeof path, "%s/err.h5", dir);
    REQUIRE_OK(nm_store_create(path, &s));
    const uint64_t row[4] = {3, 1, 1, 1}, zero[1] = {0};
    float v[3] = {1, 2, 3};
    CHECK(nm_store_append(s, "nope/x", 1, v) == NB_ERR_INVALID_ARGUMENT, "unknown dataset");
    CHECK(has(nb_last_error(), "'nope/x'"), "message names it: %s", nb_last_error());
    CHECK_OK(nm_store_dataset(s, "a/b", 1, row, NULL));
    CHECK(nm_store_dataset(s, "/a/b", 1, row, NULL) == NB_ERR_INVALID_ARGUMENT, "a dataset twice");
    CHECK(has(nb_last_error(), "'a/b' already exists"), "message: %s", nb_last_error());
    CHECK(nm_store_dataset(s, "a", 1, row, NULL) == NB_ERR_INVALID_ARGUMENT, "over a group");
    CHECK(has(nb_last_error(), "(a group)"), "message: %s", nb_last_error());
    CHECK(nm_store_dataset(s, "a/b/c", 0, NULL, NULL) == NB_ERR_INVALID_ARGUMENT, "under a dataset");
    CHECK(has(nb_last_error(), "'a/b' is a dataset, not a group"), "message: %s", nb_last_error());
    CHECK(nm_store_dataset(s, "r4", 4, row, NULL) == NB_ERR_INVALID_ARGUMENT, "rank 4 rows");
    CHECK(nm_store_dataset(s, "z", 1, zero, NULL) == NB_ERR_INVALID_ARGUMENT, "a zero dimension");
    CHECK(nm_store_dataset(s, "//", 0, NULL, NULL) == NB_ERR_INVALID_ARGUMENT, "no name");
    CHECK(nm_store_append_int32(s, "a/b", 1, (const int32_t *)v) == NB_ERR_INVALID_ARGUMENT, "int32 into float32");
    CHECK(has(nb_last_error(), "holds float32, not int32"), "message: %s", nb_last_error());
    CHECK(nm_store_append(s, "a/b", 1, NULL) == NB_ERR_INVALID_ARGUMENT, "rows without data");
    CHECK(nm_store_attr_double(s, "q", "x", 1) == NB_ERR_INVALID_ARGUMENT, "attribute of a missing object");
    CHECK(has(nb_last_error(), "no dataset or group 'q'"), "message: %s", nb_last_error());
    CHECK(nm_store_attr_double(s, "", "complete", 1) == NB_ERR_INVALID_ARGUMENT, "'complete' is the store's");
    CHECK(nm_store_attr_doubles(s, "", "x", 0, NULL) == NB_ERR_INVALID_ARGUMENT, "no values");
    CHECK_OK(nm_store_append(s, "a/b", 1, v)); /* errors leave the store usable */
    CHECK_OK(nm_store_finish(s));
    CHECK(nbt_count_files(dir) == 1, "%d files after the error store", nbt_count_files(dir));
    unlink(path);
}

static void test_abort(const char *dir)
{
    char path[512];
    snprintf(path, sizeof path, "%s/ab.h5", dir);
    nm_store *s = NULL;
    REQUIRE_OK(nm_store_create(path, &s));
    const uint64_t row[1] = {1000};
    float *v = calloc(1000 * 50, sizeof *v);
    CHECK_OK(nm_store_dataset(s, "v", 1, row, "mV"));
    CHECK_OK(nm_store_append(s, "v", 50, v));
    CHECK(nbt_count_files(dir) == 1, "the temporary is there while writing");
    char tmp[600];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    CHECK(exists(tmp) && !exists(path), "writing goes to PATH.tmp.PID, PATH absent");
    /* A second store of the same path in this process would share the temporary. */
    nm_store *t = NULL;
    CHECK(nm_store_create(path, &t) == NB_ERR_IO && !t, "the same path twice at once");
    CHECK(has(nb_last_error(), "already exists"), "message: %s", nb_last_error());
    nm_store_abort(s);
    nm_store_abort(NULL);
    CHECK(nbt_count_files(dir) == 0, "abort leaves no file and no temporary (%d files)", nbt_count_files(dir));
    free(v);
}

/* Shards joined (nm_store_append_file, how MPI ranks' outputs become one
 * file): two parts of float32 rows of 3 and int32 ids, the first with the
 * attributes, give the rows in order, the units and the first part's root
 * attributes; an unfinished part and a part of another row shape are refused. */
static void test_join(const char *dir)
{
    char p[3][512], out[512], tmp[600];
    for (int k = 0; k < 3; k++)
        snprintf(p[k], sizeof p[k], "%s/part%d.h5", dir, k);
    snprintf(out, sizeof out, "%s/joined.h5", dir);
    const uint64_t row3[1] = {3}, row4[1] = {4};
    float v[12];
    int32_t id[4];
    for (int k = 0; k < 2; k++) {
        nm_store *s = NULL;
        REQUIRE_OK(nm_store_create(p[k], &s));
        CHECK_OK(nm_store_dataset(s, "g/v", 1, row3, "mV"));
        CHECK_OK(nm_store_dataset_int32(s, "id", 0, NULL, NULL));
        CHECK_OK(nm_store_attr_string(s, NULL, "format", k == 0 ? "first" : "second"));
        CHECK_OK(nm_store_attr_double(s, NULL, "dt_ms", 0.25 + k));
        const double amps[2] = {-110, 50};
        CHECK_OK(nm_store_attr_doubles(s, NULL, "stimuli_pA", 2, amps));
        uint64_t rows = k == 0 ? 4 : 2; /* a part may also be empty: the third */
        for (uint64_t i = 0; i < rows * 3; i++)
            v[i] = k == 0 ? (float)i * 0.5f : NAN; /* NaN in part 1 */
        for (uint64_t i = 0; i < rows; i++)
            id[i] = (int32_t)(10 * k + (int)i);
        CHECK_OK(nm_store_append(s, "g/v", rows, v));
        CHECK_OK(nm_store_append_int32(s, "id", rows, id));
        CHECK_OK(nm_store_finish(s));
    }
    nm_store *j = NULL;
    REQUIRE_OK(nm_store_create(out, &j));
    CHECK_OK(nm_store_append_file(j, p[0], 1));
    CHECK_OK(nm_store_append_file(j, p[1], 0));
    CHECK_OK(nm_store_attr_double(j, NULL, "ranks", 2));
    uint64_t rows = 0;
    CHECK_OK(nm_store_shape(j, "g/v", NULL, NULL, NULL, &rows));
    CHECK(rows == 6, "6 rows joined, got %llu", (unsigned long long)rows);
    /* refused: a part of another row shape, a part not finished */
    nm_store *w = NULL;
    REQUIRE_OK(nm_store_create(p[2], &w));
    CHECK_OK(nm_store_dataset(w, "g/v", 1, row4, "mV"));
    CHECK(nm_store_append_file(j, p[2], 0) != NB_OK, "an unfinished part is refused");
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", p[2], (long)getpid());
    CHECK(nm_store_append_file(j, tmp, 0) != NB_OK, "its temporary, still being written, is refused too");
    CHECK_OK(nm_store_finish(w));
    CHECK(nm_store_append_file(j, p[2], 0) != NB_OK && has(nb_last_error(), "another type or row shape"),
          "another row shape: %s", nb_last_error());
    CHECK_OK(nm_store_finish(j));
    hid_t f = H5Fopen(out, H5F_ACC_RDONLY, H5P_DEFAULT);
    CHECK(f >= 0, "the joined file opens");
    if (f >= 0) {
        hsize_t dims[2], maxd[2];
        CHECK(shape(f, "g/v", dims, maxd) == 2 && dims[0] == 6 && dims[1] == 3, "g/v is (6, 3)");
        float got[18];
        int32_t gid[6];
        hid_t d = H5Dopen2(f, "g/v", H5P_DEFAULT);
        H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, got);
        char units[64];
        attr_text(d, "units", units, sizeof units);
        CHECK(strcmp(units, "mV") == 0, "units kept: '%s'", units);
        H5Dclose(d);
        d = H5Dopen2(f, "id", H5P_DEFAULT);
        H5Dread(d, H5T_NATIVE_INT32, H5S_ALL, H5S_ALL, H5P_DEFAULT, gid);
        H5Dclose(d);
        int ok = 1;
        for (int i = 0; i < 12; i++)
            ok &= got[i] == (float)i * 0.5f;
        for (int i = 0; i < 6; i++)
            ok &= isnan(got[12 + i]);
        CHECK(ok, "the rows in part order, NaN kept");
        CHECK(gid[0] == 0 && gid[3] == 3 && gid[4] == 10 && gid[5] == 11, "int32 ids in order");
        char fmt[64];
        attr_text(f, "format", fmt, sizeof fmt);
        CHECK(strcmp(fmt, "first") == 0, "the first part's attributes: '%s'", fmt);
        CHECK(attr_f64(f, "dt_ms") == 0.25 && attr_f64(f, "ranks") == 2 && attr_f64(f, "complete") == 1,
              "dt_ms, ranks, complete");
        H5Fclose(f);
    }
    for (int k = 0; k < 3; k++)
        unlink(p[k]);
    unlink(out);
}

/* About 300 MB of voltage-like traces (rows of 8580 samples) appended 64
 * rows at a time: the peak resident memory must not follow the total. The
 * budget of 100 MB is far above the two 1 MiB chunks of cache, the
 * test's 2 MiB piece and HDF5's own buffers, and far below 300 MB. Under
 * AddressSanitizer the quarantine keeps freed blocks resident (256 MB by
 * default), so there this test runs with a small quarantine (below). */
static void test_memory(const char *dir)
{
    char path[512];
    snprintf(path, sizeof path, "%s/big.h5", dir);
    enum { N = 8580, PIECE = 64 };
    const uint64_t total = 300ull << 20, rows = total / (N * 4);
    float *piece = malloc((size_t)PIECE * N * sizeof *piece);
    REQUIRE_OK(piece ? NB_OK : NB_ERR_OUT_OF_MEMORY);
    memset(piece, 0, (size_t)PIECE * N * sizeof *piece);
    uint64_t seed = 42;
    const long before = peak_rss_kb();
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    nm_store *s = NULL;
    REQUIRE_OK(nm_store_create(path, &s));
    const uint64_t row[1] = {N};
    CHECK_OK(nm_store_dataset(s, "voltage", 1, row, "mV"));
    CHECK_OK(nm_store_dataset_int32(s, "id", 0, NULL, NULL));
    int32_t ids[PIECE];
    float last = 0;
    for (uint64_t r = 0; r < rows; r += PIECE) {
        uint32_t m = rows - r < PIECE ? (uint32_t)(rows - r) : PIECE;
        for (uint32_t i = 0; i < m; i++) {
            ids[i] = (int32_t)(r + i);
            for (uint32_t k = 0; k < N; k++)
                piece[(size_t)i * N + k] =
                    (float)(-65.0 + 20.0 * sin(0.01 * k + 0.1 * (double)(r + i)) + 0.5 * nbt_rand(&seed));
        }
        last = piece[(size_t)(m - 1) * N + N - 1];
        nb_status e = nm_store_append(s, "voltage", m, piece);
        CHECK_OK(e);
        CHECK_OK(nm_store_append_int32(s, "id", m, ids));
        if (e)
            break;
    }
    CHECK_OK(nm_store_finish(s));
    clock_gettime(CLOCK_MONOTONIC, &t1);
    const long after = peak_rss_kb();
    struct stat st;
    stat(path, &st);
    printf("memory: %.0f MB appended in %llu rows (%.0f MB on disk) in %.1f s; peak resident memory %.1f -> %.1f MB "
           "(+%.1f MB)\n",
           total / 1048576.0, (unsigned long long)rows, st.st_size / 1048576.0,
           (t1.tv_sec - t0.tv_sec) + 1e-9 * (t1.tv_nsec - t0.tv_nsec), before / 1024.0, after / 1024.0,
           (after - before) / 1024.0);
    CHECK(before > 0 && after - before < 100 * 1024, "peak resident memory grew by %.1f MB (< 100 MB)",
          (after - before) / 1024.0);

    /* The last row really is there. */
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    hsize_t d[2] = {0}, mx[2];
    CHECK(shape(f, "voltage", d, mx) == 2 && d[0] == rows && d[1] == N, "voltage has %llu rows",
          (unsigned long long)d[0]);
    hid_t ds = H5Dopen2(f, "voltage", H5P_DEFAULT), fs = H5Dget_space(ds);
    hsize_t start[2] = {rows - 1, N - 1}, one[2] = {1, 1};
    H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, one, NULL);
    hid_t ms = H5Screate_simple(2, one, NULL);
    float got = 0;
    H5Dread(ds, H5T_NATIVE_FLOAT, ms, fs, H5P_DEFAULT, &got);
    CHECK(got == last, "the last value %g, expected %g", got, last);
    H5Sclose(ms);
    H5Sclose(fs);
    H5Dclose(ds);
    int32_t lid = -1;
    ds = H5Dopen2(f, "id", H5P_DEFAULT);
    fs = H5Dget_space(ds);
    hsize_t s1[1] = {rows - 1}, o1[1] = {1};
    H5Sselect_hyperslab(fs, H5S_SELECT_SET, s1, NULL, o1, NULL);
    ms = H5Screate_simple(1, o1, NULL);
    H5Dread(ds, H5T_NATIVE_INT32, ms, fs, H5P_DEFAULT, &lid);
    CHECK(lid == (int32_t)(rows - 1), "the last id %d", lid);
    H5Sclose(ms);
    H5Sclose(fs);
    H5Dclose(ds);
    H5Fclose(f);
    unlink(path);
    free(piece);
}

#if defined(__SANITIZE_ADDRESS__)
/* See test_memory; ASAN_OPTIONS from the environment still take precedence. */
const char *__asan_default_options(void);
const char *__asan_default_options(void) { return "quarantine_size_mb=16"; }
#endif

int main(void)
{
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    char dir[] = "/tmp/noble-store-test-XXXXXX";
    REQUIRE_OK(mkdtemp(dir) ? NB_OK : NB_ERR_IO);
    test_roundtrip(dir);
    test_errors(dir);
    test_abort(dir);
    test_join(dir);
    test_memory(dir);
    CHECK(nbt_count_files(dir) == 0, "nothing left in %s", dir);
    rmdir(dir);
    if (nbt_failures)
        fprintf(stderr, "%d check(s) failed\n", nbt_failures);
    else
        printf("all checks passed\n");
    return nbt_failures ? 1 : 0;
}
