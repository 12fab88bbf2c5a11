/* lua_store.c - noble.store (docs/lua-api.md, "Stores"): the Lua face of
 * models/store.c, a streaming HDF5 writer whose datasets grow by appends.
 * A store that is closed, collected or left by an error (<close>) before
 * st:finish() leaves no file behind. */
#include "nbl_internal.h"
#include "nm_models.h"

#include <lauxlib.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define T_STORE "noble.store"

enum { OPEN, FINISHED, CLOSED };

typedef struct lstore {
    nm_store *s; /* NULL once finished or closed */
    int state;
} lstore; /* user value 1: the path, for messages */

static const char *store_path(lua_State *L, int i)
{
    lua_getiuservalue(L, i, 1);
    const char *p = lua_tostring(L, -1);
    lua_pop(L, 1); /* the string stays alive in the user value */
    return p ? p : "?";
}

static nm_store *check_store(lua_State *L, int i)
{
    lstore *st = luaL_checkudata(L, i, T_STORE);
    if (st->state != OPEN)
        luaL_error(L, "store %s was %s: it takes no more calls", store_path(L, i),
                   st->state == FINISHED ? "finished" : "closed");
    return st->s;
}

static int fail(lua_State *L) { return luaL_error(L, "%s", nb_last_error()); }

/* noble.store(path) */
static int l_store(lua_State *L)
{
    luaL_checkstring(L, 1);
    lstore *st = lua_newuserdatauv(L, sizeof *st, 1);
    st->s = NULL;
    st->state = CLOSED;
    luaL_setmetatable(L, T_STORE);
    lua_pushvalue(L, 1);
    lua_setiuservalue(L, -2, 1);
    if (nm_store_create(lua_tostring(L, 1), &st->s))
        return fail(L);
    st->state = OPEN;
    return 1;
}

/* st:close(): abandons an unfinished store, removing its file; also
 * __close and __gc. Closing twice, or after finish, does nothing. */
static int st_close(lua_State *L)
{
    lstore *st = luaL_checkudata(L, 1, T_STORE);
    if (st->state == OPEN) {
        nm_store_abort(st->s);
        st->s = NULL;
        st->state = CLOSED;
    }
    return 0;
}

/* st:finish() -> path */
static int st_finish(lua_State *L)
{
    nm_store *s = check_store(L, 1);
    lstore *st = lua_touserdata(L, 1);
    st->s = NULL;
    st->state = FINISHED;
    if (nm_store_finish(s)) { /* the store is gone either way, its file removed */
        st->state = CLOSED;
        return fail(L);
    }
    lua_getiuservalue(L, 1, 1);
    return 1;
}

/* st:dataset(name, {d1, ...} or {} or nil, {units = "mV", type = "float32" | "int32"}) */
static int st_dataset(lua_State *L)
{
    nm_store *s = check_store(L, 1);
    const char *name = luaL_checkstring(L, 2);
    uint64_t dims[3] = {0};
    lua_Integer rank = 0;
    if (!lua_isnoneornil(L, 3)) {
        luaL_checktype(L, 3, LUA_TTABLE);
        rank = luaL_len(L, 3);
        if (rank > 3)
            return luaL_error(L, "store:dataset '%s': rows of rank %d (0 to 3)", name, (int)rank);
        for (lua_Integer k = 0; k < rank; k++) {
            lua_geti(L, 3, k + 1);
            int ok;
            lua_Integer v = lua_tointegerx(L, -1, &ok);
            lua_pop(L, 1);
            if (!ok || v < 1)
                return luaL_error(L, "store:dataset '%s': row dimension %d is not a positive integer", name,
                                  (int)k + 1);
            dims[k] = (uint64_t)v;
        }
    }
    const char *units = NULL;
    int int32 = 0;
    if (!lua_isnoneornil(L, 4)) {
        luaL_checktype(L, 4, LUA_TTABLE);
        lua_pushnil(L);
        while (lua_next(L, 4)) {
            const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : "";
            if (strcmp(k, "units") == 0) {
                if (lua_type(L, -1) != LUA_TSTRING)
                    return luaL_error(L, "store:dataset '%s': units must be a string", name);
                units = lua_tostring(L, -1); /* alive: the option table holds it */
            } else if (strcmp(k, "type") == 0) {
                const char *t = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
                if (!t || (strcmp(t, "float32") != 0 && strcmp(t, "int32") != 0))
                    return luaL_error(L, "store:dataset '%s': type must be \"float32\" or \"int32\"", name);
                int32 = strcmp(t, "int32") == 0;
            } else {
                return luaL_error(L, "store:dataset '%s': unknown option '%s' (units, type)", name,
                                  luaL_tolstring(L, -2, NULL));
            }
            lua_pop(L, 1);
        }
    }
    nb_status e = int32 ? nm_store_dataset_int32(s, name, (uint32_t)rank, dims, units)
                        : nm_store_dataset(s, name, (uint32_t)rank, dims, units);
    return e ? fail(L) : 0;
}

/* A value for an int32 dataset: an integer in range, else a message. */
static int to_int32(double v, int32_t *out)
{
    if (!(v == floor(v)) || v < -2147483648.0 || v > 2147483647.0)
        return 0;
    *out = (int32_t)v;
    return 1;
}

/* Appends n rows from float values, converting to int32 piece by piece
 * when the dataset is int32 (pieces of whole rows, about 4 MiB). */
static int append_floats(lua_State *L, nm_store *s, const char *name, int int32, uint64_t rows, uint64_t row_elems,
                         const float *v)
{
    if (!int32)
        return nm_store_append(s, name, rows, v) ? fail(L) : 0;
    uint64_t per = (1u << 20) / row_elems;
    if (per < 1)
        per = 1;
    if (per > rows)
        per = rows;
    int32_t *buf = malloc(per * row_elems * sizeof *buf);
    if (!buf)
        return luaL_error(L, "store:append '%s': out of host memory", name);
    for (uint64_t r = 0; r < rows; r += per) {
        uint64_t m = rows - r < per ? rows - r : per;
        for (uint64_t i = 0; i < m * row_elems; i++) {
            const uint64_t at = r * row_elems + i;
            if (!to_int32(v[at], &buf[i])) {
                free(buf);
                return luaL_error(L, "store:append '%s': value %I (%f) is not an int32", name,
                                  (lua_Integer)(at + 1), (double)v[at]);
            }
        }
        if (nm_store_append_int32(s, name, m, buf)) {
            free(buf);
            return fail(L);
        }
    }
    free(buf);
    return 0;
}

static void shape_text(char *out, size_t cap, uint32_t rank, const uint64_t *dims)
{
    size_t k = (size_t)snprintf(out, cap, "(");
    for (uint32_t i = 0; i < rank && k < cap; i++)
        k += (size_t)snprintf(out + k, cap - k, "%s%llu", i ? ", " : "", (unsigned long long)dims[i]);
    if (k < cap)
        snprintf(out + k, cap - k, "%s)", rank == 1 ? "," : "");
}

/* st:append(name, tensor | {numbers} | number): a tensor (rows, row
 * shape...) or one row (row shape); for scalar rows also a list of
 * numbers or a number. */
static int st_append(lua_State *L)
{
    nm_store *s = check_store(L, 1);
    const char *name = luaL_checkstring(L, 2);
    int int32;
    uint32_t rank;
    uint64_t dims[3], elems = 1;
    if (nm_store_shape(s, name, &int32, &rank, dims, NULL))
        return fail(L);
    for (uint32_t k = 0; k < rank; k++)
        elems *= dims[k];
    if (luaL_testudata(L, 3, NBL_TENSOR)) {
        nbl_tensor *t = nbl_check_tensor(L, 3);
        uint64_t rows = 0;
        if (t->rank == rank + 1 && memcmp(t->dims + 1, dims, rank * sizeof *dims) == 0)
            rows = t->dims[0];
        else if (t->rank == rank && memcmp(t->dims, dims, rank * sizeof *dims) == 0)
            rows = 1;
        else {
            char have[96], want[96];
            shape_text(have, sizeof have, t->rank, t->dims);
            shape_text(want, sizeof want, rank, dims);
            return luaL_error(L, "store:append '%s': a tensor of shape %s is not rows of shape %s", name, have, want);
        }
        return append_floats(L, s, name, int32, rows, elems, t->data);
    }
    if (lua_type(L, 3) == LUA_TNUMBER || lua_type(L, 3) == LUA_TTABLE) {
        if (rank != 0) {
            char want[96];
            shape_text(want, sizeof want, rank, dims);
            return luaL_error(L, "store:append '%s': rows of shape %s come in a tensor (numbers are for scalar rows)",
                              name, want);
        }
        const int one = lua_type(L, 3) == LUA_TNUMBER;
        const lua_Integer n = one ? 1 : luaL_len(L, 3);
        if (n <= 0)
            return 0;
        void *buf = malloc((size_t)n * 4);
        if (!buf)
            return luaL_error(L, "store:append '%s': out of host memory", name);
        const int at = one ? 3 : -1;
        for (lua_Integer i = 0; i < n; i++) {
            if (!one)
                lua_geti(L, 3, i + 1);
            int ok = lua_type(L, at) == LUA_TNUMBER;
            if (ok && int32) {
                lua_Integer iv;
                if (lua_isinteger(L, at) && (iv = lua_tointeger(L, at)) >= INT32_MIN && iv <= INT32_MAX)
                    ((int32_t *)buf)[i] = (int32_t)iv;
                else
                    ok = to_int32(lua_tonumber(L, at), (int32_t *)buf + i);
            } else if (ok) {
                ((float *)buf)[i] = (float)lua_tonumber(L, at);
            }
            if (!one)
                lua_pop(L, 1);
            if (!ok) {
                free(buf);
                return luaL_error(L, "store:append '%s': entry %d is not %s", name, (int)i + 1,
                                  int32 ? "an int32" : "a number");
            }
        }
        nb_status e = int32 ? nm_store_append_int32(s, name, (uint64_t)n, buf)
                            : nm_store_append(s, name, (uint64_t)n, buf);
        free(buf);
        return e ? fail(L) : 0;
    }
    return luaL_error(L, "store:append '%s': expected a tensor, a list of numbers or a number, got %s", name,
                      luaL_typename(L, 3));
}

/* st:attr(name, number | string | {numbers} [, object]): object "" or "/"
 * (the default) is the root, else a dataset or group of the store. */
static int st_attr(lua_State *L)
{
    nm_store *s = check_store(L, 1);
    const char *name = luaL_checkstring(L, 2);
    const char *obj = luaL_optstring(L, 4, "");
    nb_status e;
    switch (lua_type(L, 3)) {
    case LUA_TNUMBER:
        e = nm_store_attr_double(s, obj, name, lua_tonumber(L, 3));
        break;
    case LUA_TSTRING:
        e = nm_store_attr_string(s, obj, name, lua_tostring(L, 3));
        break;
    case LUA_TTABLE: {
        lua_Integer n = luaL_len(L, 3);
        if (n < 1)
            return luaL_error(L, "store:attr '%s': an empty list", name);
        double *v = malloc((size_t)n * sizeof *v);
        if (!v)
            return luaL_error(L, "store:attr '%s': out of host memory", name);
        for (lua_Integer i = 0; i < n; i++) {
            lua_geti(L, 3, i + 1);
            int ok = lua_type(L, -1) == LUA_TNUMBER;
            v[i] = lua_tonumber(L, -1);
            lua_pop(L, 1);
            if (!ok) {
                free(v);
                return luaL_error(L, "store:attr '%s': entry %d is not a number", name, (int)i + 1);
            }
        }
        e = nm_store_attr_doubles(s, obj, name, (uint64_t)n, v);
        free(v);
        break;
    }
    default:
        return luaL_error(L, "store:attr '%s': expected a number, a string or a list of numbers, got %s", name,
                          luaL_typename(L, 3));
    }
    return e ? fail(L) : 0;
}

/* st:rows(name) -> the rows appended to dataset name so far */
static int st_rows(lua_State *L)
{
    nm_store *s = check_store(L, 1);
    uint64_t rows;
    if (nm_store_shape(s, luaL_checkstring(L, 2), NULL, NULL, NULL, &rows))
        return fail(L);
    lua_pushinteger(L, (lua_Integer)rows);
    return 1;
}

/* st:append_file(path [, copy_attrs]): every dataset of the finished store
 * file path appended to this store's (made where missing); with copy_attrs,
 * its root attributes too (how shards of ranks are joined, docs/mpi.md). */
static int st_append_file(lua_State *L)
{
    nm_store *s = check_store(L, 1);
    if (nm_store_append_file(s, luaL_checkstring(L, 2), lua_toboolean(L, 3)))
        return fail(L);
    return 0;
}

static int st_tostring(lua_State *L)
{
    lstore *st = luaL_checkudata(L, 1, T_STORE);
    lua_pushfstring(L, "noble.store(%s, %s)", store_path(L, 1),
                    st->state == OPEN ? "open" : st->state == FINISHED ? "finished" : "closed");
    return 1;
}

void nbl_open_store(lua_State *L)
{
    static const luaL_Reg methods[] = {{"dataset", st_dataset}, {"append", st_append}, {"attr", st_attr},
                                       {"rows", st_rows},       {"finish", st_finish}, {"close", st_close},
                                       {"append_file", st_append_file}, {NULL, NULL}};
    luaL_newmetatable(L, T_STORE);
    luaL_newlib(L, methods);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, st_close);
    lua_setfield(L, -2, "__close");
    lua_pushcfunction(L, st_close);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, st_tostring);
    lua_setfield(L, -2, "__tostring");
    lua_pop(L, 1);
    lua_pushcfunction(L, l_store);
    lua_setfield(L, -2, "store");
}
