/* kernel.c - GLSL compiled at run time by glslang, a SPIR-V disk cache, pipelines. */
#include "nb_internal.h"

#include <errno.h>
#include <glslang/Include/glslang_c_interface.h>
#include <glslang/Public/resource_limits_c.h>
#include <glslang/build_info.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The shader table generated at build time from shaders/ (shaders_gen.c). */
typedef struct nb_shader_src {
    const char *name;
    const char *source;
} nb_shader_src;
extern const nb_shader_src nb__shaders[];
extern const uint32_t nb__shader_count;

#define STR2(x) #x
#define STR(x) STR2(x)
#define GLSLANG_VERSION_STRING                                                                     \
    STR(GLSLANG_VERSION_MAJOR) "." STR(GLSLANG_VERSION_MINOR) "." STR(GLSLANG_VERSION_PATCH)

static const char SPV_MAGIC[8] = {'N', 'B', 'S', 'P', 'V', '0', '0', '1'};

uint32_t nb_shader_count(void) { return nb__shader_count; }
const char *nb_shader_name(uint32_t i) { return i < nb__shader_count ? nb__shaders[i].name : NULL; }

const char *nb_shader_source(const char *name)
{
    for (uint32_t i = 0; i < nb__shader_count; i++)
        if (strcmp(nb__shaders[i].name, name) == 0)
            return nb__shaders[i].source;
    return NULL;
}

/* ----------------------------------------------------------- glslang once */

static pthread_once_t g_glslang_once = PTHREAD_ONCE_INIT;
static int g_glslang_ok;
static void glslang_once(void) { g_glslang_ok = glslang_initialize_process(); }

static void uuid_hex(const uint8_t *u, char *out)
{
    for (int i = 0; i < 16; i++)
        snprintf(out + 2 * i, 3, "%02x", u[i]);
}

static void pipeline_cache_path(const nb_context *ctx, char *out, size_t cap)
{
    char hex[33];
    uuid_hex(ctx->info.device_uuid, hex);
    snprintf(out, cap, "%s/pipelines-%08x-%08x-%s.bin", ctx->kern.cache_dir, ctx->info.vendor_id,
             ctx->info.driver_version, hex);
}

nb_status nb__kernels_init(nb_context *ctx, const char *cache_dir)
{
    pthread_once(&g_glslang_once, glslang_once);
    if (!g_glslang_ok)
        return nb__fail(NB_ERR_COMPILE, "glslang_initialize_process failed");
    nb_kernels *k = &ctx->kern;
    nb__cache_dir_init(ctx, cache_dir); /* an unwritable cache only costs time */

    void *data = NULL;
    size_t n = 0;
    if (k->cache_dir[0]) {
        char path[1200];
        pipeline_cache_path(ctx, path, sizeof path);
        data = nb__read_file(path, &n);
        /* Check the header ourselves too: a stale or foreign file is ignored. */
        if (data && n >= 32) {
            const uint32_t *h = data;
            VkPhysicalDeviceProperties p;
            vkGetPhysicalDeviceProperties(ctx->phys, &p);
            if (h[0] < 32 || h[1] != VK_PIPELINE_CACHE_HEADER_VERSION_ONE || h[2] != p.vendorID ||
                h[3] != p.deviceID || memcmp(&h[4], p.pipelineCacheUUID, VK_UUID_SIZE) != 0) {
                free(data);
                data = NULL;
                n = 0;
            }
        } else if (data) {
            free(data);
            data = NULL;
            n = 0;
        }
    }
    VkPipelineCacheCreateInfo ci = {.sType = VK_STRUCTURE_TYPE_PIPELINE_CACHE_CREATE_INFO,
                                    .initialDataSize = data ? n : 0,
                                    .pInitialData = data};
    VkResult r = vkCreatePipelineCache(ctx->device, &ci, NULL, &k->pipeline_cache);
    if (r != VK_SUCCESS && data) { /* a corrupt file: start empty */
        ci.initialDataSize = 0;
        ci.pInitialData = NULL;
        r = vkCreatePipelineCache(ctx->device, &ci, NULL, &k->pipeline_cache);
    }
    if (data)
        k->pipeline_cache_hash = nb__hash64(NB_HASH_SEED, data, n);
    free(data);
    if (r != VK_SUCCESS)
        return nb__vkfail(r, "vkCreatePipelineCache");
    return NB_OK;
}

nb_status nb_pipeline_cache_save(nb_context *ctx)
{
    nb_kernels *k = &ctx->kern;
    if (!k->pipeline_cache || !k->cache_dir[0])
        return NB_OK;
    size_t n = 0;
    VkResult r = vkGetPipelineCacheData(ctx->device, k->pipeline_cache, &n, NULL);
    if (r != VK_SUCCESS || n == 0)
        return r == VK_SUCCESS ? NB_OK : nb__vkfail(r, "vkGetPipelineCacheData");
    void *data = malloc(n);
    if (!data)
        return nb__fail(NB_ERR_OUT_OF_MEMORY, "out of host memory");
    r = vkGetPipelineCacheData(ctx->device, k->pipeline_cache, &n, data);
    nb_status s = NB_OK;
    if (r != VK_SUCCESS) {
        s = nb__vkfail(r, "vkGetPipelineCacheData");
    } else {
        uint64_t h = nb__hash64(NB_HASH_SEED, data, n);
        if (h != k->pipeline_cache_hash) {
            char path[1200];
            pipeline_cache_path(ctx, path, sizeof path);
            if (nb__write_atomic(path, data, n) != 0)
                s = nb__fail(NB_ERR_IO, "cannot write the pipeline cache %s: %s", path, strerror(errno));
            else
                k->pipeline_cache_hash = h;
        }
    }
    free(data);
    return s;
}

void nb__kernels_destroy(nb_context *ctx)
{
    if (!ctx->kern.pipeline_cache)
        return;
    nb_pipeline_cache_save(ctx); /* best effort at teardown */
    vkDestroyPipelineCache(ctx->device, ctx->kern.pipeline_cache, NULL);
    ctx->kern.pipeline_cache = VK_NULL_HANDLE;
}

/* --------------------------------------------------------------- sources */

typedef struct strbuf {
    char *p;
    size_t n, cap;
    int oom;
} strbuf;

static void sb_add(strbuf *b, const char *s, size_t n)
{
    if (b->oom || n > ((size_t)-1) / 4) {
        b->oom = 1;
        return;
    }
    if (b->n + n + 1 > b->cap) {
        size_t cap = (b->cap ? b->cap * 2 : 4096);
        while (cap < b->n + n + 1)
            cap *= 2;
        char *np = realloc(b->p, cap);
        if (!np) {
            b->oom = 1;
            return;
        }
        b->p = np;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}

static void sb_str(strbuf *b, const char *s) { sb_add(b, s, strlen(s)); }

/* Puts the defines right after #version, then a #line so that error
 * messages keep the line numbers of the original file. */
static nb_status assemble(const nb_kernel_desc *d, const char *src, strbuf *out)
{
    const char *ver = strstr(src, "#version");
    uint32_t line = 1;
    const char *rest = src;
    if (ver) {
        for (const char *p = src; p < ver; p++)
            if (*p == '\n')
                line++;
        const char *eol = strchr(ver, '\n');
        size_t n = eol ? (size_t)(eol - src) + 1 : strlen(src);
        sb_add(out, src, n);
        if (!eol)
            sb_str(out, "\n");
        rest = src + n;
        line++;
    } else {
        sb_str(out, "#version 450\n");
    }
    for (int i = 0; i < NB_MAX_DEFINES && d->defines[i]; i++) {
        const char *def = d->defines[i];
        const char *eq = strchr(def, '=');
        if (!*def || def[0] == '=' || strchr(def, '\n'))
            return nb__fail(NB_ERR_INVALID_ARGUMENT, "kernel '%s': malformed define '%s'", d->name, def);
        sb_str(out, "#define ");
        if (eq) {
            sb_add(out, def, (size_t)(eq - def));
            sb_str(out, " ");
            sb_str(out, eq + 1);
        } else {
            sb_str(out, def);
        }
        sb_str(out, "\n");
    }
    char ln[32];
    snprintf(ln, sizeof ln, "#line %u\n", line);
    sb_str(out, ln);
    /* `#include "x.glsl"` pulls in an embedded shaders/x.glsl (one level),
     * followed by a #line so the file's own numbering goes on. */
    for (const char *p = rest; *p;) {
        const char *eol = strchr(p, '\n');
        size_t n = eol ? (size_t)(eol - p) + 1 : strlen(p);
        line++;
        if (strncmp(p, "#include \"", 10) == 0) {
            const char *q = strchr(p + 10, '"');
            char inc[64];
            if (!q || q > p + n || (size_t)(q - (p + 10)) >= sizeof inc)
                return nb__fail(NB_ERR_COMPILE, "kernel '%s', line %u: malformed #include", d->name, line - 1);
            snprintf(inc, sizeof inc, "%.*s", (int)(q - (p + 10)), p + 10);
            const char *text = nb_shader_source(inc);
            if (!text)
                return nb__fail(NB_ERR_COMPILE, "kernel '%s', line %u: no embedded shader '%s' to include",
                                d->name, line - 1, inc);
            sb_str(out, text);
            snprintf(ln, sizeof ln, "\n#line %u\n", line);
            sb_str(out, ln);
        } else {
            sb_add(out, p, n);
        }
        p += n;
    }
    if (out->oom)
        return nb__fail(NB_ERR_OUT_OF_MEMORY, "out of host memory");
    return NB_OK;
}

/* Rewrites glslang's "ERROR: 0:12: msg" lines as "kernel 'k', line 12: msg". */
static nb_status compile_error(const char *kname, const char *stage, const char *log)
{
    char msg[1800];
    size_t at = (size_t)snprintf(msg, sizeof msg, "kernel '%s' failed to compile (%s)", kname, stage);
    const char *p = log ? log : "";
    int lines = 0;
    while (*p && at < sizeof msg - 1 && lines < 8) {
        const char *eol = strchr(p, '\n');
        size_t n = eol ? (size_t)(eol - p) : strlen(p);
        char ln[512];
        snprintf(ln, sizeof ln, "%.*s", (int)(n < sizeof ln - 1 ? n : sizeof ln - 1), p);
        const char *q = ln;
        if (strncmp(q, "ERROR: ", 7) == 0)
            q += 7;
        else if (strncmp(q, "WARNING: ", 9) == 0)
            q += 9;
        unsigned src = 0, line = 0;
        int used = 0;
        if (!ln[0] || strstr(q, "compilation terminated") || strstr(q, "compilation errors")) {
            /* glslang's epilogue, not a finding */
        } else if (sscanf(q, "%u:%u: %n", &src, &line, &used) == 2 && used > 0) {
            at += (size_t)snprintf(msg + at, sizeof msg - at, "\n  kernel '%s', line %u: %s", kname, line, q + used);
            lines++;
        } else {
            at += (size_t)snprintf(msg + at, sizeof msg - at, "\n  %s", ln);
            lines++;
        }
        p = eol ? eol + 1 : p + n;
    }
    return nb__fail(NB_ERR_COMPILE, "%s", msg);
}

static nb_status glsl_to_spirv(const char *kname, const char *code, uint32_t **words, size_t *nwords)
{
    glslang_input_t in = {
        .language = GLSLANG_SOURCE_GLSL,
        .stage = GLSLANG_STAGE_COMPUTE,
        .client = GLSLANG_CLIENT_VULKAN,
        .client_version = GLSLANG_TARGET_VULKAN_1_1,
        .target_language = GLSLANG_TARGET_SPV,
        .target_language_version = GLSLANG_TARGET_SPV_1_3,
        .code = code,
        .default_version = 450,
        .default_profile = GLSLANG_NO_PROFILE,
        .force_default_version_and_profile = 0,
        .forward_compatible = 0,
        .messages = GLSLANG_MSG_DEFAULT_BIT | GLSLANG_MSG_SPV_RULES_BIT | GLSLANG_MSG_VULKAN_RULES_BIT,
        .resource = glslang_default_resource(),
    };
    glslang_shader_t *sh = glslang_shader_create(&in);
    if (!sh)
        return nb__fail(NB_ERR_OUT_OF_MEMORY, "glslang_shader_create failed");
    nb_status s = NB_OK;
    if (!glslang_shader_preprocess(sh, &in)) {
        s = compile_error(kname, "preprocess", glslang_shader_get_info_log(sh));
        glslang_shader_delete(sh);
        return s;
    }
    if (!glslang_shader_parse(sh, &in)) {
        s = compile_error(kname, "parse", glslang_shader_get_info_log(sh));
        glslang_shader_delete(sh);
        return s;
    }
    glslang_program_t *pr = glslang_program_create();
    glslang_program_add_shader(pr, sh);
    if (!glslang_program_link(pr, GLSLANG_MSG_SPV_RULES_BIT | GLSLANG_MSG_VULKAN_RULES_BIT)) {
        s = compile_error(kname, "link", glslang_program_get_info_log(pr));
    } else {
        glslang_program_SPIRV_generate(pr, GLSLANG_STAGE_COMPUTE);
        size_t n = glslang_program_SPIRV_get_size(pr);
        uint32_t *w = malloc(n * sizeof *w);
        if (!w) {
            s = nb__fail(NB_ERR_OUT_OF_MEMORY, "out of host memory");
        } else {
            glslang_program_SPIRV_get(pr, w);
            *words = w;
            *nwords = n;
        }
    }
    glslang_program_delete(pr);
    glslang_shader_delete(sh);
    return s;
}

/* ------------------------------------------------------------ disk cache */

static void spirv_cache_key(const nb_context *ctx, const char *name, const char *code, strbuf *key)
{
    char dev[128], hex[33];
    uuid_hex(ctx->info.device_uuid, hex);
    snprintf(dev, sizeof dev, "%08x:%08x:%08x:%s", ctx->info.vendor_id, ctx->info.device_id,
             ctx->info.driver_version, hex);
    sb_str(key, "noble-spirv\nglslang " GLSLANG_VERSION_STRING " vulkan1.1 spv1.3\n");
    sb_str(key, dev);
    sb_str(key, "\n");
    sb_str(key, name);
    sb_str(key, "\n");
    sb_str(key, code);
}

static void spirv_cache_path(const nb_context *ctx, const strbuf *key, char *out, size_t cap)
{
    uint64_t h = nb__hash64(NB_HASH_SEED, key->p, key->n);
    snprintf(out, cap, "%s/spirv-%016llx.bin", ctx->kern.cache_dir, (unsigned long long)h);
}

/* File: magic[8], u64 key bytes, key, u64 words, SPIR-V. The whole key is
 * compared, so a hash collision can never load the wrong SPIR-V. */
static int spirv_cache_load(const char *path, const strbuf *key, uint32_t **words, size_t *nwords)
{
    size_t n = 0;
    unsigned char *d = nb__read_file(path, &n);
    if (!d)
        return 0;
    int ok = 0;
    uint64_t klen, wn;
    if (n >= 24 && memcmp(d, SPV_MAGIC, 8) == 0) {
        memcpy(&klen, d + 8, 8);
        if (klen == key->n && 16 + klen + 8 <= n && memcmp(d + 16, key->p, klen) == 0) {
            memcpy(&wn, d + 16 + klen, 8);
            if (wn > 0 && 24 + klen + wn * 4 == n) {
                uint32_t *w = malloc(wn * 4);
                if (w) {
                    memcpy(w, d + 24 + klen, wn * 4);
                    if (w[0] == 0x07230203u) {
                        *words = w;
                        *nwords = wn;
                        ok = 1;
                    } else {
                        free(w);
                    }
                }
            }
        }
    }
    free(d);
    return ok;
}

static void spirv_cache_store(const char *path, const strbuf *key, const uint32_t *w, size_t nw)
{
    size_t hn = 16 + key->n + 8;
    unsigned char *h = malloc(hn);
    if (!h)
        return;
    uint64_t klen = key->n, wn = nw;
    memcpy(h, SPV_MAGIC, 8);
    memcpy(h + 8, &klen, 8);
    memcpy(h + 16, key->p, key->n);
    memcpy(h + 16 + key->n, &wn, 8);
    nb__write_atomic2(path, h, hn, w, nw * 4); /* a failed store only costs time */
    free(h);
}

/* ---------------------------------------------------------------- kernels */

static nb_status make_pipeline(nb_context *ctx, nb_kernel *k, const nb_kernel_desc *d, const uint32_t *w,
                               size_t nw)
{
    VkDevice dev = ctx->device;
    VkShaderModuleCreateInfo mi = {.sType = VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO,
                                   .codeSize = nw * 4,
                                   .pCode = w};
    VkResult r = vkCreateShaderModule(dev, &mi, NULL, &k->module);
    if (r != VK_SUCCESS)
        return nb__vkfail(r, "vkCreateShaderModule");
    VkDescriptorSetLayoutBinding b[NB_MAX_BINDINGS];
    for (uint32_t i = 0; i < d->n_bindings; i++)
        b[i] = (VkDescriptorSetLayoutBinding){.binding = i,
                                              .descriptorType = nb__descriptor_type(d->access[i]),
                                              .descriptorCount = 1,
                                              .stageFlags = VK_SHADER_STAGE_COMPUTE_BIT};
    VkDescriptorSetLayoutCreateInfo li = {.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO,
                                          .bindingCount = d->n_bindings,
                                          .pBindings = b};
    if ((r = vkCreateDescriptorSetLayout(dev, &li, NULL, &k->set_layout)) != VK_SUCCESS)
        return nb__vkfail(r, "vkCreateDescriptorSetLayout");
    VkPushConstantRange pr = {.stageFlags = VK_SHADER_STAGE_COMPUTE_BIT, .offset = 0, .size = d->push_bytes};
    VkPipelineLayoutCreateInfo pli = {.sType = VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO,
                                      .setLayoutCount = 1,
                                      .pSetLayouts = &k->set_layout,
                                      .pushConstantRangeCount = d->push_bytes ? 1 : 0,
                                      .pPushConstantRanges = &pr};
    if ((r = vkCreatePipelineLayout(dev, &pli, NULL, &k->layout)) != VK_SUCCESS)
        return nb__vkfail(r, "vkCreatePipelineLayout");
    VkSpecializationMapEntry me[NB_MAX_SPEC];
    for (uint32_t i = 0; i < d->n_spec; i++)
        me[i] = (VkSpecializationMapEntry){.constantID = d->spec_id[i], .offset = 4 * i, .size = 4};
    VkSpecializationInfo si = {.mapEntryCount = d->n_spec,
                               .pMapEntries = me,
                               .dataSize = 4 * d->n_spec,
                               .pData = d->spec_value};
    VkComputePipelineCreateInfo ci = {.sType = VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO,
                                      .stage = {.sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO,
                                                .stage = VK_SHADER_STAGE_COMPUTE_BIT,
                                                .module = k->module,
                                                .pName = "main",
                                                .pSpecializationInfo = d->n_spec ? &si : NULL},
                                      .layout = k->layout};
    double t0 = nb__now_ms();
    r = vkCreateComputePipelines(dev, ctx->kern.pipeline_cache, 1, &ci, NULL, &k->pipeline);
    ctx->kern.stats.pipeline_ms += nb__now_ms() - t0;
    if (r != VK_SUCCESS)
        return nb__vkfail(r, "vkCreateComputePipelines");
    return NB_OK;
}

/* After api.c's checks of the description. */
nb_status nb__vk_kernel_create(nb_context *ctx, const nb_kernel_desc *d, nb_kernel **out)
{
    nb_status s;
    const char *src = d->source ? d->source : nb_shader_source(d->name);
    if (!src)
        return nb__fail(NB_ERR_INVALID_ARGUMENT, "no shader named '%s' is embedded (shaders/%s.comp)", d->name,
                        d->name);
    strbuf code = {0}, key = {0};
    if ((s = assemble(d, src, &code))) {
        free(code.p);
        return s;
    }
    nb_kernel *k = nb__kernel_new(ctx, d);
    if (!k) {
        free(code.p);
        return nb__fail(NB_ERR_OUT_OF_MEMORY, "out of host memory");
    }

    uint32_t *w = NULL;
    size_t nw = 0;
    char path[1200] = "";
    if (ctx->kern.cache_dir[0]) {
        spirv_cache_key(ctx, d->name, code.p, &key);
        if (key.oom) {
            s = nb__fail(NB_ERR_OUT_OF_MEMORY, "out of host memory");
            goto done;
        }
        spirv_cache_path(ctx, &key, path, sizeof path);
        k->from_cache = spirv_cache_load(path, &key, &w, &nw);
    }
    if (!w) {
        double t0 = nb__now_ms();
        s = glsl_to_spirv(d->name, code.p, &w, &nw);
        ctx->kern.stats.compile_ms += nb__now_ms() - t0;
        if (s)
            goto done;
        ctx->kern.stats.compiled++;
        if (path[0])
            spirv_cache_store(path, &key, w, nw);
    } else {
        ctx->kern.stats.cache_hits++;
    }
    s = make_pipeline(ctx, k, d, w, nw);
done:
    free(w);
    free(code.p);
    free(key.p);
    if (s) {
        nb_kernel_destroy(k);
        return s;
    }
    *out = k;
    return NB_OK;
}

/* Vulkan's part of nb_kernel_destroy (api.c), which frees k. */
void nb__vk_kernel_destroy(nb_kernel *k)
{
    VkDevice dev = k->ctx->device;
    if (k->pipeline)
        vkDestroyPipeline(dev, k->pipeline, NULL);
    if (k->layout)
        vkDestroyPipelineLayout(dev, k->layout, NULL);
    if (k->set_layout)
        vkDestroyDescriptorSetLayout(dev, k->set_layout, NULL);
    if (k->module)
        vkDestroyShaderModule(dev, k->module, NULL);
}
