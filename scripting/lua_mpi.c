/* lua_mpi.c - noble.mpi: the ranks of an MPI job as the Lua scripts see them
 * (docs/mpi.md). Built with MPI (NOBLE_HAVE_MPI, cmake -DNOBLE_MPI) and
 * launched by mpirun or srun, MPI is initialised in main (nbl_mpi_init) and
 * finalised or aborted at its end (nbl_mpi_finish). Otherwise, and when not
 * launched under MPI, this is rank 0 of 1 and every collective is the
 * identity. Only the scripting layer knows MPI; the runtime and models do not. */
#include "nb_lua.h"
#include "nbl_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifdef NOBLE_HAVE_MPI
#include <mpi.h>
#endif

static int g_rank = 0, g_size = 1, g_on = 0;

#ifdef NOBLE_HAVE_MPI
/* Whether a launcher started this process as a rank: Open MPI's mpirun,
 * PMIx (srun --mpi=pmix, mpirun), PMI-1/2 (srun --mpi=pmi2, MPICH).
 * NOBLE_MPI=1 forces MPI_Init (a singleton without mpirun), NOBLE_MPI=0 keeps
 * MPI off. */
static int launched(void)
{
    const char *f = getenv("NOBLE_MPI");
    if (f && *f)
        return strcmp(f, "0") != 0;
    static const char *const vars[] = {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "PMI_SIZE", NULL};
    for (int i = 0; vars[i]; i++)
        if (getenv(vars[i]))
            return 1;
    return 0;
}
#endif

int nbl_mpi_init(int *argc, char ***argv)
{
#ifdef NOBLE_HAVE_MPI
    if (!launched())
        return 0;
    if (MPI_Init(argc, argv) != MPI_SUCCESS) {
        fprintf(stderr, "noble: MPI_Init failed\n");
        return 1;
    }
    /* errors of MPI calls come back as codes, turned into Lua errors */
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &g_size);
    g_on = 1;
#else
    (void)argc;
    (void)argv;
#endif
    return 0;
}

int nbl_mpi_size(void)
{
    return g_size;
}

int nbl_mpi_rank(void)
{
    return g_rank;
}

#ifdef NOBLE_HAVE_MPI
/* Waits for a non-blocking operation by testing it every millisecond: a rank
 * that waits for slower ones (NEURON workers of `noble datagen` on the same
 * cores) sleeps instead of spinning in the MPI library's progress loop. */
static int wait_polled(MPI_Request *req)
{
    struct timespec ms = {0, 1000000};
    for (;;) {
        int done = 0, e = MPI_Test(req, &done, MPI_STATUS_IGNORE);
        if (e != MPI_SUCCESS || done)
            return e;
        nanosleep(&ms, NULL);
    }
}

static void mpi_message(int e, const char *what, char *err, size_t cap)
{
    char msg[MPI_MAX_ERROR_STRING];
    int n = 0;
    MPI_Error_string(e, msg, &n);
    snprintf(err, cap, "%s: rank %d of %d: %s", what, g_rank, g_size, msg);
}
#endif

int nbl_mpi_allgather_text(const char *s, size_t len, char sep, char **out, size_t *out_len, char *err,
                           size_t cap)
{
    *out = NULL;
    *out_len = 0;
    if (!g_on) {
        *out = malloc(len + 1);
        if (!*out) {
            snprintf(err, cap, "out of memory");
            return -1;
        }
        memcpy(*out, s, len);
        (*out)[len] = 0;
        *out_len = len;
        return 0;
    }
#ifdef NOBLE_HAVE_MPI
    if (len > 0x7fffffff) {
        snprintf(err, cap, "%llu bytes is over MPI's count limit", (unsigned long long)len);
        return -1;
    }
    int n = (int)len, e;
    int *lens = malloc(sizeof(int) * 2 * (size_t)g_size);
    if (!lens) {
        snprintf(err, cap, "out of memory");
        return -1;
    }
    int *offs = lens + g_size;
    MPI_Request req;
    e = MPI_Iallgather(&n, 1, MPI_INT, lens, 1, MPI_INT, MPI_COMM_WORLD, &req);
    if (e == MPI_SUCCESS)
        e = wait_polled(&req);
    if (e != MPI_SUCCESS) {
        mpi_message(e, "allgather", err, cap);
        free(lens);
        return -1;
    }
    size_t total = 0;
    for (int r = 0; r < g_size; r++) {
        if (total + (size_t)lens[r] + 1 > 0x7fffffff) {
            snprintf(err, cap, "allgather: over 2 GiB in all");
            free(lens);
            return -1;
        }
        offs[r] = (int)(total + (size_t)r); /* room for a separator before each but the first */
        total += (size_t)lens[r];
    }
    total += (size_t)g_size - 1;
    char *buf = malloc(total + 1);
    if (!buf) {
        snprintf(err, cap, "out of memory");
        free(lens);
        return -1;
    }
    for (int r = 1; r < g_size; r++)
        buf[offs[r] - 1] = sep;
    e = MPI_Iallgatherv(s, n, MPI_BYTE, buf, lens, offs, MPI_BYTE, MPI_COMM_WORLD, &req);
    if (e == MPI_SUCCESS)
        e = wait_polled(&req);
    free(lens);
    if (e != MPI_SUCCESS) {
        mpi_message(e, "allgather", err, cap);
        free(buf);
        return -1;
    }
    buf[total] = 0;
    *out = buf;
    *out_len = total;
    return 0;
#else
    (void)sep;
    (void)cap;
    return -1;
#endif
}

int nbl_mpi_wait_all(char *err, size_t cap)
{
#ifdef NOBLE_HAVE_MPI
    if (!g_on)
        return 0;
    MPI_Request req;
    int e = MPI_Ibarrier(MPI_COMM_WORLD, &req);
    if (e == MPI_SUCCESS)
        e = wait_polled(&req);
    if (e != MPI_SUCCESS) {
        mpi_message(e, "barrier", err, cap);
        return -1;
    }
#else
    (void)err;
    (void)cap;
#endif
    return 0;
}

int nbl_mpi_finish(int rc)
{
#ifdef NOBLE_HAVE_MPI
    if (!g_on)
        return rc;
    if (rc != 0 && g_size > 1) {
        /* the others may wait in a collective: end them all */
        fprintf(stderr, "noble: rank %d of %d failed (exit status %d): aborting all ranks\n", g_rank, g_size, rc);
        fflush(stderr);
        MPI_Abort(MPI_COMM_WORLD, rc);
    }
    MPI_Finalize();
#endif
    return rc;
}

#ifdef NOBLE_HAVE_MPI
static void check(lua_State *L, int e, const char *what)
{
    if (e == MPI_SUCCESS)
        return;
    char msg[MPI_MAX_ERROR_STRING];
    int n = 0;
    MPI_Error_string(e, msg, &n);
    luaL_error(L, "noble.mpi.%s: rank %d of %d: %s", what, g_rank, g_size, msg);
}
#endif

static int root_arg(lua_State *L, int i, const char *what)
{
    return lua_isnoneornil(L, i) ? 0 : (int)nbl_int(L, i, what, "root", 0, g_size - 1);
}

static int l_rank(lua_State *L)
{
    lua_pushinteger(L, g_rank);
    return 1;
}

static int l_size(lua_State *L)
{
    lua_pushinteger(L, g_size);
    return 1;
}

static int l_launched(lua_State *L)
{
    lua_pushboolean(L, g_on);
    return 1;
}

static int l_barrier(lua_State *L)
{
#ifdef NOBLE_HAVE_MPI
    if (g_on)
        check(L, MPI_Barrier(MPI_COMM_WORLD), "barrier");
#else
    (void)L;
#endif
    return 0;
}

/* allreduce_sum(number) -> number; (table of numbers) -> a new table;
 * (tensor) -> the tensor, summed in place (float32). */
static int l_allreduce_sum(lua_State *L)
{
    if (lua_type(L, 1) == LUA_TNUMBER) {
        double v = lua_tonumber(L, 1);
#ifdef NOBLE_HAVE_MPI
        if (g_on)
            check(L, MPI_Allreduce(MPI_IN_PLACE, &v, 1, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD), "allreduce_sum");
#endif
        lua_pushnumber(L, v);
        return 1;
    }
    if (lua_istable(L, 1)) {
        lua_Integer n = luaL_len(L, 1);
        double *v = lua_newuserdatauv(L, (size_t)(n > 0 ? n : 1) * sizeof(double), 0);
        for (lua_Integer i = 1; i <= n; i++) {
            lua_rawgeti(L, 1, i);
            int ok = 0;
            v[i - 1] = lua_tonumberx(L, -1, &ok);
            if (!ok)
                return luaL_error(L, "noble.mpi.allreduce_sum: element %d is not a number", (int)i);
            lua_pop(L, 1);
        }
#ifdef NOBLE_HAVE_MPI
        if (g_on && n > 0)
            check(L, MPI_Allreduce(MPI_IN_PLACE, v, (int)n, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD), "allreduce_sum");
#endif
        lua_createtable(L, (int)n, 0);
        for (lua_Integer i = 1; i <= n; i++) {
            lua_pushnumber(L, v[i - 1]);
            lua_rawseti(L, -2, i);
        }
        return 1;
    }
    nbl_tensor *t = nbl_check_tensor(L, 1);
#ifdef NOBLE_HAVE_MPI
    if (g_on && t->n > 0) {
        if (t->n > 0x7fffffff)
            return luaL_error(L, "noble.mpi.allreduce_sum: a tensor of %llu values is over MPI's count limit",
                              (unsigned long long)t->n);
        check(L, MPI_Allreduce(MPI_IN_PLACE, t->data, (int)t->n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD),
              "allreduce_sum");
    }
#else
    (void)t;
#endif
    lua_settop(L, 1);
    return 1;
}

/* allreduce_sum_fixed(x): allreduce_sum with a result that depends on the
 * rank count and the values alone, never on the MPI library's reduction
 * order, and is the same bits on every rank (docs/mpi.md, data-parallel
 * training). A number or a table of numbers: every rank's values gathered
 * (MPI_Allgather) and summed in rank order in double. A float32 tensor, in
 * place: a reduce-scatter by hand, then an allgather. Rank j owns the
 * slice [floor(P j / n), floor(P (j + 1) / n)) of the P values; MPI_Alltoallv
 * sends each rank's slice j to rank j, which sums the n contributions in rank
 * order in double and rounds once to float; MPI_Allgatherv gives every rank
 * every owner's slice. Each rank sends and receives 2 (n - 1) / n of the
 * tensor, as a ring allreduce does. */
static int l_allreduce_sum_fixed(lua_State *L)
{
    if (lua_type(L, 1) == LUA_TNUMBER || lua_istable(L, 1)) {
        const int scalar = lua_type(L, 1) == LUA_TNUMBER;
        lua_Integer k = scalar ? 1 : luaL_len(L, 1);
        if (k > 0x7fffffff / (g_size > 0 ? g_size : 1))
            return luaL_error(L, "noble.mpi.allreduce_sum_fixed: %I numbers is over MPI's count limit", k);
        double *v = lua_newuserdatauv(L, (size_t)(k > 0 ? k : 1) * (size_t)(g_size + 1) * sizeof(double), 0);
        double *all = v + k;
        for (lua_Integer i = 1; i <= k; i++) {
            int ok = 0;
            if (scalar) {
                v[0] = lua_tonumber(L, 1);
                break;
            }
            lua_rawgeti(L, 1, i);
            v[i - 1] = lua_tonumberx(L, -1, &ok);
            if (!ok)
                return luaL_error(L, "noble.mpi.allreduce_sum_fixed: element %d is not a number", (int)i);
            lua_pop(L, 1);
        }
#ifdef NOBLE_HAVE_MPI
        if (g_on && g_size > 1 && k > 0) {
            check(L, MPI_Allgather(v, (int)k, MPI_DOUBLE, all, (int)k, MPI_DOUBLE, MPI_COMM_WORLD),
                  "allreduce_sum_fixed");
            for (lua_Integer i = 0; i < k; i++) {
                double sum = 0;
                for (int r = 0; r < g_size; r++)
                    sum += all[(size_t)r * (size_t)k + (size_t)i];
                v[i] = sum;
            }
        }
#else
        (void)all;
#endif
        if (scalar) {
            lua_pushnumber(L, v[0]);
            return 1;
        }
        lua_createtable(L, (int)k, 0);
        for (lua_Integer i = 1; i <= k; i++) {
            lua_pushnumber(L, v[i - 1]);
            lua_rawseti(L, -2, i);
        }
        return 1;
    }
    nbl_tensor *t = nbl_check_tensor(L, 1);
#ifdef NOBLE_HAVE_MPI
    if (g_on && g_size > 1 && t->n > 0) {
        if (t->n > 0x7fffffff)
            return luaL_error(L, "noble.mpi.allreduce_sum_fixed: a tensor of %llu values is over MPI's count limit",
                              (unsigned long long)t->n);
        const int n = g_size;
        const uint64_t P = t->n;
        int *cnt = lua_newuserdatauv(L, sizeof(int) * 4 * (size_t)n, 0), *dsp = cnt + n, *rcnt = dsp + n,
            *rdsp = rcnt + n;
        for (int j = 0; j < n; j++) {
            uint64_t a = P * (uint64_t)j / (uint64_t)n, b = P * (uint64_t)(j + 1) / (uint64_t)n;
            cnt[j] = (int)(b - a);
            dsp[j] = (int)a;
        }
        const int mine = cnt[g_rank];
        for (int r = 0; r < n; r++) {
            rcnt[r] = mine;
            rdsp[r] = r * mine;
        }
        if ((uint64_t)mine * (uint64_t)n > 0x7fffffff)
            return luaL_error(L, "noble.mpi.allreduce_sum_fixed: over MPI's count limit");
        float *recv = lua_newuserdatauv(L, ((size_t)mine * (size_t)n + 1) * sizeof(float), 0);
        check(L, MPI_Alltoallv(t->data, cnt, dsp, MPI_FLOAT, recv, rcnt, rdsp, MPI_FLOAT, MPI_COMM_WORLD),
              "allreduce_sum_fixed");
        float *out = t->data + dsp[g_rank];
        for (int i = 0; i < mine; i++) {
            double sum = 0;
            for (int r = 0; r < n; r++)
                sum += recv[(size_t)r * (size_t)mine + (size_t)i];
            out[i] = (float)sum;
        }
        check(L, MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, t->data, cnt, dsp, MPI_FLOAT, MPI_COMM_WORLD),
              "allreduce_sum_fixed");
    }
#else
    (void)t;
#endif
    lua_settop(L, 1);
    return 1;
}

/* gather(string [, root]) -> on root a list of every rank's string in rank
 * order, elsewhere nil. Strings may hold any bytes. */
static int l_gather(lua_State *L)
{
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    int root = root_arg(L, 2, "noble.mpi.gather");
    if (!g_on) {
        lua_createtable(L, 1, 0);
        lua_pushvalue(L, 1);
        lua_rawseti(L, -2, 1);
        return 1;
    }
#ifdef NOBLE_HAVE_MPI
    if (len > 0x7fffffff)
        return luaL_error(L, "noble.mpi.gather: %llu bytes is over MPI's count limit", (unsigned long long)len);
    int n = (int)len;
    int *lens = NULL, *offs = NULL;
    char *buf = NULL;
    if (g_rank == root) {
        lens = lua_newuserdatauv(L, sizeof(int) * 2 * (size_t)g_size, 0);
        offs = lens + g_size;
    }
    check(L, MPI_Gather(&n, 1, MPI_INT, lens, 1, MPI_INT, root, MPI_COMM_WORLD), "gather");
    size_t total = 0;
    if (g_rank == root) {
        for (int r = 0; r < g_size; r++) {
            if (total + (size_t)lens[r] > 0x7fffffff)
                return luaL_error(L, "noble.mpi.gather: over 2 GiB in all");
            offs[r] = (int)total;
            total += (size_t)lens[r];
        }
        buf = lua_newuserdatauv(L, total ? total : 1, 0);
    }
    check(L, MPI_Gatherv(s, n, MPI_BYTE, buf, lens, offs, MPI_BYTE, root, MPI_COMM_WORLD), "gather");
    if (g_rank != root) {
        lua_pushnil(L);
        return 1;
    }
    lua_createtable(L, g_size, 0);
    for (int r = 0; r < g_size; r++) {
        lua_pushlstring(L, buf + offs[r], (size_t)lens[r]);
        lua_rawseti(L, -2, r + 1);
    }
    return 1;
#else
    (void)s;
    (void)len;
    (void)root;
    return 0;
#endif
}

/* bcast(value [, root]) -> root's value (a string, a number or nil) on every rank. */
static int l_bcast(lua_State *L)
{
    int root = root_arg(L, 2, "noble.mpi.bcast");
    if (!g_on) {
        lua_settop(L, 1);
        return 1;
    }
#ifdef NOBLE_HAVE_MPI
    /* kind: 0 nil, 1 integer, 2 float, 3 string; then the value */
    long long head[2] = {0, 0};
    double d = 0;
    size_t len = 0;
    const char *s = NULL;
    if (g_rank == root) {
        if (lua_isinteger(L, 1)) {
            head[0] = 1;
            head[1] = (long long)lua_tointeger(L, 1);
        } else if (lua_type(L, 1) == LUA_TNUMBER) {
            head[0] = 2;
            d = lua_tonumber(L, 1);
        } else if (lua_type(L, 1) == LUA_TSTRING) {
            s = lua_tolstring(L, 1, &len);
            if (len > 0x7fffffff)
                return luaL_error(L, "noble.mpi.bcast: %llu bytes is over MPI's count limit", (unsigned long long)len);
            head[0] = 3;
            head[1] = (long long)len;
        } else if (!lua_isnoneornil(L, 1)) {
            return luaL_error(L, "noble.mpi.bcast: expected a string, a number or nil, got %s", luaL_typename(L, 1));
        }
    }
    check(L, MPI_Bcast(head, 2, MPI_LONG_LONG, root, MPI_COMM_WORLD), "bcast");
    switch (head[0]) {
    case 1:
        lua_pushinteger(L, (lua_Integer)head[1]);
        return 1;
    case 2:
        check(L, MPI_Bcast(&d, 1, MPI_DOUBLE, root, MPI_COMM_WORLD), "bcast");
        lua_pushnumber(L, d);
        return 1;
    case 3: {
        char *buf = lua_newuserdatauv(L, head[1] ? (size_t)head[1] : 1, 0);
        if (g_rank == root)
            memcpy(buf, s, (size_t)head[1]);
        check(L, MPI_Bcast(buf, (int)head[1], MPI_BYTE, root, MPI_COMM_WORLD), "bcast");
        lua_pushlstring(L, buf, (size_t)head[1]);
        return 1;
    }
    default:
        lua_pushnil(L);
        return 1;
    }
#else
    (void)root;
    return 0;
#endif
}

/* abort(msg [, status]): on every rank of a job, ends the job with the
 * message (MPI_Abort); in one process, raises msg as an error. */
static int l_abort(lua_State *L)
{
    const char *msg = luaL_checkstring(L, 1);
    int status = lua_isnoneornil(L, 2) ? 1 : (int)nbl_int(L, 2, "noble.mpi.abort", "status", 1, 255);
#ifdef NOBLE_HAVE_MPI
    if (g_on && g_size > 1) {
        fprintf(stderr, "noble: rank %d of %d: %s: aborting all ranks\n", g_rank, g_size, msg);
        fflush(stderr);
        MPI_Abort(MPI_COMM_WORLD, status);
    }
#endif
    (void)msg;
    (void)status;
    lua_pushvalue(L, 1);
    return lua_error(L);
}

void nbl_open_mpi(lua_State *L)
{
    static const luaL_Reg fns[] = {{"rank", l_rank},
                                   {"size", l_size},
                                   {"launched", l_launched},
                                   {"barrier", l_barrier},
                                   {"allreduce_sum", l_allreduce_sum},
                                   {"allreduce_sum_fixed", l_allreduce_sum_fixed},
                                   {"gather", l_gather},
                                   {"bcast", l_bcast},
                                   {"abort", l_abort},
                                   {NULL, NULL}};
    luaL_newlib(L, fns);
#ifdef NOBLE_HAVE_MPI
    lua_pushboolean(L, 1);
#else
    lua_pushboolean(L, 0);
#endif
    lua_setfield(L, -2, "built");
    lua_setfield(L, -2, "mpi");
}
