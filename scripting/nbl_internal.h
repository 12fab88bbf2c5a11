/* nbl_internal.h - what the files of the scripting layer share and nothing
 * outside it sees: functions of the `noble` module that live in their own
 * files, registered by nbl_open (lua_noble.c). */
#ifndef NBL_INTERNAL_H
#define NBL_INTERNAL_H

#include <lauxlib.h>
#include <lua.h>
#include <stdint.h>

/* The tensor userdata (metatable NBL_TENSOR): float32 values, row-major.
 * Same layout as lua_noble.c's ltensor; data is NULL once closed. */
#define NBL_TENSOR "noble.tensor"
typedef struct nbl_tensor {
    float *data;
    uint64_t n;
    uint32_t rank;
    uint64_t dims[4];
} nbl_tensor;

/* noble.plot{...} (lua_plot.c): panels of lines, points and histograms
 * written to a PNG; docs/lua-api.md, "Plots". */
int nbl_plot(lua_State *L);

/* lua_noble.c: a new zero-filled tensor pushed on the stack (raises on bad
 * dimensions or no memory); the tensor at index i (raises if closed). */
nbl_tensor *nbl_tensor_new(lua_State *L, uint32_t rank, const uint64_t *dims);
nbl_tensor *nbl_check_tensor(lua_State *L, int i);
/* lua_noble.c: registers a class: methods in __index; close (may be NULL)
 * as close, __close and __gc; tostring (may be NULL) as __tostring. */
void nbl_new_class(lua_State *L, const char *name, const luaL_Reg *methods, lua_CFunction close,
                   lua_CFunction tostring);

/* lua_data.c: noble.dataset, noble.rng and noble.metrics; registers the
 * classes and sets the functions in the module table at the stack top. */
void nbl_open_data(lua_State *L);
/* lua_store.c: noble.store, streaming HDF5 files; sets it in the module table at the stack top. */
void nbl_open_store(lua_State *L);

#endif
