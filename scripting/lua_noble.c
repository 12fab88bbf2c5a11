/* lua_noble.c - the `noble` Lua 5.4 module and `noble run script.lua`.
 *
 * Objects own device memory and free it deterministically: every object has
 * close(), and __close so that `local m <close> = noble.model{...}` frees it
 * at the end of the scope; __gc is only the fallback. A closed object raises
 * a clear error when used. Library errors become Lua errors carrying the
 * library's message; `noble run` prints them with a traceback. */
#include "commands.h"
#include "nb_lua.h"
#include "nbl_internal.h"
#include "nm_models.h"

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define T_TENSOR "noble.tensor"
#define T_CONTEXT "noble.context"
#define T_MODEL "noble.model"

/* ------------------------------------------------------ checked arguments */

/* A number as messages write it: 1, 2.5, 1e+10, nan (pushed). */
static const char *number_text(lua_State *L, double v)
{
    char b[64];
    snprintf(b, sizeof b, "%.14g", v);
    return lua_pushstring(L, b);
}

/* The value at idx as a message shows it: integers as they are, other
 * numbers by number_text, strings quoted, anything else by its type
 * (pushed; an error unwinds it). */
static const char *value_text(lua_State *L, int idx)
{
    idx = lua_absindex(L, idx);
    if (lua_isinteger(L, idx))
        return lua_pushfstring(L, "%I", lua_tointeger(L, idx));
    if (lua_type(L, idx) == LUA_TNUMBER)
        return number_text(L, lua_tonumber(L, idx));
    if (lua_type(L, idx) == LUA_TSTRING)
        return lua_pushfstring(L, "'%s'", lua_tostring(L, idx));
    return lua_pushfstring(L, "a %s", luaL_typename(L, idx));
}

lua_Integer nbl_int(lua_State *L, int idx, const char *what, const char *name, lua_Integer lo, lua_Integer hi)
{
    idx = lua_absindex(L, idx);
    int ok = 0;
    lua_Integer v = 0;
    if (lua_type(L, idx) == LUA_TNUMBER)
        v = lua_tointegerx(L, idx, &ok); /* a float converts only when it is a whole number in range */
    if (!ok || v < lo || v > hi)
        luaL_error(L, "%s: %s = %s: expected an integer from %I to %I", what, name, value_text(L, idx), lo, hi);
    return v;
}

double nbl_num(lua_State *L, int idx, const char *what, const char *name, double lo, double hi, int lo_open)
{
    idx = lua_absindex(L, idx);
    double v = lua_type(L, idx) == LUA_TNUMBER ? lua_tonumber(L, idx) : NAN;
    if (isfinite(v) && (lo_open ? v > lo : v >= lo) && v <= hi)
        return v;
    const char *range;
    if (isinf(lo) && isinf(hi))
        range = lua_pushstring(L, "a finite number");
    else if (isinf(hi))
        range = lua_pushfstring(L, "a finite number %s %s", lo_open ? ">" : ">=", number_text(L, lo));
    else if (isinf(lo))
        range = lua_pushfstring(L, "a number <= %s", number_text(L, hi));
    else
        range = lua_pushfstring(L, "a number from %s%s to %s", number_text(L, lo), lo_open ? " (excluded)" : "",
                                number_text(L, hi));
    luaL_error(L, "%s: %s = %s: expected %s", what, name, value_text(L, idx), range);
    return 0;
}

lua_Integer nbl_opt_int(lua_State *L, int t, const char *what, const char *key, lua_Integer def, lua_Integer lo,
                        lua_Integer hi)
{
    if (!lua_istable(L, t))
        return def;
    lua_getfield(L, t, key);
    lua_Integer v = lua_isnil(L, -1) ? def : nbl_int(L, -1, what, key, lo, hi);
    lua_pop(L, 1);
    return v;
}

double nbl_opt_num(lua_State *L, int t, const char *what, const char *key, double def, double lo, double hi,
                   int lo_open)
{
    if (!lua_istable(L, t))
        return def;
    lua_getfield(L, t, key);
    double v = lua_isnil(L, -1) ? def : nbl_num(L, -1, what, key, lo, hi, lo_open);
    lua_pop(L, 1);
    return v;
}

void nbl_check_keys(lua_State *L, int t, const char *what, const char *const *known)
{
    if (!lua_istable(L, t))
        return;
    t = lua_absindex(L, t);
    lua_pushnil(L);
    while (lua_next(L, t)) {
        lua_pop(L, 1);
        int ok = 0;
        if (lua_type(L, -1) == LUA_TSTRING)
            for (int k = 0; known[k] && !ok; k++)
                ok = strcmp(lua_tostring(L, -1), known[k]) == 0;
        if (!ok) {
            luaL_Buffer b;
            luaL_buffinit(L, &b);
            for (int k = 0; known[k]; k++) {
                luaL_addstring(&b, k ? ", " : "");
                luaL_addstring(&b, known[k]);
            }
            luaL_pushresult(&b);
            luaL_error(L, "%s: unknown option %s (known: %s)", what, value_text(L, -2), lua_tostring(L, -1));
        }
    }
}

/* ---------------------------------------------------------------- tensors */

typedef nbl_tensor ltensor;

ltensor *nbl_tensor_new(lua_State *L, uint32_t rank, const uint64_t *dims)
{
    uint64_t n = 1;
    for (uint32_t i = 0; i < rank; i++) {
        if (dims[i] == 0 || dims[i] > (1ull << 32))
            luaL_error(L, "noble.tensor: dimension %d is %I: expected an integer from 1 to 4294967296", (int)i + 1,
                       (lua_Integer)dims[i]);
        if (dims[i] > (1ull << 34) / n) /* checked before the product could wrap */
            luaL_error(L, "noble.tensor: more than 2^34 = 17179869184 elements is too many");
        n *= dims[i];
    }
    ltensor *t = lua_newuserdatauv(L, sizeof *t, 0);
    memset(t, 0, sizeof *t);
    luaL_setmetatable(L, T_TENSOR);
    t->data = calloc(n, sizeof *t->data);
    if (!t->data)
        luaL_error(L, "noble.tensor: out of host memory for %I floats (%f MiB)", (lua_Integer)n,
                   (lua_Number)((double)n * 4 / 1048576.0));
    t->n = n;
    t->rank = rank;
    memcpy(t->dims, dims, rank * sizeof *dims);
    return t;
}

ltensor *nbl_check_tensor(lua_State *L, int i)
{
    ltensor *t = luaL_checkudata(L, i, T_TENSOR);
    if (!t->data)
        luaL_error(L, "the tensor was closed");
    return t;
}

/* noble.tensor(d1, d2, ...) or noble.tensor{values...} (rank 1) or
 * noble.tensor({values...}, {d1, d2, ...}) */
static int l_tensor(lua_State *L)
{
    uint64_t dims[4];
    uint32_t rank = 0;
    if (lua_istable(L, 1)) {
        lua_Integer n = luaL_len(L, 1);
        if (lua_istable(L, 2)) {
            lua_Integer r = luaL_len(L, 2);
            if (r < 1 || r > 4)
                return luaL_error(L, "noble.tensor: a shape has 1 to 4 dimensions, got %I", r);
            rank = (uint32_t)r;
            for (uint32_t i = 0; i < rank; i++) {
                lua_geti(L, 2, i + 1);
                const int at = lua_gettop(L);
                const char *name = lua_pushfstring(L, "shape[%d]", (int)i + 1);
                dims[i] = (uint64_t)nbl_int(L, at, "noble.tensor", name, 1, (lua_Integer)1 << 32);
                lua_pop(L, 2);
            }
        } else {
            rank = 1;
            dims[0] = (uint64_t)n;
        }
        ltensor *t = nbl_tensor_new(L, rank, dims);
        if ((lua_Integer)t->n != n)
            return luaL_error(L, "noble.tensor: %I values do not fill a shape of %I elements", n, (lua_Integer)t->n);
        for (lua_Integer i = 1; i <= n; i++) {
            lua_geti(L, 1, i);
            t->data[i - 1] = (float)luaL_checknumber(L, -1);
            lua_pop(L, 1);
        }
        return 1;
    }
    int top = lua_gettop(L);
    if (top < 1 || top > 4)
        return luaL_error(L, "noble.tensor: give 1 to 4 dimensions, or a table of values");
    for (int i = 1; i <= top; i++)
        dims[rank++] = (uint64_t)nbl_int(L, i, "noble.tensor", lua_pushfstring(L, "d%d", i), 1, (lua_Integer)1 << 32);
    nbl_tensor_new(L, rank, dims);
    return 1;
}

/* Flat 1-based index from (i) or (i, j, ...). */
static uint64_t tensor_index(lua_State *L, ltensor *t, int first, int count)
{
    if (count == 1) {
        lua_Integer i = nbl_int(L, first, "tensor", "index", 1, (lua_Integer)t->n);
        return (uint64_t)i - 1;
    }
    if (count < 1 || (uint32_t)count != t->rank)
        luaL_error(L, "tensor of rank %d indexed with %d indices", (int)t->rank, count);
    uint64_t at = 0;
    for (int k = 0; k < count; k++) {
        const char *name = lua_pushfstring(L, "index %d", k + 1);
        lua_Integer i = nbl_int(L, first + k, "tensor", name, 1, (lua_Integer)t->dims[k]);
        lua_pop(L, 1);
        at = at * t->dims[k] + (uint64_t)(i - 1);
    }
    return at;
}

static int t_get(lua_State *L)
{
    ltensor *t = nbl_check_tensor(L, 1);
    lua_pushnumber(L, t->data[tensor_index(L, t, 2, lua_gettop(L) - 1)]);
    return 1;
}

static int t_set(lua_State *L)
{
    ltensor *t = nbl_check_tensor(L, 1);
    int top = lua_gettop(L);
    double v = luaL_checknumber(L, top);
    t->data[tensor_index(L, t, 2, top - 2)] = (float)v;
    return 0;
}

static int t_fill(lua_State *L)
{
    ltensor *t = nbl_check_tensor(L, 1);
    float v = (float)luaL_checknumber(L, 2);
    for (uint64_t i = 0; i < t->n; i++)
        t->data[i] = v;
    lua_settop(L, 1);
    return 1;
}

/* t:copy_row(r, src, sr): row r of t (its slice along the first
 * dimension) becomes row sr of src; the rows must be of the same size. */
static int t_copy_row(lua_State *L)
{
    ltensor *t = nbl_check_tensor(L, 1), *src = nbl_check_tensor(L, 3);
    lua_Integer r = nbl_int(L, 2, "tensor:copy_row", "r", 1, (lua_Integer)t->dims[0]);
    lua_Integer sr = nbl_int(L, 4, "tensor:copy_row", "sr", 1, (lua_Integer)src->dims[0]);
    uint64_t row = t->n / t->dims[0], srow = src->n / src->dims[0];
    if (row != srow)
        return luaL_error(L, "tensor:copy_row: rows of %I and %I values", (lua_Integer)row, (lua_Integer)srow);
    memmove(t->data + (uint64_t)(r - 1) * row, src->data + (uint64_t)(sr - 1) * srow, row * sizeof *t->data);
    lua_settop(L, 1);
    return 1;
}

static int t_shape(lua_State *L)
{
    ltensor *t = nbl_check_tensor(L, 1);
    lua_createtable(L, (int)t->rank, 0);
    for (uint32_t i = 0; i < t->rank; i++) {
        lua_pushinteger(L, (lua_Integer)t->dims[i]);
        lua_rawseti(L, -2, i + 1);
    }
    return 1;
}

static int t_len(lua_State *L)
{
    lua_pushinteger(L, (lua_Integer)nbl_check_tensor(L, 1)->n);
    return 1;
}

static int t_table(lua_State *L)
{
    ltensor *t = nbl_check_tensor(L, 1);
    lua_createtable(L, (int)t->n, 0);
    for (uint64_t i = 0; i < t->n; i++) {
        lua_pushnumber(L, t->data[i]);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    return 1;
}

static int t_stats(lua_State *L) /* min, max, mean */
{
    ltensor *t = nbl_check_tensor(L, 1);
    double lo = INFINITY, hi = -INFINITY, s = 0;
    for (uint64_t i = 0; i < t->n; i++) {
        lo = fmin(lo, t->data[i]);
        hi = fmax(hi, t->data[i]);
        s += t->data[i];
    }
    lua_pushnumber(L, lo);
    lua_pushnumber(L, hi);
    lua_pushnumber(L, s / (double)t->n);
    return 3;
}

static int t_save(lua_State *L) /* t:save(path, name [, units]) */
{
    ltensor *t = nbl_check_tensor(L, 1);
    const char *path = luaL_checkstring(L, 2), *name = luaL_checkstring(L, 3), *units = luaL_optstring(L, 4, NULL);
    if (nm_array_save(path, name, t->data, t->rank, t->dims, units))
        return luaL_error(L, "%s", nb_last_error());
    return 0;
}

static int t_close(lua_State *L)
{
    ltensor *t = luaL_checkudata(L, 1, T_TENSOR);
    free(t->data);
    t->data = NULL;
    return 0;
}

static int t_tostring(lua_State *L)
{
    ltensor *t = luaL_checkudata(L, 1, T_TENSOR);
    if (!t->data) {
        lua_pushstring(L, "noble.tensor (closed)");
        return 1;
    }
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    luaL_addstring(&b, "noble.tensor(");
    for (uint32_t i = 0; i < t->rank; i++) {
        char d[32];
        snprintf(d, sizeof d, "%s%llu", i ? ", " : "", (unsigned long long)t->dims[i]);
        luaL_addstring(&b, d);
    }
    luaL_addstring(&b, ")");
    luaL_pushresult(&b);
    return 1;
}

static int l_load_array(lua_State *L) /* noble.load_array(path, name) */
{
    const char *path = luaL_checkstring(L, 1), *name = luaL_checkstring(L, 2);
    float *data;
    uint32_t rank;
    uint64_t dims[4];
    if (nm_array_load(path, name, &data, &rank, dims))
        return luaL_error(L, "%s", nb_last_error());
    ltensor *t = lua_newuserdatauv(L, sizeof *t, 0);
    memset(t, 0, sizeof *t);
    luaL_setmetatable(L, T_TENSOR);
    t->data = data;
    t->rank = rank;
    t->n = 1;
    for (uint32_t i = 0; i < rank; i++) {
        t->dims[i] = dims[i];
        t->n *= dims[i];
    }
    return 1;
}

/* --------------------------------------------------------------- contexts */

typedef struct lcontext {
    nb_context *ctx;
    int models; /* open models made on it */
} lcontext;

static lcontext *check_context(lua_State *L, int i)
{
    lcontext *c = luaL_checkudata(L, i, T_CONTEXT);
    if (!c->ctx)
        luaL_error(L, "the device context was closed");
    return c;
}

/* Validation messages of the contexts closed so far: a script whose device
 * got any fails (run_script), as every test does (tests/nb_test.h). */
static uint32_t validation_messages;

static void report_validation(nb_context *ctx)
{
    uint32_t n = ctx ? nb_validation_count(ctx) : 0;
    for (uint32_t i = 0; i < n && i < 8; i++)
        fprintf(stderr, "noble: Vulkan validation: %s\n", nb_validation_message(ctx, i));
    if (n > 8)
        fprintf(stderr, "noble: ... %u Vulkan validation message(s) in all\n", n);
    validation_messages += n;
}

static int c_close(lua_State *L)
{
    lcontext *c = luaL_checkudata(L, 1, T_CONTEXT);
    if (c->ctx && c->models > 0)
        return luaL_error(L, "the device context still has %d open model(s): close them first", c->models);
    report_validation(c->ctx);
    nb_context_destroy(c->ctx);
    c->ctx = NULL;
    return 0;
}

static void push_device(lua_State *L, const nb_device_info *d)
{
    lua_createtable(L, 0, 12);
    lua_pushinteger(L, d->index);
    lua_setfield(L, -2, "index");
    lua_pushstring(L, d->name);
    lua_setfield(L, -2, "name");
    lua_pushstring(L, nb_device_type_name(d->type));
    lua_setfield(L, -2, "type");
    lua_pushstring(L, d->vendor);
    lua_setfield(L, -2, "vendor");
    lua_pushstring(L, d->driver_info[0] ? d->driver_info : d->driver_version_str);
    lua_setfield(L, -2, "driver");
    lua_pushstring(L, d->api_version_str);
    lua_setfield(L, -2, "api_version");
    lua_pushinteger(L, (lua_Integer)d->device_local_bytes);
    lua_setfield(L, -2, "memory_bytes");
    lua_pushboolean(L, d->unified_memory);
    lua_setfield(L, -2, "unified_memory");
    if (d->threads) {
        lua_pushinteger(L, d->threads);
        lua_setfield(L, -2, "threads");
        lua_pushstring(L, d->simd);
        lua_setfield(L, -2, "simd");
    }
}

static int c_info(lua_State *L)
{
    nb_context *ctx = check_context(L, 1)->ctx;
    push_device(L, nb_context_device(ctx));
    lua_pushboolean(L, nb_context_gpu_config(ctx));
    lua_setfield(L, -2, "gpu_config");
    return 1;
}

/* noble.device([{validation = bool}]): a device context (the default device,
 * or NOBLE_DEVICE's). */
static int l_device(lua_State *L)
{
    nb_context_options o;
    nb_context_options_default(&o);
    if (!lua_isnoneornil(L, 1)) {
        static const char *const known[] = {"validation", "backend", "threads", "gpu_config", NULL};
        luaL_checktype(L, 1, LUA_TTABLE);
        nbl_check_keys(L, 1, "noble.device", known);
        lua_getfield(L, 1, "backend");
        if (lua_type(L, -1) == LUA_TSTRING && strcmp(lua_tostring(L, -1), "cpu") == 0)
            o.backend = NB_BACKEND_CPU;
        else if (lua_type(L, -1) == LUA_TSTRING && strcmp(lua_tostring(L, -1), "vulkan") == 0)
            o.backend = NB_BACKEND_VULKAN;
        else if (!lua_isnil(L, -1) && !(lua_type(L, -1) == LUA_TSTRING && strcmp(lua_tostring(L, -1), "auto") == 0))
            return luaL_error(L, "noble.device: backend = %s: expected \"auto\", \"vulkan\" or \"cpu\"",
                              value_text(L, -1));
        lua_pop(L, 1);
        lua_getfield(L, 1, "threads");
        if (!lua_isnil(L, -1))
            o.threads = (uint32_t)nbl_int(L, -1, "noble.device", "threads", 1, 1024);
        lua_pop(L, 1);
        lua_getfield(L, 1, "gpu_config");
        if (lua_isboolean(L, -1))
            o.gpu_config = lua_toboolean(L, -1);
        else if (!lua_isnil(L, -1))
            return luaL_error(L, "noble.device: gpu_config = %s: expected true or false", value_text(L, -1));
        lua_pop(L, 1);
        lua_getfield(L, 1, "validation");
        if (lua_type(L, -1) == LUA_TSTRING && strcmp(lua_tostring(L, -1), "sync") == 0)
            o.validation = 2; /* with synchronization validation */
        else if (lua_isboolean(L, -1))
            o.validation = lua_toboolean(L, -1);
        else if (!lua_isnil(L, -1))
            return luaL_error(L, "noble.device: validation = %s: expected true, false or \"sync\"",
                              value_text(L, -1));
        lua_pop(L, 1);
    }
    lcontext *c = lua_newuserdatauv(L, sizeof *c, 0);
    c->ctx = NULL;
    c->models = 0;
    luaL_setmetatable(L, T_CONTEXT);
    if (nb_context_create(&o, &c->ctx))
        return luaL_error(L, "%s", nb_last_error());
    return 1;
}

/* Pushes the context models use when none is given: made on first use (so
 * before any model on it, which makes Lua finalise it after them), kept in
 * the registry, closed with the state or by noble.close(). */
static lcontext *push_default_context(lua_State *L)
{
    if (lua_getfield(L, LUA_REGISTRYINDEX, "noble.default_context") == LUA_TUSERDATA) {
        lcontext *c = lua_touserdata(L, -1);
        if (c->ctx)
            return c;
    }
    lua_pop(L, 1);
    lua_pushcfunction(L, l_device);
    lua_call(L, 0, 1);
    lua_pushvalue(L, -1);
    lua_setfield(L, LUA_REGISTRYINDEX, "noble.default_context");
    return lua_touserdata(L, -1);
}

static int l_devices(lua_State *L)
{
    nb_device_info d[16];
    uint32_t n = 0;
    nb_status ls = nb_devices_list(d, 16, &n, NULL);
    if (ls == NB_ERR_UNSUPPORTED) /* built without Vulkan (NOBLE_VULKAN=OFF): no Vulkan devices */
        n = 0;
    else if (ls)
        return luaL_error(L, "%s", nb_last_error());
    uint32_t chosen = 0;
    int ok = nb_device_choose(&chosen) == NB_OK;
    lua_createtable(L, (int)n, 0);
    for (uint32_t i = 0; i < n; i++) {
        push_device(L, &d[i]);
        lua_pushboolean(L, ok && i == chosen);
        lua_setfield(L, -2, "chosen");
        lua_rawseti(L, -2, i + 1);
    }
    return 1;
}

static int l_close_all(lua_State *L)
{
    if (lua_getfield(L, LUA_REGISTRYINDEX, "noble.default_context") == LUA_TUSERDATA) {
        lua_pushcfunction(L, c_close);
        lua_insert(L, -2);
        lua_call(L, 1, 0);
    }
    return 0;
}

/* ----------------------------------------------------------------- models */

typedef struct lmodel {
    nm_model *m;
    lcontext *ctx; /* kept alive through the model's user value */
    nm_config c;
    nm_adamw opt;
    uint64_t step, epoch;
    nm_rng rng;
    int training;
    uint32_t max_batch;
    double best_metric;
    char *state; /* the training script's state from the checkpoint, or NULL */
} lmodel;

static lmodel *check_model(lua_State *L, int i)
{
    lmodel *m = luaL_checkudata(L, i, T_MODEL);
    if (!m->m)
        luaL_error(L, "the model was closed");
    return m;
}

/* The largest max_batch a model takes (traces per call; the device splits
 * them further into micro-batches that fit its buffers). */
#define MAX_BATCH 65536

/* A configuration or embedding count: the range here only keeps the value
 * from wrapping; nm_config_check and nm_embedding_check give the real one. */
static uint32_t opt_uint(lua_State *L, int t, const char *what, const char *k, uint32_t def)
{
    return (uint32_t)nbl_opt_int(L, t, what, k, def, 0, INT32_MAX);
}

/* An embedding table: {amp_freqs, feat_freqs, names = {..}, units = {..},
 * min = {..}, max = {..}, lo, hi, current_scale, voltage_scale}; missing
 * fields take NOBLE's defaults (nm_embedding_default). */
static void parse_embedding(lua_State *L, int t, nm_embedding *e)
{
    t = lua_absindex(L, t);
    luaL_checktype(L, t, LUA_TTABLE);
    static const char *const known[] = {"amp_freqs", "feat_freqs", "names", "units", "min", "max", "lo", "hi",
                                        "current_scale", "voltage_scale", NULL};
    nbl_check_keys(L, t, "embedding", known);
    nm_embedding_default(e);
    e->amp_freqs = (uint32_t)nbl_opt_int(L, t, "embedding", "amp_freqs", e->amp_freqs, 0, 16);
    e->feat_freqs = (uint32_t)nbl_opt_int(L, t, "embedding", "feat_freqs", e->feat_freqs, 0, 16);
    e->lo = nbl_opt_num(L, t, "embedding", "lo", e->lo, -HUGE_VAL, HUGE_VAL, 0);
    e->hi = nbl_opt_num(L, t, "embedding", "hi", e->hi, -HUGE_VAL, HUGE_VAL, 0);
    e->current_scale = nbl_opt_num(L, t, "embedding", "current_scale", e->current_scale, 0, HUGE_VAL, 1);
    e->voltage_scale = nbl_opt_num(L, t, "embedding", "voltage_scale", e->voltage_scale, 0, HUGE_VAL, 1);
    lua_getfield(L, t, "names");
    if (lua_istable(L, -1)) {
        lua_Integer n = luaL_len(L, -1);
        if (n < 1 || n > NM_MAX_CODES)
            luaL_error(L, "embedding: names has %I entries: 1 to %d codes", n, NM_MAX_CODES);
        e->n_codes = (uint32_t)n;
        for (lua_Integer i = 0; i < n; i++) {
            lua_geti(L, -1, i + 1);
            snprintf(e->names[i], sizeof e->names[i], "%s", luaL_checkstring(L, -1));
            lua_pop(L, 1);
        }
    }
    lua_pop(L, 1);
    const char *arrays[3] = {"min", "max", "units"};
    for (int a = 0; a < 3; a++) {
        lua_getfield(L, t, arrays[a]);
        if (lua_istable(L, -1)) {
            if (luaL_len(L, -1) != (lua_Integer)e->n_codes)
                luaL_error(L, "embedding: %s has %I entries, one per code (%d) expected", arrays[a], luaL_len(L, -1),
                           (int)e->n_codes);
            for (uint32_t i = 0; i < e->n_codes; i++) {
                lua_geti(L, -1, i + 1);
                const int at = lua_gettop(L);
                const char *name = lua_pushfstring(L, "%s[%d]", arrays[a], (int)i + 1);
                if (a == 2)
                    snprintf(e->units[i], sizeof e->units[i], "%s", luaL_checkstring(L, at));
                else
                    (a ? e->max : e->min)[i] = nbl_num(L, at, "embedding", name, -HUGE_VAL, HUGE_VAL, 0);
                lua_pop(L, 2);
            }
        }
        lua_pop(L, 1);
    }
    if (nm_embedding_check(e))
        luaL_error(L, "%s", nb_last_error());
}

static void push_embedding(lua_State *L, const nm_embedding *e)
{
    lua_createtable(L, 0, 10);
    lua_pushinteger(L, e->amp_freqs);
    lua_setfield(L, -2, "amp_freqs");
    lua_pushinteger(L, e->feat_freqs);
    lua_setfield(L, -2, "feat_freqs");
    lua_pushnumber(L, e->lo);
    lua_setfield(L, -2, "lo");
    lua_pushnumber(L, e->hi);
    lua_setfield(L, -2, "hi");
    lua_pushnumber(L, e->current_scale);
    lua_setfield(L, -2, "current_scale");
    lua_pushnumber(L, e->voltage_scale);
    lua_setfield(L, -2, "voltage_scale");
    const char *keys[4] = {"names", "units", "min", "max"};
    for (int a = 0; a < 4; a++) {
        lua_createtable(L, (int)e->n_codes, 0);
        for (uint32_t i = 0; i < e->n_codes; i++) {
            if (a == 0)
                lua_pushstring(L, e->names[i]);
            else if (a == 1)
                lua_pushstring(L, e->units[i]);
            else
                lua_pushnumber(L, (a == 2 ? e->min : e->max)[i]);
            lua_rawseti(L, -2, i + 1);
        }
        lua_setfield(L, -2, keys[a]);
    }
}

/* noble.model{preset = "noble", length = 8580, checkpoint = path, max_batch = 16,
 *             training = true, seed = 0, context = ctx, <config fields>} */
static int l_model(lua_State *L)
{
    static const char *const known[] = {"preset", "in_channels", "out_channels", "width", "blocks", "modes",
                                        "lifting_channels", "projection_channels", "mlp_channels", "length",
                                        "checkpoint", "max_batch", "training", "seed", "context", "embedding",
                                        NULL};
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 1);
    nbl_check_keys(L, 1, "noble.model", known);
    /* every number is checked before the device or a file is touched */
    const char *const config_keys[] = {"in_channels", "out_channels", "width", "blocks", "modes",
                                       "lifting_channels", "projection_channels", "mlp_channels", "length"};
    for (size_t k = 0; k < sizeof config_keys / sizeof *config_keys; k++)
        opt_uint(L, 1, "noble.model", config_keys[k], 0);
    const uint32_t max_batch = (uint32_t)nbl_opt_int(L, 1, "noble.model", "max_batch", 16, 1, MAX_BATCH);
    const uint64_t seed = (uint64_t)nbl_opt_int(L, 1, "noble.model", "seed", 0, 0, LUA_MAXINTEGER);
    lua_getfield(L, 1, "training");
    if (!lua_isnil(L, -1) && !lua_isboolean(L, -1))
        return luaL_error(L, "noble.model: training = %s: expected true or false", value_text(L, -1));
    lua_pop(L, 1);
    lua_getfield(L, 1, "checkpoint");
    if (!lua_isnil(L, -1) && lua_type(L, -1) != LUA_TSTRING)
        return luaL_error(L, "noble.model: checkpoint = %s: expected a file name", value_text(L, -1));
    lua_pop(L, 1);
    lua_getfield(L, 1, "embedding");
    if (!lua_isnil(L, -1) && !lua_istable(L, -1))
        return luaL_error(L, "noble.model: embedding = %s: expected a table", value_text(L, -1));
    lua_pop(L, 1);
    lua_getfield(L, 1, "context"); /* index 2: the context, made first */
    lcontext *ctx;
    if (lua_isnil(L, 2)) {
        lua_pop(L, 1);
        ctx = push_default_context(L);
    } else {
        ctx = check_context(L, 2);
    }
    lmodel *m = lua_newuserdatauv(L, sizeof *m, 1); /* index 3 */
    memset(m, 0, sizeof *m);
    luaL_setmetatable(L, T_MODEL);
    lua_pushvalue(L, 2);
    lua_setiuservalue(L, 3, 1);
    m->ctx = ctx;
    nm_checkpoint ck;
    memset(&ck, 0, sizeof ck);
    lua_getfield(L, 1, "checkpoint");
    const char *path = lua_tostring(L, -1);
    lua_pop(L, 1);
    if (path) {
        if (nm_checkpoint_load(path, NULL, &ck))
            return luaL_error(L, "%s", nb_last_error());
        m->c = ck.config;
    } else {
        lua_getfield(L, 1, "preset");
        const char *preset = luaL_optstring(L, -1, "noble");
        lua_pop(L, 1);
        if (nm_config_preset(preset, &m->c))
            return luaL_error(L, "%s", nb_last_error());
        m->c.in_channels = opt_uint(L, 1, "noble.model", "in_channels", m->c.in_channels);
        m->c.out_channels = opt_uint(L, 1, "noble.model", "out_channels", m->c.out_channels);
        m->c.width = opt_uint(L, 1, "noble.model", "width", m->c.width);
        m->c.blocks = opt_uint(L, 1, "noble.model", "blocks", m->c.blocks);
        m->c.modes = opt_uint(L, 1, "noble.model", "modes", m->c.modes);
        m->c.lifting_channels = opt_uint(L, 1, "noble.model", "lifting_channels", m->c.lifting_channels);
        m->c.projection_channels = opt_uint(L, 1, "noble.model", "projection_channels", m->c.projection_channels);
        m->c.mlp_channels = opt_uint(L, 1, "noble.model", "mlp_channels", m->c.mlp_channels);
    }
    m->c.length = opt_uint(L, 1, "noble.model", "length", m->c.length);
    m->max_batch = max_batch;
    lua_getfield(L, 1, "training");
    m->training = lua_isnil(L, -1) ? 1 : lua_toboolean(L, -1);
    lua_pop(L, 1);
    nm_adamw_default(&m->opt);
    nm_rng_seed(&m->rng, seed);
    nb_status s = nm_model_create(ctx->ctx, &m->c, m->max_batch, m->training, &m->m);
    if (!s)
        ctx->models++;
    if (!s) {
        if (path) {
            s = nm_model_set_params(m->m, ck.params);
            if (!s && m->training && ck.exp_avg)
                s = nm_model_set_moments(m->m, ck.exp_avg, ck.exp_avg_sq);
            m->opt = ck.opt;
            m->step = ck.step;
            m->epoch = ck.epoch;
            m->rng = ck.rng;
            m->best_metric = ck.best_metric;
            if (!s && ck.has_embedding)
                s = nm_model_set_embedding(m->m, &ck.embedding);
            if (!s && ck.state) {
                m->state = ck.state; /* taken over */
                ck.state = NULL;
            }
        } else {
            float *p = malloc(nm_param_count(&m->c) * sizeof *p);
            if (!p) {
                s = nb_error(NB_ERR_OUT_OF_MEMORY, "out of host memory");
            } else {
                nm_params_init(&m->c, seed, p);
                s = nm_model_set_params(m->m, p);
                free(p);
            }
        }
    }
    nm_checkpoint_free(&ck);
    if (s)
        return luaL_error(L, "%s", nb_last_error());
    lua_getfield(L, 1, "embedding");
    if (!lua_isnil(L, -1)) {
        nm_embedding e;
        parse_embedding(L, -1, &e);
        if (nm_model_set_embedding(m->m, &e))
            return luaL_error(L, "%s", nb_last_error());
    }
    lua_settop(L, 3);
    return 1;
}

static int m_close(lua_State *L)
{
    lmodel *m = luaL_checkudata(L, 1, T_MODEL);
    if (m->m) {
        nm_model_destroy(m->m);
        m->m = NULL;
        m->ctx->models--;
    }
    free(m->state);
    m->state = NULL;
    return 0;
}

/* The (batch, channels, length) of a tensor for this model. */
static uint32_t batch_of(lua_State *L, const lmodel *m, const ltensor *t, uint32_t channels, const char *what)
{
    if (t->rank != 3 || t->dims[1] != channels || t->dims[2] != m->c.length)
        luaL_error(L, "%s must have shape (batch, %d, %d), got rank %d (%I, %I, %I)", what, (int)channels,
                   (int)m->c.length, (int)t->rank, (lua_Integer)t->dims[0],
                   (lua_Integer)(t->rank > 1 ? t->dims[1] : 0), (lua_Integer)(t->rank > 2 ? t->dims[2] : 0));
    if (t->dims[0] > m->max_batch)
        luaL_error(L, "%s has a batch of %I, the model was made for at most %d (max_batch)", what,
                   (lua_Integer)t->dims[0], (int)m->max_batch);
    return (uint32_t)t->dims[0];
}

static int m_forward(lua_State *L)
{
    lmodel *m = check_model(L, 1);
    ltensor *x = nbl_check_tensor(L, 2);
    uint32_t b = batch_of(L, m, x, m->c.in_channels, "the input");
    uint64_t dims[3] = {b, m->c.out_channels, m->c.length};
    ltensor *y = nbl_tensor_new(L, 3, dims);
    if (nm_model_forward(m->m, x->data, b, y->data))
        return luaL_error(L, "%s", nb_last_error());
    return 1;
}

/* m:train_step(x, y [, {p = 4, lr = ...}]) -> loss (summed over the batch) */
/* The (batch, length) tensors of the embedded path: {current, codes [, voltage]}. */
static uint32_t embedded_batch(lua_State *L, lmodel *m, int t, ltensor **cur, ltensor **codes, ltensor **volt)
{
    nm_embedding e;
    if (!nm_model_embedding(m->m, &e))
        luaL_error(L, "the model has no embedding (give embedding = {...} or load a checkpoint that has one)");
    lua_getfield(L, t, "current");
    *cur = nbl_check_tensor(L, -1);
    lua_getfield(L, t, "codes");
    *codes = nbl_check_tensor(L, -1);
    if (volt) {
        lua_getfield(L, t, "voltage");
        *volt = nbl_check_tensor(L, -1);
        lua_pop(L, 1);
    }
    lua_pop(L, 2);
    ltensor *c = *cur;
    if (c->rank != 2 || c->dims[1] != m->c.length)
        luaL_error(L, "the current must have shape (batch, %d), got rank %d (%I, %I)", (int)m->c.length, (int)c->rank,
                   (lua_Integer)c->dims[0], (lua_Integer)(c->rank > 1 ? c->dims[1] : 0));
    if ((*codes)->rank != 2 || (*codes)->dims[0] != c->dims[0] || (*codes)->dims[1] != e.n_codes)
        luaL_error(L, "the codes must have shape (%I, %d)", (lua_Integer)c->dims[0], (int)e.n_codes);
    if (volt && ((*volt)->rank != 2 || (*volt)->dims[0] != c->dims[0] || (*volt)->dims[1] != m->c.length))
        luaL_error(L, "the voltage must have shape (%I, %d)", (lua_Integer)c->dims[0], (int)m->c.length);
    if (c->dims[0] > m->max_batch)
        luaL_error(L, "a batch of %I, the model was made for at most %d (max_batch)", (lua_Integer)c->dims[0],
                   (int)m->max_batch);
    return (uint32_t)c->dims[0];
}

/* m:predict(batch) or m:predict(current, codes) -> voltage (batch, length), mV */
static int m_predict(lua_State *L)
{
    lmodel *m = check_model(L, 1);
    ltensor *cur, *codes;
    uint32_t b;
    if (lua_istable(L, 2) && !lua_getmetatable(L, 2)) {
        b = embedded_batch(L, m, 2, &cur, &codes, NULL);
    } else {
        lua_settop(L, 3);
        lua_createtable(L, 0, 2);
        lua_pushvalue(L, 2);
        lua_setfield(L, -2, "current");
        lua_pushvalue(L, 3);
        lua_setfield(L, -2, "codes");
        b = embedded_batch(L, m, 4, &cur, &codes, NULL);
    }
    uint64_t dims[2] = {b, m->c.length};
    ltensor *y = nbl_tensor_new(L, 2, dims);
    if (nm_model_predict(m->m, cur->data, codes->data, b, y->data))
        return luaL_error(L, "%s", nb_last_error());
    return 1;
}

static int m_set_embedding(lua_State *L)
{
    lmodel *m = check_model(L, 1);
    nm_embedding e;
    parse_embedding(L, 2, &e);
    if (nm_model_set_embedding(m->m, &e))
        return luaL_error(L, "%s", nb_last_error());
    return 0;
}

static int m_embedding(lua_State *L)
{
    lmodel *m = check_model(L, 1);
    nm_embedding e;
    if (!nm_model_embedding(m->m, &e))
        return 0;
    push_embedding(L, &e);
    return 1;
}

/* The host loss terms of a training step: the sag term, the spike-count
 * term and the shape term, any of them (after the first, each one's
 * gradient goes through scratch and is added). */
typedef struct terms {
    int use_sag, use_spikes, use_shape;
    nm_sag_term sag;
    nm_spike_term spikes;
    nm_shape_term shape;
    float *scratch; /* [max batch][length] when more than one is used */
} terms;

static double terms_loss(void *user, uint32_t at, uint32_t b, uint32_t n, const float *v, float *g)
{
    terms *t = user;
    double sum = 0;
    int first = 1;
    for (int k = 0; k < 3; k++) {
        const int use = k == 0 ? t->use_sag : k == 1 ? t->use_spikes : t->use_shape;
        if (!use)
            continue;
        float *out = first ? g : t->scratch;
        sum += k == 0   ? nm_sag_loss(&t->sag, at, b, n, v, out)
               : k == 1 ? nm_spike_loss(&t->spikes, at, b, n, v, out)
                        : nm_shape_loss(&t->shape, at, b, n, v, out);
        if (!first)
            for (uint64_t i = 0; i < (uint64_t)b * n; i++)
                g[i] += t->scratch[i];
        first = 0;
    }
    return sum;
}

/* A number field already checked (step_options) or made by dataset:batch. */
static double opt_num(lua_State *L, int t, const char *k, double def)
{
    return nbl_opt_num(L, t, "model:train_step", k, def, -HUGE_VAL, HUGE_VAL, 0);
}

/* The options of a step, checked before anything runs: {p = 2 | 4, lr > 0,
 * weight_decay >= 0, sag = {...}, spikes = {...}, shape = {...}} (the terms
 * only on the embedded path). */
static int step_options(lua_State *L, int t, lmodel *m, const char *what, int batch_table)
{
    static const char *const known[] = {"p", "lr", "weight_decay", "sag", "spikes", "shape", NULL};
    static const char *const known_loss[] = {"p", NULL};
    if (!lua_isnoneornil(L, t))
        luaL_checktype(L, t, LUA_TTABLE);
    nbl_check_keys(L, t, what, m ? known : known_loss);
    int p = (int)nbl_opt_int(L, t, what, "p", 4, 2, 4);
    if (p == 3)
        luaL_error(L, "%s: p = 3: expected 2 or 4", what);
    if (m) {
        m->opt.lr = nbl_opt_num(L, t, what, "lr", m->opt.lr, 0, 1, 1);
        m->opt.weight_decay = nbl_opt_num(L, t, what, "weight_decay", m->opt.weight_decay, 0, 10, 0);
    }
    if (lua_istable(L, t)) {
        static const char *const sag_keys[] = {"lambda", "tau", "denom", NULL};
        static const char *const spike_keys[] = {"lambda", "threshold", "width", NULL};
        static const char *const shape_keys[] = {"lambda", NULL};
        const char *names[3] = {"sag", "spikes", "shape"};
        for (int k = 0; k < 3; k++) {
            lua_getfield(L, t, names[k]);
            if (!lua_isnil(L, -1)) {
                if (!batch_table)
                    luaL_error(L, "%s: %s needs a batch table (m:train_step(batch, opts))", what, names[k]);
                if (!lua_istable(L, -1))
                    luaL_error(L, "%s: %s = %s: expected a table", what, names[k], value_text(L, -1));
                const char *sub = lua_pushfstring(L, "%s: %s", what, names[k]);
                nbl_check_keys(L, -2, sub, k == 0 ? sag_keys : k == 1 ? spike_keys : shape_keys);
                nbl_opt_num(L, -2, sub, "lambda", 0, 0, 1e6, 0);
                if (k == 0) {
                    nbl_opt_num(L, -2, sub, "tau", 0.1, 0, 1e3, 1);
                    nbl_opt_num(L, -2, sub, "denom", 0, 0, HUGE_VAL, 0);
                } else if (k == 1) {
                    nbl_opt_num(L, -2, sub, "threshold", 0, -1e3, 1e3, 0);
                    nbl_opt_num(L, -2, sub, "width", 5, 0, 1e3, 1);
                }
                lua_pop(L, 1);
            }
            lua_pop(L, 1);
        }
    }
    return p;
}

/* The sag term of a batch table at index bt with options at so (checked by
 * step_options): the step's samples in each window from the batch's starts
 * and stride, the hyperpolarising traces, and the denominator (the options'
 * denom when given: a batch that is a share of a larger one, docs/mpi.md). */
static void sag_setup(lua_State *L, lmodel *m, int bt, int so, const ltensor *codes, const ltensor *volt, uint32_t b,
                      nm_sag_term *t)
{
    double src_dt = opt_num(L, bt, "source_dt_ms", 0), t_on = opt_num(L, bt, "stim_start_ms", -1),
           t_off = opt_num(L, bt, "stim_end_ms", -1), stride = opt_num(L, bt, "stride", 1);
    if (!(src_dt > 0) || t_on < 0 || t_off <= t_on)
        luaL_error(L, "train_step: the sag term needs a batch from dataset:batch (its starts, stride "
                      "and stimulus times)");
    uint32_t *s0 = lua_newuserdatauv(L, b * 2 * sizeof *s0 + b, 0), *s1 = s0 + b;
    uint8_t *use = (uint8_t *)(s1 + b);
    lua_getfield(L, bt, "starts");
    for (uint32_t i = 0; i < b; i++) {
        lua_geti(L, -1, i + 1);
        double start = lua_tonumber(L, -1);
        lua_pop(L, 1);
        double a = round((t_on / src_dt - start) / stride), z = round((t_off / src_dt - start) / stride);
        s0[i] = (uint32_t)fmax(0, fmin(a, m->c.length - 1));
        s1[i] = (uint32_t)fmax(s0[i] + 1, fmin(z, m->c.length));
        use[i] = codes->data[(uint64_t)i * codes->dims[1]] < 0; /* hyperpolarising steps */
    }
    lua_pop(L, 1);
    *t = (nm_sag_term){.lambda = so ? opt_num(L, so, "lambda", 25) : 0,
                       .tau_mV = so ? opt_num(L, so, "tau", 0.1) : 0.1,
                       .batch = b, .n = m->c.length, .step0 = s0, .step1 = s1, .use = use, .target = volt->data};
    if (nm_sag_prepare(t))
        luaL_error(L, "train_step: %s", nb_last_error());
    if (so) {
        double d = opt_num(L, so, "denom", -1);
        if (d >= 0)
            t->denom = d;
    }
}

/* m:train_step(batch, opts) (step = 1) and m:backward(batch, opts) (step = 0)
 * on the embedded path: -> loss, term. The userdata sag_setup makes stay on
 * the stack until the call returns. */
static int embedded_train(lua_State *L, lmodel *m, int step)
{
    const char *what = step ? "model:train_step" : "model:backward";
    ltensor *cur, *codes, *volt;
    uint32_t b = embedded_batch(L, m, 2, &cur, &codes, &volt);
    int p = step_options(L, 3, m, what, 1);
    double loss, term = 0;
    nb_status s;
    int sag = lua_istable(L, 3) && lua_getfield(L, 3, "sag") == LUA_TTABLE ? lua_gettop(L) : 0;
    int spk = lua_istable(L, 3) && lua_getfield(L, 3, "spikes") == LUA_TTABLE ? lua_gettop(L) : 0;
    int shp = lua_istable(L, 3) && lua_getfield(L, 3, "shape") == LUA_TTABLE ? lua_gettop(L) : 0;
    terms tm = {0};
    if (sag) { /* NOBLE's sag fine-tune: {lambda = 25, tau = 0.1 (mV) [, denom]} */
        sag_setup(L, m, 2, sag, codes, volt, b, &tm.sag);
        tm.use_sag = 1;
    }
    if (spk) {
        /* the spike-count term: {lambda = 1, threshold = -20 (mV), width = 5 (mV)} */
        tm.spikes = (nm_spike_term){.lambda = opt_num(L, spk, "lambda", 1),
                                    .threshold_mV = opt_num(L, spk, "threshold", -20),
                                    .width_mV = opt_num(L, spk, "width", 5), .batch = b, .n = m->c.length,
                                    .target = volt->data};
        if (nm_spike_prepare(&tm.spikes))
            return luaL_error(L, "train_step: %s", nb_last_error());
        tm.use_spikes = 1;
    }
    if (shp) {
        /* the shape term: {lambda = 1} */
        tm.shape = (nm_shape_term){.lambda = opt_num(L, shp, "lambda", 1), .batch = b, .n = m->c.length,
                                   .target = volt->data,
                                   .scratch = lua_newuserdatauv(L, nm_shape_scratch_bytes(m->c.length), 0)};
        if (nm_shape_prepare(&tm.shape))
            return luaL_error(L, "train_step: %s", nb_last_error());
        tm.use_shape = 1;
    }
    if (tm.use_sag + tm.use_spikes + tm.use_shape > 1)
        tm.scratch = lua_newuserdatauv(L, (size_t)b * m->c.length * sizeof *tm.scratch, 0);
    if (!step)
        s = nm_model_backward_embedded(m->m, cur->data, codes->data, volt->data, b, p,
                                       sag || spk || shp ? terms_loss : NULL, &tm, &loss, &term);
    else if (sag || spk || shp)
        s = nm_model_train_step_term(m->m, cur->data, codes->data, volt->data, b, p, terms_loss, &tm, &m->opt,
                                     m->step + 1, &loss, &term);
    else
        s = nm_model_train_step_embedded(m->m, cur->data, codes->data, volt->data, b, p, &m->opt, m->step + 1,
                                         &loss);
    if (s)
        return luaL_error(L, "%s", nb_last_error());
    if (step)
        m->step++;
    lua_pushnumber(L, loss);
    lua_pushnumber(L, term);
    return 2;
}

static int m_train_step(lua_State *L)
{
    lmodel *m = check_model(L, 1);
    if (lua_istable(L, 2) && !lua_getmetatable(L, 2)) /* m:train_step(batch [, opts]) */
        return embedded_train(L, m, 1);
    ltensor *x = nbl_check_tensor(L, 2), *y = nbl_check_tensor(L, 3);
    uint32_t b = batch_of(L, m, x, m->c.in_channels, "the input");
    if (batch_of(L, m, y, m->c.out_channels, "the target") != b)
        return luaL_error(L, "input and target batches differ");
    int p = step_options(L, 4, m, "model:train_step", 0);
    double loss;
    if (nm_model_train_step(m->m, x->data, y->data, b, p, &m->opt, m->step + 1, &loss))
        return luaL_error(L, "%s", nb_last_error());
    m->step++;
    lua_pushnumber(L, loss);
    return 1;
}

/* m:backward(batch [, {p, sag, spikes, shape}]) -> loss, term: a training
 * step's forward and gradients without the optimiser step (the model's
 * step count stays); then m:grads, m:set_grads and m:adamw_step. */
static int m_backward(lua_State *L)
{
    lmodel *m = check_model(L, 1);
    if (!(lua_istable(L, 2) && !lua_getmetatable(L, 2)))
        return luaL_error(L, "model:backward: expected a batch table (dataset:batch)");
    return embedded_train(L, m, 0);
}

/* m:sag_denominator(batch [, {tau = 0.1}]) -> the sag term's denominator over
 * the batch: sum of sag(target)^2 over its hyperpolarising traces (the ranks'
 * shares of a batch add theirs to give the batch's, docs/mpi.md) */
static int m_sag_denominator(lua_State *L)
{
    lmodel *m = check_model(L, 1);
    if (!(lua_istable(L, 2) && !lua_getmetatable(L, 2)))
        return luaL_error(L, "model:sag_denominator: expected a batch table (dataset:batch)");
    static const char *const known[] = {"tau", NULL};
    lua_settop(L, 3);
    if (!lua_isnil(L, 3))
        luaL_checktype(L, 3, LUA_TTABLE);
    nbl_check_keys(L, 3, "model:sag_denominator", known);
    nbl_opt_num(L, 3, "model:sag_denominator", "tau", 0.1, 0, 1e3, 1);
    ltensor *cur, *codes, *volt;
    uint32_t b = embedded_batch(L, m, 2, &cur, &codes, &volt);
    nm_sag_term t;
    sag_setup(L, m, 2, lua_istable(L, 3) ? 3 : 0, codes, volt, b, &t);
    lua_pushnumber(L, t.denom);
    return 1;
}

static ltensor *param_tensor(lua_State *L, lmodel *m, int i, const char *what)
{
    const uint64_t P = nm_param_count(&m->c);
    if (lua_isnoneornil(L, i)) {
        uint64_t dims[1] = {P};
        return nbl_tensor_new(L, 1, dims);
    }
    ltensor *t = nbl_check_tensor(L, i);
    if (t->n != P)
        luaL_error(L, "%s: a tensor of %I values, the model has %I parameters", what, (lua_Integer)t->n,
                   (lua_Integer)P);
    lua_pushvalue(L, i);
    return t;
}

/* m:grads([tensor]) -> the gradient of the last step (P floats; into tensor
 * when given) */
static int m_grads(lua_State *L)
{
    lmodel *m = check_model(L, 1);
    ltensor *t = param_tensor(L, m, 2, "model:grads");
    if (nm_model_get_grads(m->m, t->data))
        return luaL_error(L, "%s", nb_last_error());
    return 1;
}

/* m:set_grads(tensor): the gradient the next m:adamw_step applies */
static int m_set_grads(lua_State *L)
{
    lmodel *m = check_model(L, 1);
    if (lua_isnoneornil(L, 2))
        return luaL_error(L, "model:set_grads: expected a tensor of the model's parameter count");
    ltensor *t = param_tensor(L, m, 2, "model:set_grads");
    if (nm_model_set_grads(m->m, t->data))
        return luaL_error(L, "%s", nb_last_error());
    return 0;
}

/* m:adamw_step([{lr, weight_decay}]): one AdamW step on the current gradient
 * (the model's step count goes up by one) */
static int m_adamw_step(lua_State *L)
{
    lmodel *m = check_model(L, 1);
    static const char *const known[] = {"lr", "weight_decay", NULL};
    if (!lua_isnoneornil(L, 2))
        luaL_checktype(L, 2, LUA_TTABLE);
    nbl_check_keys(L, 2, "model:adamw_step", known);
    m->opt.lr = nbl_opt_num(L, 2, "model:adamw_step", "lr", m->opt.lr, 0, 1, 1);
    m->opt.weight_decay = nbl_opt_num(L, 2, "model:adamw_step", "weight_decay", m->opt.weight_decay, 0, 10, 0);
    if (nm_model_adamw_step(m->m, &m->opt, m->step + 1))
        return luaL_error(L, "%s", nb_last_error());
    m->step++;
    return 0;
}

static int m_loss(lua_State *L) /* m:loss(x, y [, {p = 4}]) -> loss, without a step */
{
    lmodel *m = check_model(L, 1);
    ltensor *x = nbl_check_tensor(L, 2), *y = nbl_check_tensor(L, 3);
    uint32_t b = batch_of(L, m, x, m->c.in_channels, "the input");
    if (batch_of(L, m, y, m->c.out_channels, "the target") != b)
        return luaL_error(L, "input and target batches differ");
    double loss;
    if (nm_model_backward(m->m, x->data, y->data, b, step_options(L, 4, NULL, "model:loss", 0), &loss))
        return luaL_error(L, "%s", nb_last_error());
    lua_pushnumber(L, loss);
    return 1;
}

static int m_params(lua_State *L)
{
    lmodel *m = check_model(L, 1);
    uint64_t d[1] = {nm_param_count(&m->c)};
    ltensor *t = nbl_tensor_new(L, 1, d);
    if (nm_model_get_params(m->m, t->data))
        return luaL_error(L, "%s", nb_last_error());
    return 1;
}

static int m_set_params(lua_State *L)
{
    lmodel *m = check_model(L, 1);
    ltensor *t = nbl_check_tensor(L, 2);
    if (t->n != nm_param_count(&m->c))
        return luaL_error(L, "the model has %I parameters, the tensor %I", (lua_Integer)nm_param_count(&m->c),
                          (lua_Integer)t->n);
    if (nm_model_set_params(m->m, t->data))
        return luaL_error(L, "%s", nb_last_error());
    return 0;
}

static int m_save(lua_State *L) /* m:save(path): parameters, moments, step */
{
    lmodel *m = check_model(L, 1);
    const char *path = luaL_checkstring(L, 2);
    static const char *const known[] = {"epoch", "best_metric", "state", NULL};
    if (!lua_isnoneornil(L, 3)) {
        luaL_checktype(L, 3, LUA_TTABLE);
        nbl_check_keys(L, 3, "model:save", known);
        nbl_opt_int(L, 3, "model:save", "epoch", 0, 0, LUA_MAXINTEGER);
        lua_getfield(L, 3, "best_metric");
        if (!lua_isnil(L, -1) && lua_type(L, -1) != LUA_TNUMBER) /* inf: no best yet, NaN allowed */
            return luaL_error(L, "model:save: best_metric = %s: expected a number", value_text(L, -1));
        lua_getfield(L, 3, "state");
        if (!lua_isnil(L, -1) && lua_type(L, -1) != LUA_TSTRING)
            return luaL_error(L, "model:save: state = %s: expected a string", value_text(L, -1));
        lua_pop(L, 2);
    }
    nm_checkpoint ck;
    memset(&ck, 0, sizeof ck);
    ck.config = m->c;
    uint64_t P = nm_param_count(&m->c);
    ck.params = malloc(P * 4);
    if (m->training) {
        ck.exp_avg = malloc(P * 4);
        ck.exp_avg_sq = malloc(P * 4);
    }
    nb_status s = !ck.params || (m->training && (!ck.exp_avg || !ck.exp_avg_sq))
                      ? nb_error(NB_ERR_OUT_OF_MEMORY, "out of host memory")
                      : nm_model_get_params(m->m, ck.params);
    if (!s && m->training)
        s = nm_model_get_moments(m->m, ck.exp_avg, ck.exp_avg_sq);
    if (lua_istable(L, 3)) { /* {epoch =, best_metric =, state = "..."} */
        m->epoch = (uint64_t)nbl_opt_int(L, 3, "model:save", "epoch", (lua_Integer)m->epoch, 0, LUA_MAXINTEGER);
        lua_getfield(L, 3, "best_metric");
        if (!lua_isnil(L, -1))
            m->best_metric = lua_tonumber(L, -1);
        lua_pop(L, 1);
        lua_getfield(L, 3, "state");
        if (!lua_isnil(L, -1)) {
            const char *st = luaL_checkstring(L, -1);
            free(m->state);
            m->state = strdup(st);
        }
        lua_pop(L, 1);
    }
    ck.opt = m->opt;
    ck.step = m->step;
    ck.epoch = m->epoch;
    ck.rng = m->rng;
    ck.best_metric = m->best_metric;
    ck.has_embedding = nm_model_embedding(m->m, &ck.embedding);
    ck.state = m->state;
    if (!s)
        s = nm_checkpoint_save(path, &ck);
    ck.state = NULL; /* not ours to free */
    nm_checkpoint_free(&ck);
    if (s)
        return luaL_error(L, "%s", nb_last_error());
    return 0;
}

static int m_info(lua_State *L)
{
    lmodel *m = check_model(L, 1);
    lua_createtable(L, 0, 16);
#define SETI(k, v)                                                                                 \
    lua_pushinteger(L, (lua_Integer)(v));                                                          \
    lua_setfield(L, -2, k)
#define SET(k, v)                                                                                  \
    lua_pushinteger(L, (lua_Integer)(v));                                                          \
    lua_setfield(L, -2, k)
    SET("parameters", nm_param_count(&m->c));
    SET("in_channels", m->c.in_channels);
    SET("out_channels", m->c.out_channels);
    SET("width", m->c.width);
    SET("blocks", m->c.blocks);
    SET("modes", m->c.modes);
    SET("length", m->c.length);
    SET("max_batch", m->max_batch);
    SET("step", m->step);
#undef SET
    lua_pushstring(L, m->c.preset);
    lua_setfield(L, -2, "preset");
    lua_pushnumber(L, m->opt.lr);
    lua_setfield(L, -2, "lr");
    lua_pushinteger(L, (lua_Integer)m->epoch);
    lua_setfield(L, -2, "epoch");
    lua_pushnumber(L, m->best_metric);
    lua_setfield(L, -2, "best_metric");
    SETI("lifting_channels", m->c.lifting_channels);
    SETI("projection_channels", m->c.projection_channels);
    SETI("mlp_channels", m->c.mlp_channels);
    if (m->state) {
        lua_pushstring(L, m->state);
        lua_setfield(L, -2, "state");
    }
    nm_embedding e;
    if (nm_model_embedding(m->m, &e)) {
        push_embedding(L, &e);
        lua_setfield(L, -2, "embedding");
    }
#undef SETI
    return 1;
}

/* --------------------------------------------------------------- features */

/* noble.step_current(tensor, row, amplitude_pA, geometry): row (1-based) of
 * a (batch, length) tensor becomes the operator's input current for a step
 * of that amplitude in the window geometry = {dt_ms, stim_start_ms,
 * stim_end_ms} (a checkpoint's, docs/checkpoint.md); models/window.c's
 * nm_window_step, the same code the embedding ABI runs. */
static int l_step_current(lua_State *L)
{
    ltensor *t = nbl_check_tensor(L, 1);
    if (t->rank != 2)
        return luaL_error(L, "noble.step_current: the tensor must have shape (batch, length), got rank %d",
                          (int)t->rank);
    lua_Integer row = nbl_int(L, 2, "noble.step_current", "row", 1, (lua_Integer)t->dims[0]);
    double amp = nbl_num(L, 3, "noble.step_current", "amplitude", -HUGE_VAL, HUGE_VAL, 0);
    luaL_checktype(L, 4, LUA_TTABLE);
    static const char *const need[] = {"dt_ms", "stim_start_ms", "stim_end_ms"};
    for (int k = 0; k < 3; k++) {
        if (lua_getfield(L, 4, need[k]) == LUA_TNIL)
            return luaL_error(L, "noble.step_current: the geometry has no %s (a checkpoint's geometry: dt_ms, "
                              "stim_start_ms, stim_end_ms)", need[k]);
        lua_pop(L, 1);
    }
    nm_window w;
    memset(&w, 0, sizeof w);
    w.length = (uint32_t)t->dims[1];
    w.dt_ms = nbl_opt_num(L, 4, "noble.step_current", "dt_ms", NAN, 0, HUGE_VAL, 1);
    w.stim_start_ms = nbl_opt_num(L, 4, "noble.step_current", "stim_start_ms", NAN, -HUGE_VAL, HUGE_VAL, 0);
    w.stim_end_ms = nbl_opt_num(L, 4, "noble.step_current", "stim_end_ms", NAN, -HUGE_VAL, HUGE_VAL, 0);
    if (nm_window_step(&w, amp, t->data + (uint64_t)(row - 1) * t->dims[1]))
        return luaL_error(L, "noble.step_current: %s", nb_last_error());
    return 0;
}

/* noble.features(trace, dt_ms, stim_start_ms, stim_end_ms [, trace_index]):
 * a table of the eFEL-named features of one voltage trace (mV): trace is a
 * tensor; with a rank > 1 tensor, trace_index (1-based, default 1) picks the
 * row of the last dimension. Undefined features are NaN. */
static int l_features(lua_State *L)
{
    ltensor *t = nbl_check_tensor(L, 1);
    double dt = nbl_num(L, 2, "noble.features", "dt", 0, 1e6, 1);
    double t0 = nbl_num(L, 3, "noble.features", "stim_start", -HUGE_VAL, HUGE_VAL, 0);
    double t1 = nbl_num(L, 4, "noble.features", "stim_end", -HUGE_VAL, HUGE_VAL, 0);
    uint64_t len = t->dims[t->rank - 1], rows = t->n / len;
    lua_Integer row = lua_isnoneornil(L, 5) ? 1 : nbl_int(L, 5, "noble.features", "row", 1, (lua_Integer)rows);
    double *v = malloc(len * sizeof *v), out[NM_FEAT_COUNT];
    if (!v)
        return luaL_error(L, "out of host memory");
    for (uint64_t i = 0; i < len; i++)
        v[i] = t->data[(uint64_t)(row - 1) * len + i];
    nb_status s = nm_features(v, len, dt, t0, t1, NULL, out);
    free(v);
    if (s)
        return luaL_error(L, "%s", nb_last_error());
    lua_createtable(L, 0, NM_FEAT_COUNT);
    for (int i = 0; i < NM_FEAT_COUNT; i++) {
        lua_pushnumber(L, out[i]);
        lua_setfield(L, -2, nm_feature_name(i));
    }
    return 1;
}

/* ----------------------------------------------------------------- module */

void nbl_new_class(lua_State *L, const char *name, const luaL_Reg *methods, lua_CFunction close,
                   lua_CFunction tostring)
{
    luaL_newmetatable(L, name);
    lua_newtable(L); /* __index */
    luaL_setfuncs(L, methods, 0);
    if (close) {
        lua_pushcfunction(L, close);
        lua_setfield(L, -2, "close");
    }
    lua_setfield(L, -2, "__index");
    if (close) {
        lua_pushcfunction(L, close);
        lua_setfield(L, -2, "__close");
        lua_pushcfunction(L, close);
        lua_setfield(L, -2, "__gc");
    }
    if (tostring) {
        lua_pushcfunction(L, tostring);
        lua_setfield(L, -2, "__tostring");
    }
    lua_pop(L, 1);
}

int nbl_open(lua_State *L)
{
    static const luaL_Reg tensor_m[] = {{"get", t_get},     {"set", t_set},     {"fill", t_fill}, {"shape", t_shape}, {"copy_row", t_copy_row},
                                        {"table", t_table}, {"stats", t_stats}, {"save", t_save}, {NULL, NULL}};
    static const luaL_Reg context_m[] = {{"info", c_info}, {NULL, NULL}};
    static const luaL_Reg model_m[] = {{"forward", m_forward},       {"train_step", m_train_step},
                                       {"loss", m_loss},             {"params", m_params},
                                       {"backward", m_backward},     {"grads", m_grads},
                                       {"set_grads", m_set_grads},   {"adamw_step", m_adamw_step},
                                       {"sag_denominator", m_sag_denominator},
                                       {"set_params", m_set_params}, {"save", m_save},
                                       {"info", m_info},             {"predict", m_predict},
                                       {"set_embedding", m_set_embedding}, {"embedding", m_embedding},
                                       {NULL, NULL}};
    nbl_new_class(L, T_TENSOR, tensor_m, t_close, t_tostring);
    luaL_getmetatable(L, T_TENSOR);
    lua_pushcfunction(L, t_len);
    lua_setfield(L, -2, "__len");
    lua_pop(L, 1);
    nbl_new_class(L, T_CONTEXT, context_m, c_close, NULL);
    nbl_new_class(L, T_MODEL, model_m, m_close, NULL);
    static const luaL_Reg fns[] = {{"tensor", l_tensor}, {"load_array", l_load_array}, {"device", l_device},
                                   {"devices", l_devices}, {"model", l_model},         {"close", l_close_all},
                                   {"features", l_features}, {"plot", nbl_plot},
                                   {"step_current", l_step_current},
                                   {NULL, NULL}};
    luaL_newlib(L, fns);
    nbl_open_data(L);
    nbl_open_store(L);
    nbl_open_mpi(L);
    char v[32];
    snprintf(v, sizeof v, "%d.%d.%d", NB_VERSION_MAJOR, NB_VERSION_MINOR, NB_VERSION_PATCH);
    lua_pushstring(L, v);
    lua_setfield(L, -2, "version");
    /* the shipped checkpoint, the default of eval, population and
     * variability (NOBLE_PRETRAINED names another) */
    const char *pre = getenv("NOBLE_PRETRAINED");
    lua_pushstring(L, pre && *pre ? pre : NOBLE_PRETRAINED);
    lua_setfield(L, -2, "pretrained");
    return 1;
}

/* --------------------------------------------------------------- noble run */

/* The message handler of `noble run` and the standard commands. A usage
 * error (a table {status, message} from noble.cli) passes through as it is.
 * Otherwise the message gets its traceback, except in the standard commands
 * (upvalue 1 true) for an error raised on purpose, by error() or by the
 * noble module (the function that raised it is a C function): that is a
 * message for the user, one line without the script position. An error of
 * the Lua machine itself (indexing nil, ...) is a bug and keeps its
 * traceback everywhere. */
static int traceback(lua_State *L)
{
    if (lua_istable(L, 1))
        return 1;
    const char *msg = lua_tostring(L, 1);
    if (!msg)
        msg = luaL_tolstring(L, 1, NULL);
    lua_Debug ar;
    if (lua_toboolean(L, lua_upvalueindex(1)) && lua_getstack(L, 1, &ar) && lua_getinfo(L, "S", &ar) &&
        strcmp(ar.what, "C") == 0) {
        /* "path.lua:12: text" -> "text" */
        const char *c = msg;
        while (*c && *c != ':' && *c != '\n')
            c++;
        if (*c == ':' && c[1] >= '0' && c[1] <= '9') {
            const char *d = c + 1;
            while (*d >= '0' && *d <= '9')
                d++;
            if (d[0] == ':' && d[1] == ' ')
                msg = d + 2;
        }
        /* "train: text" in `noble train` -> "text": the command names itself */
        const char *cmd = lua_tostring(L, lua_upvalueindex(2));
        size_t n = cmd ? strlen(cmd) : 0;
        if (n && strncmp(msg, cmd, n) == 0 && msg[n] == ':' && msg[n + 1] == ' ')
            msg += n + 2;
        lua_pushstring(L, msg);
        return 1;
    }
    luaL_traceback(L, L, msg, 1);
    return 1;
}

/* Runs script argv[0] with arguments argv[1..]; who prefixes messages;
 * brief: errors raised on purpose are one line without a traceback. */
static int run_script(const char *who, int argc, char **argv, int brief)
{
    lua_State *L = luaL_newstate();
    if (!L) {
        fprintf(stderr, "%s: cannot create a Lua state\n", who);
        return 1;
    }
    luaL_openlibs(L);
    luaL_requiref(L, "noble", nbl_open, 0);
    lua_pop(L, 1);
    /* require("noble.train") etc.: NOBLE_LUA_PATH, then the library next to
     * the program's sources (scripting/lib), before Lua's own path. */
    lua_getglobal(L, "package");
    const char *extra = getenv("NOBLE_LUA_PATH");
    lua_pushfstring(L, "%s%s" NOBLE_LUA_LIB "/?.lua;" NOBLE_LUA_LIB "/?/init.lua;", extra ? extra : "",
                    extra ? ";" : "");
    lua_getfield(L, -2, "path");
    lua_concat(L, 2);
    lua_setfield(L, -2, "path");
    lua_pop(L, 1);
    lua_createtable(L, argc, 1); /* arg, as the lua interpreter sets it */
    for (int i = 0; i < argc; i++) {
        lua_pushstring(L, argv[i]);
        lua_rawseti(L, -2, i);
    }
    lua_setglobal(L, "arg");
    int rc = 0;
    lua_pushboolean(L, brief);
    lua_pushstring(L, strncmp(who, "noble ", 6) == 0 ? who + 6 : who);
    lua_pushcclosure(L, traceback, 2);
    if (luaL_loadfile(L, argv[0]) != LUA_OK) {
        fprintf(stderr, "%s: %s\n", who, lua_tostring(L, -1));
        rc = 1;
    } else {
        for (int i = 1; i < argc; i++)
            lua_pushstring(L, argv[i]);
        if (lua_pcall(L, argc - 1, 0, 1) != LUA_OK) {
            if (lua_istable(L, -1)) { /* a usage error: its own message and status */
                lua_getfield(L, -1, "message");
                lua_getfield(L, -2, "status");
                fprintf(stderr, "%s\n", lua_isstring(L, -2) ? lua_tostring(L, -2) : "noble: an error without a message");
                rc = lua_isinteger(L, -1) ? (int)lua_tointeger(L, -1) : 1;
                lua_pop(L, 2);
            } else {
                fprintf(stderr, "%s: %s\n", who, lua_tostring(L, -1));
                rc = 1;
            }
        }
    }
    lua_close(L); /* closes every object still open, the default context last */
    if (validation_messages && rc == 0) {
        fprintf(stderr, "%s: %u Vulkan validation message(s) (NOBLE_VALIDATE): failing\n", who, validation_messages);
        rc = 1;
    }
    return rc;
}

int nbc_run(int argc, char **argv)
{
    if (argc < 1) {
        fprintf(stderr, "noble run: which script? (noble run script.lua [args])\n");
        return 2;
    }
    return run_script("noble run", argc, argv, 0);
}

/* noble train / noble eval: the standard scripts of scripting/examples. */
static int run_example(const char *who, const char *script, int argc, char **argv)
{
    char **v = malloc(((size_t)argc + 2) * sizeof *v);
    if (!v) {
        fprintf(stderr, "%s: out of memory\n", who);
        return 1;
    }
    v[0] = (char *)script;
    for (int i = 0; i < argc; i++)
        v[i + 1] = argv[i];
    v[argc + 1] = NULL;
    int rc = run_script(who, argc + 1, v, 1);
    free(v);
    return rc;
}

int nbc_train(int argc, char **argv)
{
    return run_example("noble train", NOBLE_LUA_EXAMPLES "/train.lua", argc, argv);
}

int nbc_eval(int argc, char **argv)
{
    return run_example("noble eval", NOBLE_LUA_EXAMPLES "/eval.lua", argc, argv);
}

int nbc_population(int argc, char **argv)
{
    return run_example("noble population", NOBLE_LUA_EXAMPLES "/population.lua", argc, argv);
}

int nbc_variability(int argc, char **argv)
{
    return run_example("noble variability", NOBLE_LUA_EXAMPLES "/variability.lua", argc, argv);
}
