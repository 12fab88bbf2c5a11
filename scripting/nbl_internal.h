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

/* Checked arguments (lua_noble.c): every number a user gives the module goes
 * through these, so a negative count never wraps to 4294967295, a NaN or a
 * fraction is never truncated, and the message names the function or option
 * (what), the argument (name), the value and the allowed range:
 *   "noble.model: max_batch = -1: expected an integer from 1 to 65536".
 * They raise a Lua error; they return only good values. */
lua_Integer nbl_int(lua_State *L, int idx, const char *what, const char *name, lua_Integer lo, lua_Integer hi);
/* A finite number in [lo, hi] (lo excluded when lo_open). */
double nbl_num(lua_State *L, int idx, const char *what, const char *name, double lo, double hi, int lo_open);
/* Optional fields of the option table at index t (t may be nil or none:
 * then def); a field that is present must pass the check. */
lua_Integer nbl_opt_int(lua_State *L, int t, const char *what, const char *key, lua_Integer def, lua_Integer lo,
                        lua_Integer hi);
double nbl_opt_num(lua_State *L, int t, const char *what, const char *key, double def, double lo, double hi,
                   int lo_open);
/* Every key of the option table at index t (if a table) must be in known
 * (NULL-terminated): "noble.model: unknown option 'max_btach' (known: ...)". */
void nbl_check_keys(lua_State *L, int t, const char *what, const char *const *known);

/* lua_data.c: noble.dataset, noble.rng and noble.metrics; registers the
 * classes and sets the functions in the module table at the stack top. */
void nbl_open_data(lua_State *L);
/* lua_store.c: noble.store, streaming HDF5 files; sets it in the module table at the stack top. */
void nbl_open_store(lua_State *L);
/* lua_mpi.c: noble.mpi (rank, size, collectives; docs/mpi.md); sets it in the
 * module table at the stack top. */
void nbl_open_mpi(lua_State *L);
/* lua_mpi.c, called by main: MPI_Init when built with MPI and launched as a
 * rank (returns non-zero on failure); at the end, MPI_Finalize, or MPI_Abort
 * of every rank when rc != 0 in a job of several ranks. Returns rc. */
int nbl_mpi_init(int *argc, char ***argv);
int nbl_mpi_finish(int rc);
/* The ranks of the job (1 without MPI) and this one's (0 without MPI), for
 * commands written in C. */
int nbl_mpi_size(void);
int nbl_mpi_rank(void);
/* Every rank's text (len bytes at s) in rank order, joined by sep, into *out
 * (malloc'd, NUL-terminated, *out_len bytes before the NUL): MPI_Allgatherv,
 * waited for by polling every millisecond, not spinning, so a rank that waits
 * leaves its cores to the others' work. Without MPI, s itself. Returns 0, or
 * -1 with a message in err. */
int nbl_mpi_allgather_text(const char *s, size_t len, char sep, char **out, size_t *out_len, char *err,
                           size_t cap);
/* A barrier of every rank, waited for by polling as above; 0 or -1 with err. */
int nbl_mpi_wait_all(char *err, size_t cap);

#endif
