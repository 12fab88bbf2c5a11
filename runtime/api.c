/* api.c - the runtime's public API where its two backends meet: arguments
 * are checked here once, then the work goes to the native CPU backend
 * (cpu.c) or to Vulkan (context.c, memory.c, kernel.c, record.c; fft.c
 * dispatches itself). Nothing here includes a Vulkan header: with
 * -DNOBLE_VULKAN=OFF this file, error.c, fft.c, cpu.c and cpu_kernels.c are
 * the whole runtime, and NB_VK() turns every call into Vulkan into the error
 * "this noble was built without Vulkan". */
#include "nb_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef NOBLE_HAVE_VULKAN
#define NO_VULKAN "this noble was built without Vulkan (NOBLE_VULKAN=OFF)"

nb_status nb__no_vulkan(void) { return nb__fail(NB_ERR_UNSUPPORTED, NO_VULKAN "; use the CPU backend (NOBLE_BACKEND=cpu or auto)"); }

/* The Vulkan-only parts of the API. */
nb_status nb_devices_list(nb_device_info *out, uint32_t cap, uint32_t *count, uint32_t *total)
{
    (void)out;
    (void)cap;
    if (count)
        *count = 0;
    if (total)
        *total = 0;
    return nb__fail(NB_ERR_UNSUPPORTED, NO_VULKAN ": there are no Vulkan devices to list");
}
nb_status nb_device_choose(uint32_t *index)
{
    (void)index;
    return nb__fail(NB_ERR_UNSUPPORTED, NO_VULKAN ": there is no Vulkan device to choose");
}
void *nb_context_vk_instance(nb_context *ctx) { (void)ctx; return NULL; }
void *nb_context_vk_device(nb_context *ctx) { (void)ctx; return NULL; }
void *nb_buffer_vk_handle(nb_buffer *b) { (void)b; return NULL; }
nb_status nb_pipeline_cache_save(nb_context *ctx) { (void)ctx; return NB_OK; } /* nothing to save */
uint32_t nb_shader_count(void) { return 0; } /* no GLSL is embedded */
const char *nb_shader_name(uint32_t i) { (void)i; return NULL; }
const char *nb_shader_source(const char *name) { (void)name; return NULL; }
#endif

/* ---------------------------------------------------------------- devices */

const char *nb_device_type_name(nb_device_type t)
{
    switch (t) {
    case NB_DEVICE_DISCRETE: return "discrete GPU";
    case NB_DEVICE_INTEGRATED: return "integrated GPU";
    case NB_DEVICE_VIRTUAL: return "virtual GPU";
    case NB_DEVICE_CPU: return "CPU";
    default: return "other";
    }
}

void nb_subgroup_ops_string(uint32_t ops, char *buf, size_t cap)
{
    static const char *names[] = {"basic", "vote", "arithmetic", "ballot",
                                  "shuffle", "shuffle_relative", "clustered", "quad"};
    size_t at = 0;
    buf[0] = 0;
    for (uint32_t i = 0; i < 8 && at < cap; i++)
        if (ops & (1u << i))
            at += (size_t)snprintf(buf + at, cap - at, "%s%s", at ? "," : "", names[i]);
}

/* ---------------------------------------------------------------- context */

const char *nb_fft_backend_name(nb_fft_backend b)
{
    return b == NB_FFT_HOST ? "host (FFTW)" : b == NB_FFT_VKFFT ? "VkFFT" : "auto";
}

nb_fft_backend nb_context_fft_backend(const nb_context *ctx)
{
    return ctx && ctx->fft.host ? NB_FFT_HOST : NB_FFT_VKFFT;
}

/* The FFT backend: asked for, else NOBLE_FFT, else by device (nb_fft_backend). */
nb_status nb__choose_fft(nb_context *ctx, nb_fft_backend want)
{
    if (want == NB_FFT_AUTO) {
        const char *e = getenv("NOBLE_FFT");
        if (e && *e && strcmp(e, "auto") != 0) {
            if (strcmp(e, "vkfft") == 0)
                want = NB_FFT_VKFFT;
            else if (strcmp(e, "host") == 0)
                want = NB_FFT_HOST;
            else
                return nb__fail(NB_ERR_INVALID_ARGUMENT, "NOBLE_FFT='%s': use auto, vkfft or host", e);
        }
    }
    if (want != NB_FFT_AUTO && want != NB_FFT_VKFFT && want != NB_FFT_HOST)
        return nb__fail(NB_ERR_INVALID_ARGUMENT, "unknown FFT backend %d", (int)want);
    if (ctx->backend == NB_BACKEND_CPU) {
        if (want == NB_FFT_VKFFT)
            return nb__fail(NB_ERR_UNSUPPORTED, "the CPU backend has no VkFFT: its FFTs are FFTW's (NOBLE_FFT=host "
                                                "or auto)");
        ctx->fft.host = 1;
        return NB_OK;
    }
    if (want == NB_FFT_HOST && !ctx->mem.device_mappable)
        return nb__fail(NB_ERR_UNSUPPORTED,
                        "the host FFT needs device memory that the host can map, and '%s' has none%s (use vkfft)",
                        ctx->info.name, ctx->gpu_config ? " in the GPU configuration (NOBLE_GPU_CONFIG=1)" : "");
    if (want == NB_FFT_AUTO)
        want = ctx->info.type == NB_DEVICE_CPU && ctx->mem.device_mappable ? NB_FFT_HOST : NB_FFT_VKFFT;
    ctx->fft.host = want == NB_FFT_HOST;
    return NB_OK;
}

void nb_context_options_default(nb_context_options *o)
{
    memset(o, 0, sizeof *o);
    o->device_index = -1;
    o->validation = -1;
    o->gpu_config = -1;
}

int nb_context_gpu_config(const nb_context *ctx) { return ctx ? ctx->gpu_config : 0; }

uint64_t nb_context_staging_bytes(const nb_context *ctx)
{
    return ctx && ctx->backend == NB_BACKEND_VULKAN && !ctx->mem.device_mappable ? ctx->mem.staging_bytes : 0;
}

/* NOBLE_BACKEND: auto (or unset), vulkan or cpu; anything else is refused. */
static nb_status env_backend(nb_backend *out)
{
    const char *v = getenv("NOBLE_BACKEND");
    *out = NB_BACKEND_AUTO;
    if (!v || !*v || strcmp(v, "auto") == 0)
        return NB_OK;
    if (strcmp(v, "vulkan") == 0)
        *out = NB_BACKEND_VULKAN;
    else if (strcmp(v, "cpu") == 0)
        *out = NB_BACKEND_CPU;
    else
        return nb__fail(NB_ERR_INVALID_ARGUMENT, "NOBLE_BACKEND='%s': expected auto, vulkan or cpu", v);
    return NB_OK;
}

/* An environment variable that holds a whole number of bytes (a suffix K, M
 * or G multiplies by 1024, 1024^2, 1024^3), at least `least`; *out stays
 * as it is when the variable is unset or empty. */
static nb_status env_bytes(const char *name, uint64_t least, uint64_t *out)
{
    const char *v = getenv(name);
    if (!v || !*v)
        return NB_OK;
    char *end;
    unsigned long long x = strtoull(v, &end, 10);
    uint64_t mul = *end == 'K' ? 1ull << 10 : *end == 'M' ? 1ull << 20 : *end == 'G' ? 1ull << 30 : 1;
    if (mul > 1)
        end++;
    if (end == v || *end || v[0] == '-' || x > (UINT64_MAX >> 30) || (uint64_t)x * mul < least)
        return nb__fail(NB_ERR_INVALID_ARGUMENT, "%s='%s': expected a number of bytes of at least %llu (suffix K, M "
                                                 "or G allowed)",
                        name, v, (unsigned long long)least);
    *out = (uint64_t)x * mul;
    return NB_OK;
}

/* The GPU configuration's options from the environment where left to it:
 * NOBLE_GPU_CONFIG, NOBLE_STAGING_BYTES, NOBLE_MAX_STORAGE_RANGE. */
static nb_status resolve_gpu_options(nb_context_options *o)
{
    if (o->gpu_config < 0) {
        const char *v = getenv("NOBLE_GPU_CONFIG");
        if (!v || !*v || strcmp(v, "0") == 0)
            o->gpu_config = 0;
        else if (strcmp(v, "1") == 0)
            o->gpu_config = 1;
        else
            return nb__fail(NB_ERR_INVALID_ARGUMENT, "NOBLE_GPU_CONFIG='%s': expected 0 or 1", v);
    } else if (o->gpu_config > 1) {
        return nb__fail(NB_ERR_INVALID_ARGUMENT, "nb_context_options.gpu_config %d: expected -1, 0 or 1",
                        o->gpu_config);
    }
    nb_status s;
    if (o->staging_bytes == 0 && (s = env_bytes("NOBLE_STAGING_BYTES", 256, &o->staging_bytes)))
        return s;
    if (o->staging_bytes && o->staging_bytes < 256)
        return nb__fail(NB_ERR_INVALID_ARGUMENT, "a staging buffer of %llu bytes: at least 256",
                        (unsigned long long)o->staging_bytes);
    if (o->max_storage_range == 0 && (s = env_bytes("NOBLE_MAX_STORAGE_RANGE", 256, &o->max_storage_range)))
        return s;
    if (o->max_storage_range && o->max_storage_range < 256)
        return nb__fail(NB_ERR_INVALID_ARGUMENT, "a storage range of %llu bytes: at least 256",
                        (unsigned long long)o->max_storage_range);
    return NB_OK;
}

static nb_status cpu_context(const nb_context_options *opt, nb_context **out)
{
    nb_context *ctx = calloc(1, sizeof *ctx);
    if (!ctx)
        return nb__fail(NB_ERR_OUT_OF_MEMORY, "out of host memory creating a context");
    ctx->backend = NB_BACKEND_CPU;
    nb_status s = nb__cpu_context_init(ctx, opt);
    if (s) {
        nb_context_destroy(ctx);
        return s;
    }
    *out = ctx;
    return NB_OK;
}

nb_status nb_context_create(const nb_context_options *opt, nb_context **out)
{
    nb_context_options def;
    if (!out)
        return nb__fail(NB_ERR_INVALID_ARGUMENT, "nb_context_create: out is NULL");
    *out = NULL;
    if (!opt) {
        nb_context_options_default(&def);
        opt = &def;
    }
    nb_context_options o = *opt; /* with the environment's choices resolved */
    nb_status s = resolve_gpu_options(&o);
    if (s)
        return s;
    opt = &o;
    nb_backend want = opt->backend;
    s = want == NB_BACKEND_AUTO ? env_backend(&want) : NB_OK;
    if (s)
        return s;
    if (want == NB_BACKEND_CPU)
        return cpu_context(opt, out);
#ifndef NOBLE_HAVE_VULKAN
    if (want == NB_BACKEND_AUTO) /* the only backend there is */
        return cpu_context(opt, out);
#endif
    /* AUTO: Vulkan on a GPU, else (no loader, no usable device, only lavapipe) the CPU backend; in the
     * GPU configuration a CPU device counts as a GPU (context.c) */
    if ((s = NB_VK(nb__vk_context_create(opt, want, out))) || *out)
        return s;
    return cpu_context(opt, out);
}

void nb_context_destroy(nb_context *ctx)
{
    if (!ctx)
        return;
    if (ctx->backend == NB_BACKEND_CPU)
        nb__cpu_context_destroy(ctx);
    else
        NB_VK_VOID(nb__vk_context_destroy(ctx));
    for (int i = 0; i < NB_MAX_VALIDATION_KEPT; i++)
        free(ctx->validation_msgs[i]);
    free(ctx);
}

const nb_device_info *nb_context_device(const nb_context *ctx) { return &ctx->info; }
nb_backend nb_context_backend(const nb_context *ctx) { return ctx->backend; }

uint32_t nb_validation_count(const nb_context *ctx) { return ctx->validation_count; }

const char *nb_validation_message(const nb_context *ctx, uint32_t i)
{
    if (i >= NB_MAX_VALIDATION_KEPT || i >= ctx->validation_count || !ctx->validation_msgs[i])
        return "";
    return ctx->validation_msgs[i];
}

int nb_context_validation_enabled(const nb_context *ctx) { return ctx->validation; }

nb_status nb_context_check(nb_context *ctx)
{
    if (ctx->validation_count == 0)
        return NB_OK;
    return nb__fail(NB_ERR_VALIDATION, "%u validation message(s); first: %s",
                    ctx->validation_count, nb_validation_message(ctx, 0));
}

/* ----------------------------------------------------------------- memory */

nb_status nb_buffer_create(nb_context *ctx, uint64_t bytes, nb_memory_kind kind, nb_buffer **out)
{
    if (!ctx || !out)
        return nb__fail(NB_ERR_INVALID_ARGUMENT, "nb_buffer_create: NULL argument");
    *out = NULL;
    if (bytes == 0)
        return nb__fail(NB_ERR_INVALID_ARGUMENT, "nb_buffer_create: a buffer of 0 bytes");
    if (kind != NB_MEM_DEVICE && kind != NB_MEM_HOST)
        return nb__fail(NB_ERR_INVALID_ARGUMENT, "nb_buffer_create: unknown memory kind %d", (int)kind);
    if (ctx->backend == NB_BACKEND_CPU)
        return nb__cpu_buffer_create(ctx, bytes, kind, out);
    return NB_VK(nb__vk_buffer_create(ctx, bytes, kind, out));
}

void nb_buffer_destroy(nb_buffer *b)
{
    if (!b)
        return;
    if (b->ctx->backend == NB_BACKEND_CPU)
        nb__cpu_buffer_destroy(b);
    else
        NB_VK_VOID(nb__vk_buffer_destroy(b));
}

uint64_t nb_buffer_size(const nb_buffer *b) { return b->size; }
void *nb_buffer_map(nb_buffer *b) { return b->mapped; }

static nb_status check_range(const nb_buffer *b, uint64_t offset, uint64_t bytes, const char *what)
{
    if (!b)
        return nb__fail(NB_ERR_INVALID_ARGUMENT, "%s: NULL buffer", what);
    if (offset > b->size || bytes > b->size - offset)
        return nb__fail(NB_ERR_INVALID_ARGUMENT, "%s: range [%llu, +%llu) outside a buffer of %llu bytes", what,
                        (unsigned long long)offset, (unsigned long long)bytes, (unsigned long long)b->size);
    return NB_OK;
}

nb_status nb_buffer_upload(nb_buffer *b, uint64_t offset, const void *src, uint64_t bytes)
{
    nb_status s = check_range(b, offset, bytes, "nb_buffer_upload");
    if (s || bytes == 0)
        return s;
    if (!src)
        return nb__fail(NB_ERR_INVALID_ARGUMENT, "nb_buffer_upload: NULL source");
    if (b->mapped) {
        memcpy((char *)b->mapped + offset, src, bytes);
        return NB_OK;
    }
    return NB_VK(nb__vk_buffer_copy(b, offset, (void *)src, bytes, 1));
}

nb_status nb_buffer_download(nb_buffer *b, uint64_t offset, void *dst, uint64_t bytes)
{
    nb_status s = check_range(b, offset, bytes, "nb_buffer_download");
    if (s || bytes == 0)
        return s;
    if (!dst)
        return nb__fail(NB_ERR_INVALID_ARGUMENT, "nb_buffer_download: NULL destination");
    if (b->mapped) {
        memcpy(dst, (const char *)b->mapped + offset, bytes);
        return NB_OK;
    }
    return NB_VK(nb__vk_buffer_copy(b, offset, dst, bytes, 0));
}

void nb_memory_stats_get(const nb_context *ctx, nb_memory_stats *s)
{
    memset(s, 0, sizeof *s);
    if (ctx->backend != NB_BACKEND_CPU)
        NB_VK_VOID(nb__vk_memory_blocks(ctx, &s->blocks, &s->block_bytes));
    s->used_bytes = ctx->mem.used;
    s->peak_used_bytes = ctx->mem.peak;
    s->buffers = ctx->mem.live;
}

/* Frees blocks with no live buffer in them (the CPU backend has none). */
void nb_memory_trim(nb_context *ctx)
{
    if (ctx->backend != NB_BACKEND_CPU)
        NB_VK_VOID(nb__vk_memory_trim(ctx));
}

/* ----------------------------------------------------------- cache files */

uint64_t nb__hash64(uint64_t h, const void *data, size_t n)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ull;
    }
    return h;
}


static int mkdir_p(const char *path)
{
    char tmp[1024];
    snprintf(tmp, sizeof tmp, "%s", path);
    for (char *p = tmp + 1; *p; p++) {
        if (*p == '/') {
            *p = 0;
            if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
                return -1;
            *p = '/';
        }
    }
    if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
        return -1;
    return 0;
}

/* Writes data to path through a temporary file and a rename, so no reader
 * ever sees half a file. Returns 0 on success. */
int nb__write_atomic2(const char *path, const void *a, size_t na, const void *b, size_t nb)
{
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "wb");
    if (!f)
        return -1;
    int ok = fwrite(a, 1, na, f) == na && (nb == 0 || fwrite(b, 1, nb, f) == nb);
    ok = (fclose(f) == 0) && ok;
    if (!ok || rename(tmp, path) != 0) {
        unlink(tmp);
        return -1;
    }
    return 0;
}

void *nb__read_file(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    void *buf = NULL;
    if (fseek(f, 0, SEEK_END) == 0) {
        long len = ftell(f);
        if (len > 0 && fseek(f, 0, SEEK_SET) == 0) {
            buf = malloc((size_t)len);
            if (buf && fread(buf, 1, (size_t)len, f) != (size_t)len) {
                free(buf);
                buf = NULL;
            }
            *n = (size_t)len;
        }
    }
    fclose(f);
    return buf;
}

static void resolve_cache_dir(const char *opt, char *out, size_t cap)
{
    out[0] = 0;
    if (opt) {
        if (*opt)
            snprintf(out, cap, "%s", opt);
        return;
    }
    const char *e = getenv("NOBLE_CACHE_DIR");
    if (e) {
        if (*e)
            snprintf(out, cap, "%s", e);
        return;
    }
    e = getenv("XDG_CACHE_HOME");
    if (e && *e) {
        snprintf(out, cap, "%s/noble", e);
        return;
    }
    e = getenv("HOME");
    if (e && *e)
        snprintf(out, cap, "%s/.cache/noble", e);
}


nb_kernel *nb__kernel_new(nb_context *ctx, const nb_kernel_desc *d)
{
    nb_kernel *k = calloc(1, sizeof *k);
    if (!k)
        return NULL;
    k->ctx = ctx;
    snprintf(k->name, sizeof k->name, "%s", d->name);
    k->n_bindings = d->n_bindings;
    memcpy(k->access, d->access, sizeof k->access);
    k->push_bytes = d->push_bytes;
    return k;
}

void nb__cache_dir_init(nb_context *ctx, const char *cache_dir)
{
    nb_kernels *k = &ctx->kern;
    resolve_cache_dir(cache_dir, k->cache_dir, sizeof k->cache_dir);
    if (k->cache_dir[0] && mkdir_p(k->cache_dir) != 0)
        k->cache_dir[0] = 0;
}

int nb__write_atomic(const char *path, const void *data, size_t n) { return nb__write_atomic2(path, data, n, NULL, 0); }



/* ---------------------------------------------------------------- kernels */

static nb_status check_desc(const nb_context *ctx, const nb_kernel_desc *d)
{
    if (!d || !d->name || !*d->name)
        return nb__fail(NB_ERR_INVALID_ARGUMENT, "nb_kernel_create: a kernel needs a name");
    if (d->n_bindings > NB_MAX_BINDINGS)
        return nb__fail(NB_ERR_INVALID_ARGUMENT, "kernel '%s': %u bindings, at most %d", d->name, d->n_bindings,
                        NB_MAX_BINDINGS);
    for (uint32_t i = 0; i < d->n_bindings; i++)
        if (d->access[i] < NB_READ || d->access[i] > NB_TEXEL)
            return nb__fail(NB_ERR_INVALID_ARGUMENT, "kernel '%s': binding %u has no access mode", d->name, i);
    if (d->push_bytes % 4 || d->push_bytes > ctx->info.max_push_constants_size)
        return nb__fail(NB_ERR_INVALID_ARGUMENT,
                        "kernel '%s': push constants of %u bytes (multiple of 4, at most %u on this device)",
                        d->name, d->push_bytes, ctx->info.max_push_constants_size);
    if (d->n_spec > NB_MAX_SPEC)
        return nb__fail(NB_ERR_INVALID_ARGUMENT, "kernel '%s': %u specialisation constants, at most %d", d->name,
                        d->n_spec, NB_MAX_SPEC);
    return NB_OK;
}

nb_status nb_kernel_create(nb_context *ctx, const nb_kernel_desc *d, nb_kernel **out)
{
    if (!ctx || !out)
        return nb__fail(NB_ERR_INVALID_ARGUMENT, "nb_kernel_create: NULL argument");
    *out = NULL;
    nb_status s = check_desc(ctx, d);
    if (s)
        return s;
    if (ctx->backend == NB_BACKEND_CPU)
        return nb__cpu_kernel_create(ctx, d, out);
    return NB_VK(nb__vk_kernel_create(ctx, d, out));
}

void nb_kernel_destroy(nb_kernel *k)
{
    if (!k)
        return;
    if (!k->cpu_fn)
        NB_VK_VOID(nb__vk_kernel_destroy(k));
    free(k);
}

void nb_kernel_stats_get(const nb_context *ctx, nb_kernel_stats *s) { *s = ctx->kern.stats; }
const char *nb_cache_dir(const nb_context *ctx) { return ctx->kern.cache_dir; }
int nb_kernel_from_cache(const nb_kernel *k) { return k->from_cache; }
const char *nb_kernel_name(const nb_kernel *k) { return k->name; }

/* -------------------------------------------------------------- recording */

nb_status nb_cmd_begin(nb_context *ctx, int profile, nb_cmd **out)
{
    if (!ctx || !out)
        return nb__fail(NB_ERR_INVALID_ARGUMENT, "nb_cmd_begin: NULL argument");
    *out = NULL;
    nb_cmd *c = calloc(1, sizeof *c);
    if (!c)
        return nb__fail(NB_ERR_OUT_OF_MEMORY, "out of host memory");
    c->ctx = ctx;
    c->profile = profile && ctx->info.timestamps;
    c->gpu_ms = -1;
    nb_status s;
    if (ctx->backend == NB_BACKEND_CPU) {
        s = nb__cpu_cmd_init(&c->cpu, c->profile);
        c->recording = 1;
    } else {
        s = NB_VK(nb__vk_cmd_begin(c));
    }
    if (s) {
        nb_cmd_destroy(c);
        return s;
    }
    *out = c;
    return NB_OK;
}

static nb_status check_recording(const nb_cmd *c, const char *what)
{
    if (!c)
        return nb__fail(NB_ERR_INVALID_ARGUMENT, "%s: NULL recording", what);
    if (!c->recording)
        return nb__fail(NB_ERR_INVALID_ARGUMENT, "%s: the recording was submitted; call nb_cmd_reset first", what);
    return NB_OK;
}

nb_status nb_cmd_dispatch(nb_cmd *c, const nb_kernel *k, const uint32_t groups[3], nb_buffer *const *buffers,
                          const void *push, const char *label)
{
    nb_status s = check_recording(c, "nb_cmd_dispatch");
    if (s)
        return s;
    if (!k || !groups)
        return nb__fail(NB_ERR_INVALID_ARGUMENT, "nb_cmd_dispatch: NULL kernel or group count");
    const nb_device_info *di = &c->ctx->info;
    for (int i = 0; i < 3; i++)
        if (groups[i] == 0 || groups[i] > di->max_workgroup_count[i])
            return nb__fail(NB_ERR_INVALID_ARGUMENT,
                            "kernel '%s': %u workgroups in dimension %d (1 to %u on this device)", k->name,
                            groups[i], i, di->max_workgroup_count[i]);
    if (k->push_bytes && !push)
        return nb__fail(NB_ERR_INVALID_ARGUMENT, "kernel '%s' needs %u bytes of push constants", k->name,
                        k->push_bytes);
    if (!c->cpu)
        return NB_VK(nb__vk_cmd_dispatch(c, k, groups, buffers, push, label));
    if (k->n_bindings && !buffers)
        return nb__fail(NB_ERR_INVALID_ARGUMENT, "kernel '%s' needs %u buffers", k->name, k->n_bindings);
    for (uint32_t i = 0; i < k->n_bindings; i++)
        if (buffers[i] && buffers[i]->ctx != c->ctx)
            return nb__fail(NB_ERR_INVALID_ARGUMENT, "kernel '%s': binding %u belongs to another context", k->name,
                            i);
    if ((s = nb__cpu_cmd_dispatch(c->cpu, k, groups, buffers, push, label)) == NB_OK)
        c->stats.ops++;
    return s;
}

nb_status nb_cmd_fft(nb_cmd *c, nb_fft *plan, nb_buffer *in, nb_buffer *out, const char *label)
{
    nb_status s = check_recording(c, "nb_cmd_fft");
    if (s)
        return s;
    if (!plan || !in || !out)
        return nb__fail(NB_ERR_INVALID_ARGUMENT, "nb_cmd_fft: NULL plan or buffer");
    if (in == out)
        return nb__fail(NB_ERR_INVALID_ARGUMENT, "nb_cmd_fft: in and out must be different buffers");
    nb_fft_kind kind = nb__fft_kind(plan);
    uint64_t need_in = kind == NB_FFT_R2C ? nb__fft_real_bytes(plan) : nb__fft_complex_bytes(plan);
    uint64_t need_out = kind == NB_FFT_R2C ? nb__fft_complex_bytes(plan) : nb__fft_real_bytes(plan);
    if (in->size < need_in || out->size < need_out)
        return nb__fail(NB_ERR_INVALID_ARGUMENT,
                        "nb_cmd_fft: buffers of %llu and %llu bytes, the plan needs %llu in and %llu out",
                        (unsigned long long)in->size, (unsigned long long)out->size, (unsigned long long)need_in,
                        (unsigned long long)need_out);
    if (!c->cpu)
        return NB_VK(nb__vk_cmd_fft(c, plan, in, out, label));
    if ((s = nb__cpu_cmd_fft(c->cpu, plan, in, out, label ? label : (kind == NB_FFT_R2C ? "fft_r2c" : "fft_c2r"))) ==
        NB_OK)
        c->stats.ops++;
    return s;
}

nb_status nb_cmd_copy(nb_cmd *c, nb_buffer *src, uint64_t so, nb_buffer *dst, uint64_t dof, uint64_t bytes)
{
    nb_status s = check_recording(c, "nb_cmd_copy");
    if (s)
        return s;
    if (!src || !dst || bytes == 0 || so > src->size || bytes > src->size - so || dof > dst->size ||
        bytes > dst->size - dof)
        return nb__fail(NB_ERR_INVALID_ARGUMENT, "nb_cmd_copy: NULL buffer, zero bytes or range out of bounds");
    if (src == dst && so < dof + bytes && dof < so + bytes)
        return nb__fail(NB_ERR_INVALID_ARGUMENT, "nb_cmd_copy: overlapping ranges in one buffer");
    if (!c->cpu)
        return NB_VK(nb__vk_cmd_copy(c, src, so, dst, dof, bytes));
    if ((s = nb__cpu_cmd_copy(c->cpu, src, so, dst, dof, bytes)) == NB_OK)
        c->stats.ops++;
    return s;
}

nb_status nb_cmd_fill(nb_cmd *c, nb_buffer *dst, uint64_t off, uint64_t bytes, uint32_t word)
{
    nb_status s = check_recording(c, "nb_cmd_fill");
    if (s)
        return s;
    if (!dst || off % 4 || bytes % 4 || bytes == 0 || off > dst->size || bytes > dst->size - off)
        return nb__fail(NB_ERR_INVALID_ARGUMENT,
                        "nb_cmd_fill: offset and size must be multiples of 4 inside the buffer");
    if (!c->cpu)
        return NB_VK(nb__vk_cmd_fill(c, dst, off, bytes, word));
    if ((s = nb__cpu_cmd_fill(c->cpu, dst, off, bytes, word)) == NB_OK)
        c->stats.ops++;
    return s;
}

static nb_status submit(nb_cmd *c)
{
    if (!c->cpu)
        return NB_VK(nb__vk_cmd_run(c));
    nb_status s = nb__cpu_cmd_submit(c->cpu);
    c->gpu_ms = nb__cpu_cmd_ms(c->cpu);
    if (!s && c->profile) {
        const nb_profile_row *rows;
        (void)nb__cpu_cmd_profile(c->cpu, &rows, &c->nrows);
        free(c->rows);
        c->rows = c->nrows ? malloc(c->nrows * sizeof *c->rows) : NULL;
        if (c->nrows && !c->rows)
            return nb__fail(NB_ERR_OUT_OF_MEMORY, "out of host memory");
        if (c->nrows)
            memcpy(c->rows, rows, c->nrows * sizeof *c->rows);
    }
    return s;
}

nb_status nb_cmd_submit(nb_cmd *c)
{
    nb_status s = check_recording(c, "nb_cmd_submit");
    if (s)
        return s;
    s = c->cpu ? NB_OK : NB_VK(nb__vk_cmd_end(c));
    c->recording = 0;
    if (s)
        return s;
    c->submitted_once = 1;
    return submit(c);
}

nb_status nb_cmd_resubmit(nb_cmd *c)
{
    if (!c || c->recording || !c->submitted_once)
        return nb__fail(NB_ERR_INVALID_ARGUMENT, "nb_cmd_resubmit: submit the recording once first");
    return submit(c);
}

nb_status nb_cmd_reset(nb_cmd *c)
{
    if (!c)
        return nb__fail(NB_ERR_INVALID_ARGUMENT, "nb_cmd_reset: NULL recording");
    if (!c->cpu)
        return NB_VK(nb__vk_cmd_reset(c));
    nb__cpu_cmd_reset(c->cpu);
    memset(&c->stats, 0, sizeof c->stats);
    c->recording = 1;
    c->submitted_once = 0;
    return NB_OK;
}

void nb_cmd_stats_get(const nb_cmd *c, nb_cmd_stats *s) { *s = c->stats; }

nb_status nb_cmd_profile(const nb_cmd *c, const nb_profile_row **rows, uint32_t *n)
{
    *rows = c->rows;
    *n = c->nrows;
    if (!c->profile)
        return nb__fail(NB_ERR_UNSUPPORTED, "no profile: not requested, or the device has no timestamp queries");
    return NB_OK;
}

double nb_cmd_gpu_ms(const nb_cmd *c) { return c->gpu_ms; }

void nb_cmd_destroy(nb_cmd *c)
{
    if (!c)
        return;
    if (c->cpu)
        nb__cpu_cmd_free(c->cpu);
    else
        NB_VK_VOID(nb__vk_cmd_destroy(c));
    free(c->rows);
    free(c);
}
