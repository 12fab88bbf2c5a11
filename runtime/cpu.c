/* cpu.c - the native CPU backend: the runtime's API on the host's cores,
 * without Vulkan. Buffers are host memory, a kernel is the C function
 * registered under its GLSL name (nb_cpu_kernel_register), a recording is a
 * list of ops run in order at submit, and FFTs are FFTW plans (fft.c's host
 * path). One pool of threads serves the process; a context uses as many of
 * them as it was given. */
#include "nb_internal.h"

#include <fftw3.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------ registry */

typedef struct reg_entry {
    char name[64];
    nb_cpu_kernel_fn fn;
} reg_entry;

static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static reg_entry *reg;
static uint32_t nreg, capreg;

nb_status nb_cpu_kernel_register(const char *name, nb_cpu_kernel_fn fn)
{
    if (!name || !fn || strlen(name) >= sizeof reg->name)
        return nb__fail(NB_ERR_INVALID_ARGUMENT, "nb_cpu_kernel_register: a name of 1 to 63 characters and a function");
    pthread_mutex_lock(&reg_lock);
    nb_status s = NB_OK;
    uint32_t i = 0;
    while (i < nreg && strcmp(reg[i].name, name) != 0)
        i++;
    if (i == nreg) {
        reg_entry *r = nb__grow(reg, nreg, &capreg, sizeof *r, 32);
        if (!r)
            s = nb__fail(NB_ERR_OUT_OF_MEMORY, "out of host memory");
        else {
            reg = r;
            snprintf(reg[nreg].name, sizeof reg[nreg].name, "%s", name);
            nreg++;
        }
    }
    if (!s)
        reg[i].fn = fn;
    pthread_mutex_unlock(&reg_lock);
    return s;
}

static nb_cpu_kernel_fn lookup(const char *name)
{
    nb_cpu_kernel_fn fn = NULL;
    pthread_mutex_lock(&reg_lock);
    for (uint32_t i = 0; i < nreg && !fn; i++)
        if (strcmp(reg[i].name, name) == 0)
            fn = reg[i].fn;
    pthread_mutex_unlock(&reg_lock);
    return fn;
}

/* ---------------------------------------------------------------- pool */

/* The process's threads: worker 0 is the caller, workers 1..n-1 wait for
 * jobs. A job hands out task indices from an atomic counter; which thread
 * runs a task may vary, what a task computes may not. */
typedef struct job {
    void (*task)(void *user, uint64_t i, uint32_t thread);
    void *user;
    uint64_t n;
    atomic_uint_fast64_t next;
    uint32_t workers; /* threads taking part, the caller included */
} job;

typedef struct pool {
    pthread_mutex_t lock;
    pthread_cond_t wake, done;
    pthread_t *threads;
    uint32_t n;          /* threads started, besides the callers */
    uint64_t generation; /* bumped per job */
    uint32_t running;    /* helpers still in the current job */
    job *cur;
    pthread_mutex_t use; /* one job at a time in the process */
} pool;

static pool g_pool = {.lock = PTHREAD_MUTEX_INITIALIZER,
                      .wake = PTHREAD_COND_INITIALIZER,
                      .done = PTHREAD_COND_INITIALIZER,
                      .use = PTHREAD_MUTEX_INITIALIZER};

/* Set on a thread while it runs tasks: a task that asks for threads again
 * runs its tasks itself, in order (no nested jobs, no deadlock). */
static _Thread_local int in_job;

static void run_tasks(job *j, uint32_t thread)
{
    in_job = 1;
    for (;;) {
        uint64_t i = atomic_fetch_add(&j->next, 1);
        if (i >= j->n)
            break;
        j->task(j->user, i, thread);
    }
    in_job = 0;
}

typedef struct helper_arg {
    uint32_t id; /* 1.. */
} helper_arg;

static void *helper_main(void *arg)
{
    const uint32_t id = ((helper_arg *)arg)->id;
    free(arg);
    uint64_t seen = 0;
    pthread_mutex_lock(&g_pool.lock);
    for (;;) {
        while (g_pool.generation == seen)
            pthread_cond_wait(&g_pool.wake, &g_pool.lock);
        seen = g_pool.generation;
        job *j = g_pool.cur;
        if (!j || id >= j->workers)
            continue;
        pthread_mutex_unlock(&g_pool.lock);
        run_tasks(j, id);
        pthread_mutex_lock(&g_pool.lock);
        if (--g_pool.running == 0)
            pthread_cond_signal(&g_pool.done);
    }
    return NULL;
}

/* Makes sure threads 1..want-1 exist; returns how many workers a job can use. */
static uint32_t pool_grow(uint32_t want)
{
    pthread_mutex_lock(&g_pool.lock);
    while (g_pool.n + 1 < want) {
        pthread_t *t = realloc(g_pool.threads, (g_pool.n + 1) * sizeof *t);
        helper_arg *a = malloc(sizeof *a);
        if (!t || !a) {
            if (t)
                g_pool.threads = t;
            free(a);
            break;
        }
        g_pool.threads = t;
        a->id = g_pool.n + 1;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        int r = pthread_create(&g_pool.threads[g_pool.n], &attr, helper_main, a);
        pthread_attr_destroy(&attr);
        if (r) {
            free(a);
            break;
        }
        g_pool.n++;
    }
    uint32_t have = g_pool.n + 1;
    pthread_mutex_unlock(&g_pool.lock);
    return have < want ? have : want;
}

static void pool_run(uint32_t workers, uint64_t n, void (*task)(void *, uint64_t, uint32_t), void *user)
{
    if (n == 0)
        return;
    if (workers <= 1 || n == 1 || in_job) {
        for (uint64_t i = 0; i < n; i++)
            task(user, i, 0);
        return;
    }
    job j = {.task = task, .user = user, .n = n, .workers = workers};
    atomic_init(&j.next, 0);
    pthread_mutex_lock(&g_pool.use);
    pthread_mutex_lock(&g_pool.lock);
    g_pool.cur = &j;
    g_pool.running = workers - 1;
    g_pool.generation++;
    pthread_cond_broadcast(&g_pool.wake);
    pthread_mutex_unlock(&g_pool.lock);
    run_tasks(&j, 0);
    pthread_mutex_lock(&g_pool.lock);
    while (g_pool.running)
        pthread_cond_wait(&g_pool.done, &g_pool.lock);
    g_pool.cur = NULL;
    pthread_mutex_unlock(&g_pool.lock);
    pthread_mutex_unlock(&g_pool.use);
}

void nb__pool_run(uint32_t workers, uint64_t n, void (*task)(void *user, uint64_t i, uint32_t thread), void *user)
{
    pool_run(pool_grow(workers), n, task, user);
}

/* ------------------------------------------------------------- context */

struct nb_cpu_ctx {
    uint32_t threads;
    void **scratch;         /* [threads] */
    uint64_t *scratch_bytes;
};

static const char *simd_level(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f"))
        return "AVX-512";
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        return "AVX2";
    return "SSE2";
#elif defined(__aarch64__)
    return "NEON";
#else
    return "portable";
#endif
}

static void cpu_model(char *out, size_t cap)
{
    snprintf(out, cap, "CPU");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f)
        return;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "model name", 10) == 0 || strncmp(line, "Model", 5) == 0) {
            char *c = strchr(line, ':');
            if (c) {
                c++;
                while (*c == ' ' || *c == '\t')
                    c++;
                c[strcspn(c, "\n")] = 0;
                snprintf(out, cap, "%s", c);
                break;
            }
        }
    }
    fclose(f);
}

static uint32_t threads_wanted(uint32_t asked)
{
    if (asked)
        return asked;
    const char *e = getenv("NOBLE_THREADS");
    if (e && *e) {
        char *end;
        long v = strtol(e, &end, 10);
        if (*end == 0 && v > 0 && v <= 1024)
            return (uint32_t)v;
    }
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    return cores > 0 ? (uint32_t)cores : 1;
}

nb_status nb_cpu_device_info(uint32_t threads, nb_device_info *d)
{
    if (!d)
        return nb__fail(NB_ERR_INVALID_ARGUMENT, "nb_cpu_device_info: NULL");
    memset(d, 0, sizeof *d);
    threads = threads_wanted(threads);
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    char model[200];
    cpu_model(model, sizeof model);
    snprintf(d->name, sizeof d->name, "%s (noble CPU backend: %u thread%s, %s)", model, threads,
             threads == 1 ? "" : "s", simd_level());
    d->type = NB_DEVICE_CPU;
    snprintf(d->cpu_model, sizeof d->cpu_model, "%s", model);
    d->threads = threads;
    snprintf(d->simd, sizeof d->simd, "%s", simd_level());
    snprintf(d->vendor, sizeof d->vendor, "CPU");
    snprintf(d->driver_name, sizeof d->driver_name, "noble CPU backend");
    snprintf(d->driver_info, sizeof d->driver_info, "C kernels, %s, %ld cores, %s", fftwf_version,
             cores > 0 ? cores : 1, simd_level());
    snprintf(d->driver_version_str, sizeof d->driver_version_str, "%d.%d.%d", NB_VERSION_MAJOR, NB_VERSION_MINOR,
             NB_VERSION_PATCH);
    snprintf(d->api_version_str, sizeof d->api_version_str, "-");
    long pages = sysconf(_SC_PHYS_PAGES), psize = sysconf(_SC_PAGESIZE);
    d->device_local_bytes = pages > 0 && psize > 0 ? (uint64_t)pages * (uint64_t)psize : 0;
    d->max_allocation_bytes = d->device_local_bytes;
    d->max_storage_buffer_range = UINT64_C(1) << 40;
    d->max_uniform_buffer_range = 0;   /* kernels read weights where they are */
    d->max_texel_buffer_elements = 0;  /* no texel path */
    d->max_push_constants_size = 256;
    d->max_workgroup_invocations = 1024;
    for (int i = 0; i < 3; i++) {
        d->max_workgroup_size[i] = 1024;
        d->max_workgroup_count[i] = UINT32_MAX;
    }
    d->max_shared_memory_bytes = 0;
    d->min_storage_buffer_offset_alignment = 64;
    d->unified_memory = 1;
    d->float64 = 1;
    d->timestamps = 1;
    d->timestamp_period_ns = 1;
    d->timestamp_valid_bits = 64;
    d->subgroup_size = 1;
    d->usable = 1;
    return NB_OK;
}

nb_status nb__cpu_context_init(nb_context *ctx, const nb_context_options *o)
{
    ctx->backend = NB_BACKEND_CPU;
    nb_status s = nb_cpu_device_info(o->threads, &ctx->info);
    if (s || (s = nb__cpu_register_runtime_kernels()))
        return s;
    struct nb_cpu_ctx *c = calloc(1, sizeof *c);
    if (!c)
        return nb__fail(NB_ERR_OUT_OF_MEMORY, "out of host memory");
    ctx->cpu = c;
    c->threads = pool_grow(threads_wanted(o->threads));
    c->scratch = calloc(c->threads, sizeof *c->scratch);
    c->scratch_bytes = calloc(c->threads, sizeof *c->scratch_bytes);
    if (!c->scratch || !c->scratch_bytes)
        return nb__fail(NB_ERR_OUT_OF_MEMORY, "out of host memory");
    ctx->mem.block_bytes = 0;
    nb__cache_dir_init(ctx, o->cache_dir);
    return nb__choose_fft(ctx, o->fft);
}

void nb__cpu_context_destroy(nb_context *ctx)
{
    struct nb_cpu_ctx *c = ctx->cpu;
    nb__fft_destroy_all(ctx);
    if (!c)
        return;
    for (uint32_t i = 0; c->scratch && i < c->threads; i++)
        free(c->scratch[i]);
    free(c->scratch);
    free(c->scratch_bytes);
    free(c);
    ctx->cpu = NULL;
}

uint32_t nb__cpu_threads(const nb_context *ctx) { return ctx->cpu ? ctx->cpu->threads : 1; }

/* ---------------------------------------------------------------- calls */

long nb_cpu_spec(const nb_cpu_call *c, uint32_t id, long dflt)
{
    const nb_kernel *k = c->kernel;
    for (uint32_t i = 0; i < k->nspec; i++)
        if (k->spec_id[i] == id)
            return k->spec_value[i];
    return dflt;
}

long nb_cpu_define(const nb_cpu_call *c, const char *name, long dflt)
{
    const nb_kernel *k = c->kernel;
    for (uint32_t i = 0; i < k->ndefs; i++)
        if (strcmp(k->def_name[i], name) == 0)
            return k->def_value[i];
    return dflt;
}

uint32_t nb_cpu_threads(const nb_cpu_call *c) { return nb__cpu_threads(c->kernel->ctx); }

void nb_cpu_parallel(const nb_cpu_call *c, uint64_t n, void (*task)(void *user, uint64_t i, uint32_t thread),
                     void *user)
{
    pool_run(nb_cpu_threads(c), n, task, user);
}

void *nb_cpu_scratch(const nb_cpu_call *c, uint32_t thread, uint64_t bytes)
{
    struct nb_cpu_ctx *x = c->kernel->ctx->cpu;
    if (!x || thread >= x->threads)
        return NULL;
    if (x->scratch_bytes[thread] < bytes) {
        uint64_t want = (bytes + 63) / 64 * 64;
        void *p = aligned_alloc(64, want);
        if (!p)
            return NULL;
        free(x->scratch[thread]);
        x->scratch[thread] = p;
        x->scratch_bytes[thread] = want;
    }
    return x->scratch[thread];
}

/* -------------------------------------------------------------- buffers */

nb_status nb__cpu_buffer_create(nb_context *ctx, uint64_t bytes, nb_memory_kind kind, nb_buffer **out)
{
    nb_buffer *b = calloc(1, sizeof *b);
    uint64_t alloc = (bytes + 63) / 64 * 64;
    if (!b)
        return nb__fail(NB_ERR_OUT_OF_MEMORY, "out of host memory");
    if (bytes > ctx->info.max_allocation_bytes || !(b->mapped = aligned_alloc(64, alloc))) {
        free(b);
        return nb__fail(NB_ERR_OUT_OF_MEMORY, "cannot allocate %.1f MiB of host memory for a buffer",
                        (double)bytes / 1048576.0);
    }
    /* Pay the first touch now, not in the first step (../shared/PLATFORM.md). */
    memset(b->mapped, 0, alloc);
    b->ctx = ctx;
    b->size = bytes;
    b->alloc_bytes = alloc;
    b->kind = kind;
    b->coherent = 1;
    b->id = ++ctx->mem.next_id;
    ctx->mem.used += alloc;
    ctx->mem.live++;
    if (ctx->mem.used > ctx->mem.peak)
        ctx->mem.peak = ctx->mem.used;
    *out = b;
    return NB_OK;
}

void nb__cpu_buffer_destroy(nb_buffer *b)
{
    nb_context *ctx = b->ctx;
    ctx->mem.used -= b->alloc_bytes;
    ctx->mem.live--;
    free(b->mapped);
    free(b);
}

/* -------------------------------------------------------------- kernels */

nb_status nb__cpu_kernel_create(nb_context *ctx, const nb_kernel_desc *d, nb_kernel **out)
{
    if (d->source)
        return nb__fail(NB_ERR_UNSUPPORTED, "kernel '%s': the CPU backend runs registered C kernels, not GLSL "
                                            "given at run time",
                        d->name ? d->name : "(unnamed)");
    nb_cpu_kernel_fn fn = lookup(d->name);
    if (!fn)
        return nb__fail(NB_ERR_UNSUPPORTED, "kernel '%s' has no CPU implementation (nb_cpu_kernel_register)", d->name);
    nb_kernel *k = nb__kernel_new(ctx, d);
    if (!k)
        return nb__fail(NB_ERR_OUT_OF_MEMORY, "out of host memory");
    k->cpu_fn = fn;
    k->nspec = d->n_spec;
    memcpy(k->spec_id, d->spec_id, sizeof k->spec_id);
    memcpy(k->spec_value, d->spec_value, sizeof k->spec_value);
    for (uint32_t i = 0; i < NB_MAX_DEFINES && d->defines[i]; i++) {
        const char *def = d->defines[i], *eq = strchr(def, '=');
        size_t len = eq ? (size_t)(eq - def) : strlen(def);
        if (len == 0 || len >= sizeof k->def_name[0]) {
            free(k);
            return nb__fail(NB_ERR_INVALID_ARGUMENT, "kernel '%s': define '%s' is malformed", d->name, def);
        }
        char *end = NULL;
        long v = eq ? strtol(eq + 1, &end, 0) : 1;
        if (eq && (end == eq + 1 || *end)) {
            free(k);
            return nb__fail(NB_ERR_INVALID_ARGUMENT, "kernel '%s': define '%s' is not an integer (the CPU backend "
                                                     "takes integer defines)",
                            d->name, def);
        }
        memcpy(k->def_name[k->ndefs], def, len);
        k->def_name[k->ndefs][len] = 0;
        k->def_value[k->ndefs++] = v;
    }
    *out = k;
    return NB_OK;
}

/* ------------------------------------------------------------ recording */

typedef enum { OP_DISPATCH, OP_FFT, OP_COPY, OP_FILL } op_kind;

typedef struct cpu_op {
    op_kind kind;
    const nb_kernel *k;
    nb_buffer *b[NB_MAX_BINDINGS];
    uint8_t push[256];
    uint32_t groups[3];
    nb_fft *plan;
    uint64_t off0, off1, bytes;
    uint32_t word;
    uint16_t label;
} cpu_op;

struct nb_cpu_cmd {
    cpu_op *ops;
    uint32_t nops, capops;
    char (*labels)[48];
    uint32_t nlabels, caplabels;
    int profile;
    nb_profile_row *rows;
    double total_ms;
};

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec * 1e-6;
}

nb_status nb__cpu_cmd_init(nb_cpu_cmd **out, int profile)
{
    nb_cpu_cmd *c = calloc(1, sizeof *c);
    if (!c)
        return nb__fail(NB_ERR_OUT_OF_MEMORY, "out of host memory");
    c->profile = profile;
    c->total_ms = -1;
    *out = c;
    return NB_OK;
}

void nb__cpu_cmd_free(nb_cpu_cmd *c)
{
    if (!c)
        return;
    free(c->ops);
    free(c->labels);
    free(c->rows);
    free(c);
}

void nb__cpu_cmd_reset(nb_cpu_cmd *c) { c->nops = 0; }

static nb_status add_op(nb_cpu_cmd *c, const cpu_op *op, const char *label)
{
    cpu_op *o = nb__grow(c->ops, c->nops, &c->capops, sizeof *o, 64);
    if (!o)
        return nb__fail(NB_ERR_OUT_OF_MEMORY, "out of host memory");
    c->ops = o;
    uint32_t l = 0;
    while (l < c->nlabels && strcmp(c->labels[l], label) != 0)
        l++;
    if (l == c->nlabels) {
        char(*nl)[48] = nb__grow(c->labels, c->nlabels, &c->caplabels, sizeof *nl, 16);
        if (!nl)
            return nb__fail(NB_ERR_OUT_OF_MEMORY, "out of host memory");
        c->labels = nl;
        snprintf(c->labels[c->nlabels++], 48, "%s", label);
    }
    c->ops[c->nops] = *op;
    c->ops[c->nops].label = (uint16_t)l;
    c->nops++;
    return NB_OK;
}

nb_status nb__cpu_cmd_dispatch(nb_cpu_cmd *c, const nb_kernel *k, const uint32_t groups[3], nb_buffer *const *bufs,
                               const void *push, const char *label)
{
    cpu_op op = {.kind = OP_DISPATCH, .k = k};
    for (uint32_t i = 0; i < k->n_bindings; i++) {
        if (!bufs[i])
            return nb__fail(NB_ERR_INVALID_ARGUMENT, "kernel '%s': binding %u is NULL", k->name, i);
        op.b[i] = bufs[i];
    }
    if (k->push_bytes > sizeof op.push)
        return nb__fail(NB_ERR_INVALID_ARGUMENT, "kernel '%s': %u bytes of push constants (at most %zu)", k->name,
                        k->push_bytes, sizeof op.push);
    if (k->push_bytes && push)
        memcpy(op.push, push, k->push_bytes);
    memcpy(op.groups, groups, sizeof op.groups);
    return add_op(c, &op, label ? label : k->name);
}

nb_status nb__cpu_cmd_fft(nb_cpu_cmd *c, nb_fft *plan, nb_buffer *in, nb_buffer *out, const char *label)
{
    cpu_op op = {.kind = OP_FFT, .plan = plan};
    op.b[0] = in;
    op.b[1] = out;
    return add_op(c, &op, label ? label : "fft");
}

nb_status nb__cpu_cmd_copy(nb_cpu_cmd *c, nb_buffer *src, uint64_t so, nb_buffer *dst, uint64_t dof, uint64_t bytes)
{
    cpu_op op = {.kind = OP_COPY, .off0 = so, .off1 = dof, .bytes = bytes};
    op.b[0] = src;
    op.b[1] = dst;
    return add_op(c, &op, "copy");
}

nb_status nb__cpu_cmd_fill(nb_cpu_cmd *c, nb_buffer *dst, uint64_t off, uint64_t bytes, uint32_t word)
{
    cpu_op op = {.kind = OP_FILL, .off0 = off, .bytes = bytes, .word = word};
    op.b[0] = dst;
    return add_op(c, &op, "fill");
}

static nb_status run_op(const cpu_op *o)
{
    switch (o->kind) {
    case OP_DISPATCH: {
        nb_cpu_call call = {.kernel = o->k, .push = o->push};
        for (uint32_t i = 0; i < o->k->n_bindings; i++) {
            call.buf[i] = o->b[i]->mapped;
            call.bytes[i] = (o->b[i]->size + 15) / 16 * 16;
        }
        memcpy(call.groups, o->groups, sizeof call.groups);
        return o->k->cpu_fn(&call);
    }
    case OP_FFT:
        return nb__fft_host_run(o->plan, o->b[0], o->b[1]);
    case OP_COPY:
        memmove((char *)o->b[1]->mapped + o->off1, (char *)o->b[0]->mapped + o->off0, o->bytes);
        return NB_OK;
    case OP_FILL: {
        uint32_t *p = (uint32_t *)((char *)o->b[0]->mapped + o->off0);
        if (o->word == 0)
            memset(p, 0, o->bytes);
        else
            for (uint64_t i = 0; i < o->bytes / 4; i++)
                p[i] = o->word;
        return NB_OK;
    }
    }
    return NB_OK;
}

nb_status nb__cpu_cmd_submit(nb_cpu_cmd *c)
{
    int timed = 0;
    if (c->profile && c->nlabels) {
        nb_profile_row *r = realloc(c->rows, c->nlabels * sizeof *r);
        if (!r)
            return nb__fail(NB_ERR_OUT_OF_MEMORY, "out of host memory");
        c->rows = r;
        for (uint32_t i = 0; i < c->nlabels; i++) {
            memset(&r[i], 0, sizeof r[i]);
            snprintf(r[i].label, sizeof r[i].label, "%s", c->labels[i]);
        }
        timed = 1;
    }
    const double t0 = now_ms();
    for (uint32_t i = 0; i < c->nops; i++) {
        const double a = c->profile ? now_ms() : 0;
        nb_status s = run_op(&c->ops[i]);
        if (s)
            return s;
        if (timed) {
            nb_profile_row *r = &c->rows[c->ops[i].label];
            const double d = now_ms() - a;
            if (r->count == 0 || d < r->min_ms)
                r->min_ms = d;
            if (d > r->max_ms)
                r->max_ms = d;
            r->total_ms += d;
            r->count++;
        }
    }
    c->total_ms = now_ms() - t0;
    return NB_OK;
}

nb_status nb__cpu_cmd_profile(const nb_cpu_cmd *c, const nb_profile_row **rows, uint32_t *n)
{
    *rows = c->rows;
    *n = c->profile && c->rows ? c->nlabels : 0;
    return NB_OK;
}

double nb__cpu_cmd_ms(const nb_cpu_cmd *c) { return c->total_ms; }
uint32_t nb__cpu_cmd_ops(const nb_cpu_cmd *c) { return c->nops; }

const char *nb_backend_name(nb_backend b)
{
    return b == NB_BACKEND_CPU ? "cpu" : b == NB_BACKEND_VULKAN ? "vulkan" : "auto";
}
