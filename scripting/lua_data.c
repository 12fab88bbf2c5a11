/* lua_data.c - datasets, random numbers and error metrics for the `noble`
 * Lua module (docs/lua-api.md): noble.dataset, noble.rng, noble.metrics.
 *
 * Trace and model ids are the 0-based rows of the dataset file, so that
 * ids printed by Lua, written to reports and seen in h5py agree. */
#include "nbl_internal.h"
#include "nm_models.h"

#include <inttypes.h>
#include <lauxlib.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <errno.h>
#include <sys/stat.h>
#include <unistd.h>

#define T_DATASET "noble.dataset"
#define T_RNG "noble.rng"

/* ------------------------------------------------------------------ rng */

static nm_rng *check_rng(lua_State *L, int i) { return luaL_checkudata(L, i, T_RNG); }

/* noble.rng(seed) */
static int l_rng(lua_State *L)
{
    lua_Integer seed = lua_isnoneornil(L, 1) ? 0 : nbl_int(L, 1, "noble.rng", "seed", 0, LUA_MAXINTEGER);
    nm_rng *r = lua_newuserdatauv(L, sizeof *r, 0);
    nm_rng_seed(r, (uint64_t)seed);
    luaL_setmetatable(L, T_RNG);
    return 1;
}

/* r:uniform() in [0, 1), r:uniform(a, b) in [a, b) */
static int r_uniform(lua_State *L)
{
    nm_rng *r = check_rng(L, 1);
    double u = nm_rng_uniform(r);
    if (lua_gettop(L) >= 2) {
        double a = nbl_num(L, 2, "rng:uniform", "a", -HUGE_VAL, HUGE_VAL, 0);
        double b = nbl_num(L, 3, "rng:uniform", "b", -HUGE_VAL, HUGE_VAL, 0);
        u = a + u * (b - a);
    }
    lua_pushnumber(L, u);
    return 1;
}

/* r:int(n): 0 .. n-1, unbiased */
static uint64_t below(nm_rng *r, uint64_t n)
{
    uint64_t lim = UINT64_MAX - UINT64_MAX % n, v;
    do
        v = nm_rng_next(r);
    while (v >= lim);
    return v % n;
}

static int r_int(lua_State *L)
{
    nm_rng *r = check_rng(L, 1);
    lua_Integer n = nbl_int(L, 2, "rng:int", "n", 1, LUA_MAXINTEGER);
    lua_pushinteger(L, (lua_Integer)below(r, (uint64_t)n));
    return 1;
}

/* r:shuffle(t): Fisher-Yates in place on t[1..#t]; returns t */
static int r_shuffle(lua_State *L)
{
    nm_rng *r = check_rng(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);
    lua_Integer n = luaL_len(L, 2);
    for (lua_Integer i = n; i > 1; i--) {
        lua_Integer j = 1 + (lua_Integer)below(r, (uint64_t)i);
        lua_geti(L, 2, i);
        lua_geti(L, 2, j);
        lua_seti(L, 2, i);
        lua_seti(L, 2, j);
    }
    lua_settop(L, 2);
    return 1;
}

/* r:state() -> "hex hex hex hex"; r:set_state(s) */
static int r_state(lua_State *L)
{
    nm_rng *r = check_rng(L, 1);
    char b[80];
    snprintf(b, sizeof b, "%016" PRIx64 " %016" PRIx64 " %016" PRIx64 " %016" PRIx64, r->s[0], r->s[1], r->s[2],
             r->s[3]);
    lua_pushstring(L, b);
    return 1;
}

static int r_set_state(lua_State *L)
{
    nm_rng *r = check_rng(L, 1);
    const char *s = luaL_checkstring(L, 2);
    nm_rng t;
    if (sscanf(s, "%" SCNx64 " %" SCNx64 " %" SCNx64 " %" SCNx64, &t.s[0], &t.s[1], &t.s[2], &t.s[3]) != 4)
        return luaL_error(L, "rng:set_state: '%s' is not a state from rng:state()", s);
    *r = t;
    return 0;
}

/* -------------------------------------------------------------- dataset */

typedef struct ldataset {
    nm_dataset *d;
} ldataset;

static nm_dataset *check_ds(lua_State *L, int i)
{
    ldataset *d = luaL_checkudata(L, i, T_DATASET);
    if (!d->d)
        luaL_error(L, "the dataset was closed");
    return d->d;
}

static int l_dataset(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    ldataset *d = lua_newuserdatauv(L, sizeof *d, 0);
    d->d = NULL;
    luaL_setmetatable(L, T_DATASET);
    if (nm_dataset_open(path, &d->d))
        return luaL_error(L, "%s", nb_last_error());
    return 1;
}

static int ds_close(lua_State *L)
{
    ldataset *d = luaL_checkudata(L, 1, T_DATASET);
    nm_dataset_close(d->d);
    d->d = NULL;
    return 0;
}

static void setnum(lua_State *L, const char *k, double v)
{
    lua_pushnumber(L, v);
    lua_setfield(L, -2, k);
}

static void setint(lua_State *L, const char *k, lua_Integer v)
{
    lua_pushinteger(L, v);
    lua_setfield(L, -2, k);
}

static int ds_info(lua_State *L)
{
    nm_dataset *d = check_ds(L, 1);
    lua_createtable(L, 0, 16);
    lua_pushstring(L, d->path);
    lua_setfield(L, -2, "path");
    lua_pushstring(L, d->cell);
    lua_setfield(L, -2, "cell");
    setint(L, "n_models", d->n_models);
    setint(L, "n_traces", d->n_traces);
    setint(L, "n_samples", d->n_samples);
    setnum(L, "dt_ms", d->dt_ms);
    setnum(L, "stim_start_ms", d->stim_start_ms);
    setnum(L, "stim_end_ms", d->stim_end_ms);
    setnum(L, "window_ms", d->window_ms);
    setnum(L, "window_step_start_ms", d->window_step_start_ms);
    lua_createtable(L, 2, 0);
    lua_pushnumber(L, d->jitter_ms[0]);
    lua_rawseti(L, -2, 1);
    lua_pushnumber(L, d->jitter_ms[1]);
    lua_rawseti(L, -2, 2);
    lua_setfield(L, -2, "jitter_ms");
    lua_createtable(L, (int)d->n_features, 0);
    for (uint32_t i = 0; i < d->n_features; i++) {
        lua_pushstring(L, d->feature_names[i]);
        lua_rawseti(L, -2, i + 1);
    }
    lua_setfield(L, -2, "feature_names");
    return 1;
}

static int split_of(lua_State *L, int i)
{
    static const char *const names[] = {"train", "validation", "test", "all", NULL};
    int k = luaL_checkoption(L, i, "all", names);
    return k == 3 ? -1 : k;
}

static int select_ids(lua_State *L, int models)
{
    nm_dataset *d = check_ds(L, 1);
    int split = split_of(L, 2);
    uint32_t cap = models ? d->n_models : d->n_traces;
    uint32_t *ids = malloc((cap + 1) * sizeof *ids);
    if (!ids)
        return luaL_error(L, "out of host memory");
    uint32_t n = 0;
    if (split < 0)
        for (uint32_t i = 0; i < cap; i++)
            ids[n++] = i;
    else
        n = nm_dataset_select(d, split, models, ids, cap);
    lua_createtable(L, (int)n, 0);
    for (uint32_t i = 0; i < n; i++) {
        lua_pushinteger(L, ids[i]);
        lua_rawseti(L, -2, i + 1);
    }
    free(ids);
    return 1;
}

/* ds:traces(split) / ds:models(split): ids, split = "train", "validation", "test" or "all" */
static int ds_traces(lua_State *L) { return select_ids(L, 0); }
static int ds_models(lua_State *L) { return select_ids(L, 1); }

static uint32_t check_id(lua_State *L, int i, uint32_t n, const char *what)
{
    if (n == 0)
        luaL_error(L, "the dataset has no %ss", what);
    return (uint32_t)nbl_int(L, i, lua_pushfstring(L, "dataset:%s", what), "id", 0, (lua_Integer)n - 1);
}

static const char *split_name(int s)
{
    return s == NM_SPLIT_TRAIN ? "train" : s == NM_SPLIT_VALIDATION ? "validation" : "test";
}

/* ds:model(id) -> {id, I_thr, s_thr, split, family} */
static int ds_model(lua_State *L)
{
    nm_dataset *d = check_ds(L, 1);
    uint32_t m = check_id(L, 2, d->n_models, "model");
    lua_createtable(L, 0, 5);
    setint(L, "id", m);
    setnum(L, "I_thr", d->I_thr[m]);
    setnum(L, "s_thr", d->s_thr[m]);
    lua_pushstring(L, split_name(d->split[m]));
    lua_setfield(L, -2, "split");
    setint(L, "family", d->family[m]);
    return 1;
}

/* ds:trace(id) -> {id, model, amplitude, near_threshold, neuron_wall_s, features = {name = value}} */
static int ds_trace(lua_State *L)
{
    nm_dataset *d = check_ds(L, 1);
    uint32_t t = check_id(L, 2, d->n_traces, "trace");
    lua_createtable(L, 0, 6);
    setint(L, "id", t);
    setint(L, "model", d->model[t]);
    setnum(L, "amplitude", d->amplitude[t]);
    lua_pushboolean(L, d->near_threshold[t]);
    lua_setfield(L, -2, "near_threshold");
    setnum(L, "neuron_wall_s", d->neuron_wall_s[t]);
    lua_createtable(L, 0, (int)d->n_features);
    for (uint32_t i = 0; i < d->n_features; i++)
        setnum(L, d->feature_names[i], d->features[(uint64_t)t * d->n_features + i]);
    lua_setfield(L, -2, "features");
    return 1;
}

/* ds:window_start([jitter_ms]) -> the first sample of the window; the
 * jitter must keep that sample inside the trace. */
static int ds_window_start(lua_State *L)
{
    nm_dataset *d = check_ds(L, 1);
    const double latest = d->stim_start_ms - d->window_step_start_ms; /* jitter of a start at sample 0 */
    const double earliest = latest - (double)(d->n_samples - 1) * d->dt_ms;
    double j = lua_isnoneornil(L, 2) ? 0.0 : nbl_num(L, 2, "dataset:window_start", "jitter_ms", earliest, latest, 0);
    int64_t s = nm_dataset_window_start(d, j);
    if (s < 0 || (uint64_t)s >= d->n_samples) /* only by rounding at the ends */
        s = s < 0 ? 0 : (int64_t)d->n_samples - 1;
    lua_pushinteger(L, (lua_Integer)s);
    return 1;
}

/* ds:batch(ids, {length = L, stride = 1, jitter = rng | starts = {..}})
 * -> {current = (B, L) pA, voltage = (B, L) mV, codes = (B, 3), ids = {..},
 *     starts = {..}}: windows of the traces ids. Without jitter or starts,
 * every window starts where the unjittered window does. With jitter = an
 * rng, each start is drawn: jitter U(jitter_ms) as the dataset says. */
static int ds_batch(lua_State *L)
{
    static const char *const known[] = {"length", "stride", "jitter", "starts", NULL};
    nm_dataset *d = check_ds(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);
    lua_settop(L, 3);
    if (!lua_isnil(L, 3))
        luaL_checktype(L, 3, LUA_TTABLE);
    nbl_check_keys(L, 3, "dataset:batch", known);
    lua_Integer n = luaL_len(L, 2);
    if (n < 1)
        return luaL_error(L, "dataset:batch: no traces given");
    if (n > (lua_Integer)1 << 24)
        return luaL_error(L, "dataset:batch: %I traces: at most 16777216 in one batch", n);
    const lua_Integer S = (lua_Integer)d->n_samples;
    int stride = (int)nbl_opt_int(L, 3, "dataset:batch", "stride", 1, 1, S > 1 ? S - 1 : 1);
    int length = (int)nbl_opt_int(L, 3, "dataset:batch", "length", 0, 0, S);
    if (length <= 0) /* the window the dataset describes, at this stride */
        length = (int)floor(d->window_ms / d->dt_ms / stride);
    if (length < 1)
        return luaL_error(L, "dataset:batch: stride %d leaves no sample in the dataset's window", stride);
    uint32_t *ids = malloc((size_t)n * sizeof *ids);
    int64_t *starts = malloc((size_t)n * sizeof *starts);
    if (!ids || !starts) {
        free(ids);
        free(starts);
        return luaL_error(L, "out of host memory");
    }
    nm_rng *rng = NULL;
    int have_starts = 0;
    if (lua_istable(L, 3)) {
        lua_getfield(L, 3, "jitter");
        if (!lua_isnil(L, -1))
            rng = luaL_checkudata(L, -1, T_RNG);
        lua_pop(L, 1);
        lua_getfield(L, 3, "starts");
        have_starts = lua_istable(L, -1);
        lua_pop(L, 1);
    }
    for (lua_Integer i = 0; i < n; i++) {
        lua_geti(L, 2, i + 1);
        int ok;
        lua_Integer v = lua_tointegerx(L, -1, &ok);
        lua_pop(L, 1);
        if (!ok || v < 0 || (uint64_t)v >= d->n_traces) {
            free(ids);
            free(starts);
            return luaL_error(L, "dataset:batch: entry %I is not a trace id (0 to %I)", i + 1,
                              (lua_Integer)d->n_traces - 1);
        }
        ids[i] = (uint32_t)v;
        if (have_starts) {
            lua_getfield(L, 3, "starts");
            lua_geti(L, -1, i + 1);
            int ok0;
            lua_Integer v0 = lua_tointegerx(L, -1, &ok0);
            lua_pop(L, 2);
            if (!ok0 || v0 < 0 || v0 >= S) {
                free(ids);
                free(starts);
                return luaL_error(L, "dataset:batch: starts[%I] is not a sample of the trace (an integer from 0 to %I)",
                                  i + 1, S - 1);
            }
            starts[i] = (int64_t)v0;
        } else if (rng) {
            starts[i] = nm_dataset_window_start(
                d, d->jitter_ms[0] + nm_rng_uniform(rng) * (d->jitter_ms[1] - d->jitter_ms[0]));
        } else {
            starts[i] = nm_dataset_window_start(d, 0.0);
        }
    }
    lua_createtable(L, 0, 5);
    uint64_t dims[2] = {(uint64_t)n, (uint64_t)length}, cd[2] = {(uint64_t)n, 3};
    nbl_tensor *cur = nbl_tensor_new(L, 2, dims);
    lua_setfield(L, -2, "current");
    nbl_tensor *vol = nbl_tensor_new(L, 2, dims);
    lua_setfield(L, -2, "voltage");
    nbl_tensor *codes = nbl_tensor_new(L, 2, cd);
    lua_setfield(L, -2, "codes");
    nb_status s = nm_dataset_window(d, ids, starts, (uint32_t)n, (uint32_t)length, (uint32_t)stride, cur->data,
                                    vol->data, codes->data);
    lua_createtable(L, (int)n, 0);
    for (lua_Integer i = 0; i < n; i++) {
        lua_pushinteger(L, ids[i]);
        lua_rawseti(L, -2, i + 1);
    }
    lua_setfield(L, -2, "ids");
    lua_createtable(L, (int)n, 0);
    for (lua_Integer i = 0; i < n; i++) {
        lua_pushinteger(L, starts[i]);
        lua_rawseti(L, -2, i + 1);
    }
    lua_setfield(L, -2, "starts");
    free(ids);
    free(starts);
    if (s)
        return luaL_error(L, "%s", nb_last_error());
    setint(L, "stride", stride);
    setnum(L, "dt_ms", d->dt_ms * stride);
    setnum(L, "source_dt_ms", d->dt_ms);
    setnum(L, "stim_start_ms", d->stim_start_ms);
    setnum(L, "stim_end_ms", d->stim_end_ms);
    return 1;
}

/* ds:trace_data(id) -> current (pA), voltage (mV): whole traces as tensors */
static int ds_trace_data(lua_State *L)
{
    nm_dataset *d = check_ds(L, 1);
    uint32_t t = check_id(L, 2, d->n_traces, "trace");
    uint64_t dims[1] = {d->n_samples};
    nbl_tensor *c = nbl_tensor_new(L, 1, dims);
    memcpy(c->data, d->current + (uint64_t)t * d->n_samples, d->n_samples * 4);
    nbl_tensor *v = nbl_tensor_new(L, 1, dims);
    memcpy(v->data, d->voltage + (uint64_t)t * d->n_samples, d->n_samples * 4);
    return 2;
}

/* -------------------------------------------------------------- metrics */

/* noble.metrics(pred, truth) -> {l1 = {..}, l2 = {..}, l4 = {..}}: the
 * relative Lp error ||pred - truth||_p / ||truth||_p of each row (the first
 * dimension), in double. */
static int l_metrics(lua_State *L)
{
    nbl_tensor *a = nbl_check_tensor(L, 1), *b = nbl_check_tensor(L, 2);
    if (a->n != b->n || a->rank != b->rank || a->dims[0] != b->dims[0])
        return luaL_error(L, "noble.metrics: prediction and truth differ in shape");
    const uint64_t rows = a->dims[0], per = a->n / rows;
    lua_createtable(L, 0, 3);
    const char *names[3] = {"l1", "l2", "l4"};
    for (int k = 0; k < 3; k++) {
        lua_createtable(L, (int)rows, 0);
        for (uint64_t r = 0; r < rows; r++) {
            double num = 0, den = 0;
            for (uint64_t i = r * per; i < (r + 1) * per; i++) {
                double e = fabs((double)a->data[i] - b->data[i]), t = fabs((double)b->data[i]);
                if (k == 0) {
                    num += e;
                    den += t;
                } else if (k == 1) {
                    num += e * e;
                    den += t * t;
                } else {
                    num += e * e * e * e;
                    den += t * t * t * t;
                }
            }
            double rel = k == 0 ? num / den : k == 1 ? sqrt(num / den) : sqrt(sqrt(num / den));
            lua_pushnumber(L, den > 0 ? rel : NAN);
            lua_rawseti(L, -2, (lua_Integer)r + 1);
        }
        lua_setfield(L, -2, names[k]);
    }
    return 1;
}

/* noble.fft_length(n) -> the largest length <= n that the operator takes:
 * a multiple of 4 that the FFT computes exactly (docs/operator.md). */
static int l_fft_length(lua_State *L)
{
    /* any whole number of samples; the search starts at the largest length
     * the FFT takes (2^20), so it ends after at most 2^18 steps */
    lua_Integer n = nbl_int(L, 1, "noble.fft_length", "n", 8, LUA_MAXINTEGER);
    const lua_Integer top = (lua_Integer)1 << 20;
    if (n > top)
        n = top;
    for (lua_Integer k = n - n % 4; k >= 8; k -= 4)
        if (nb_fft_length_ok((uint64_t)k)) {
            lua_pushinteger(L, k);
            return 1;
        }
    return luaL_error(L, "noble.fft_length: no length the FFT takes is at most %I", n);
}

/* noble.now() -> milliseconds on a monotonic clock */
static int l_now(lua_State *L)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    lua_pushnumber(L, (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6);
    return 1;
}

/* noble.isatty(fd) -> whether 0, 1 or 2 is a terminal (progress bars) */
static int l_isatty(lua_State *L)
{
    lua_pushboolean(L, isatty((int)nbl_int(L, 1, "noble.isatty", "fd", 0, INT32_MAX)));
    return 1;
}

/* noble.mkdir(path) -> the list of directories it made, outermost first
 * (empty when path was there): path and its missing parents, like mkdir -p,
 * so that a command that fails can remove exactly what it made. */
static int l_mkdir(lua_State *L)
{
    size_t len;
    const char *path = luaL_checklstring(L, 1, &len);
    if (len == 0)
        return luaL_error(L, "noble.mkdir: an empty path");
    char *p = lua_newuserdatauv(L, len + 1, 0);
    memcpy(p, path, len + 1);
    lua_newtable(L);
    int made = 0;
    for (size_t i = 1; i <= len; i++) {
        if (p[i] != '/' && p[i] != '\0')
            continue;
        char c = p[i];
        p[i] = '\0';
        struct stat st;
        if (stat(p, &st) == 0) {
            if (!S_ISDIR(st.st_mode))
                return luaL_error(L, "cannot make the directory %s: %s is not a directory", path, p);
        } else if (mkdir(p, 0777) == 0) {
            lua_pushstring(L, p);
            lua_rawseti(L, -2, ++made);
        } else {
            return luaL_error(L, "cannot make the directory %s: %s: %s", path, p, strerror(errno));
        }
        p[i] = c;
    }
    return 1;
}

/* noble.host_memory() -> available, total: bytes of host memory (what the
 * system can give now without swapping, and all of it), for size checks
 * before work starts. */
static int l_host_memory(lua_State *L)
{
    long page = sysconf(_SC_PAGESIZE), total = sysconf(_SC_PHYS_PAGES);
    double avail = -1;
    FILE *f = fopen("/proc/meminfo", "r");
    if (f) {
        char line[256];
        while (fgets(line, sizeof line, f))
            if (sscanf(line, "MemAvailable: %lf kB", &avail) == 1) {
                avail *= 1024;
                break;
            }
        fclose(f);
    }
    if (avail < 0)
        avail = (double)sysconf(_SC_AVPHYS_PAGES) * (double)page;
    lua_pushnumber(L, avail);
    lua_pushnumber(L, (double)total * (double)page);
    return 2;
}

/* ----------------------------------------------------------------- open */

void nbl_open_data(lua_State *L)
{
    static const luaL_Reg rng_m[] = {{"uniform", r_uniform}, {"int", r_int},           {"shuffle", r_shuffle},
                                     {"state", r_state},     {"set_state", r_set_state}, {NULL, NULL}};
    static const luaL_Reg ds_m[] = {{"info", ds_info},
                                    {"traces", ds_traces},
                                    {"models", ds_models},
                                    {"trace", ds_trace},
                                    {"model", ds_model},
                                    {"window_start", ds_window_start},
                                    {"batch", ds_batch},
                                    {"trace_data", ds_trace_data},
                                    {NULL, NULL}};
    nbl_new_class(L, T_RNG, rng_m, NULL, NULL);
    nbl_new_class(L, T_DATASET, ds_m, ds_close, NULL);
    static const luaL_Reg fns[] = {{"dataset", l_dataset}, {"rng", l_rng}, {"metrics", l_metrics},
                                   {"fft_length", l_fft_length}, {"isatty", l_isatty}, {"now", l_now},
                                   {"mkdir", l_mkdir},       {"host_memory", l_host_memory}, {NULL, NULL}};
    luaL_setfuncs(L, fns, 0);
}
