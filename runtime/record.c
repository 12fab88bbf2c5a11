/* record.c - many ops in one command buffer, barriers only on hazards,
 * one submit and one fence wait, GPU timestamps per op. A host FFT
 * (nb_fft_backend) splits the recording into segments: the submit runs
 * each segment's command buffer, waits, then runs the host op after it. */
#include "nb_internal.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SETS_PER_POOL 512
#define QUERIES_PER_POOL 1024

typedef struct vec_buf {
    VkBuffer *v;
    uint32_t n, cap;
} vec_buf;

typedef struct op_rec {
    uint16_t label;      /* index into labels */
    uint32_t query;      /* first of two timestamps, or UINT32_MAX */
    int host;            /* a host op: host_ms is its time */
    double host_ms;
} op_rec;

typedef struct host_op {
    nb_fft *plan;
    nb_buffer *in, *out;
    uint32_t after;      /* runs after segment `after` */
    uint32_t op;         /* its op_rec when profiling, else UINT32_MAX */
} host_op;

struct nb_cmd {
    nb_context *ctx;
    VkCommandBuffer cb;  /* the segment being recorded: cbs[ncb - 1] */
    VkCommandBuffer *cbs;
    uint32_t ncb, alloccb;
    host_op *hops;
    uint32_t nhops, caphops;
    VkFence fence;
    int recording, submitted_once;

    VkDescriptorPool *dpools;
    uint32_t ndpools, cur_dpool;

    vec_buf written, read; /* since the last barrier */
    nb_cmd_stats stats;

    int profile;
    VkQueryPool *qpools;
    uint32_t nqpools, nqueries;
    op_rec *ops;
    uint32_t nops, capops;
    char (*labels)[48];
    uint32_t nlabels, caplabels;
    nb_profile_row *rows;
    uint32_t nrows;
    double gpu_ms;

    nb_cpu_cmd *cpu; /* the CPU backend's recording (cpu.c); NULL on Vulkan */
};

static int vec_has(const vec_buf *s, VkBuffer b)
{
    for (uint32_t i = 0; i < s->n; i++)
        if (s->v[i] == b)
            return 1;
    return 0;
}

static int vec_add(vec_buf *s, VkBuffer b)
{
    if (vec_has(s, b))
        return 0;
    VkBuffer *v = nb__grow(s->v, s->n, &s->cap, sizeof *v, 16);
    if (!v)
        return -1;
    s->v = v;
    s->v[s->n++] = b;
    return 0;
}

static nb_status new_dpool(nb_cmd *c)
{
    VkDescriptorPoolSize ps[3] = {{.type = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
                                   .descriptorCount = SETS_PER_POOL * NB_MAX_BINDINGS},
                                  {.type = VK_DESCRIPTOR_TYPE_UNIFORM_BUFFER,
                                   .descriptorCount = SETS_PER_POOL * NB_MAX_BINDINGS},
                                  {.type = VK_DESCRIPTOR_TYPE_UNIFORM_TEXEL_BUFFER,
                                   .descriptorCount = SETS_PER_POOL * NB_MAX_BINDINGS}};
    VkDescriptorPoolCreateInfo ci = {.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO,
                                     .maxSets = SETS_PER_POOL,
                                     .poolSizeCount = 3,
                                     .pPoolSizes = ps};
    VkDescriptorPool *np = realloc(c->dpools, (c->ndpools + 1) * sizeof *np);
    if (!np)
        return nb__fail(NB_ERR_OUT_OF_MEMORY, "out of host memory");
    c->dpools = np;
    VkResult r = vkCreateDescriptorPool(c->ctx->device, &ci, NULL, &c->dpools[c->ndpools]);
    if (r != VK_SUCCESS)
        return nb__vkfail(r, "vkCreateDescriptorPool");
    c->ndpools++;
    return NB_OK;
}

static nb_status begin_cb(nb_cmd *c)
{
    VkCommandBufferBeginInfo bi = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO};
    VkResult r = vkBeginCommandBuffer(c->cb, &bi);
    if (r != VK_SUCCESS)
        return nb__vkfail(r, "vkBeginCommandBuffer");
    c->recording = 1;
    return NB_OK;
}

/* Makes cbs[ncb] the current command buffer (allocating it when it is
 * new); the caller begins it. */
static nb_status next_segment(nb_cmd *c)
{
    if (c->ncb == c->alloccb) {
        VkCommandBuffer *nc = realloc(c->cbs, (c->alloccb + 1) * sizeof *nc);
        if (!nc)
            return nb__fail(NB_ERR_OUT_OF_MEMORY, "out of host memory");
        c->cbs = nc;
        VkCommandBufferAllocateInfo ai = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
                                          .commandPool = c->ctx->pool,
                                          .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
                                          .commandBufferCount = 1};
        VkResult r = vkAllocateCommandBuffers(c->ctx->device, &ai, &c->cbs[c->alloccb]);
        if (r != VK_SUCCESS)
            return nb__vkfail(r, "vkAllocateCommandBuffers");
        c->alloccb++;
    }
    c->cb = c->cbs[c->ncb++];
    return NB_OK;
}

/* Makes the device's writes so far visible to the host (before a submit
 * ends, or a host op runs). */
static void host_barrier(nb_cmd *c)
{
    VkMemoryBarrier mb = {.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
                          .srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT,
                          .dstAccessMask = VK_ACCESS_HOST_READ_BIT | VK_ACCESS_HOST_WRITE_BIT};
    vkCmdPipelineBarrier(c->cb, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT,
                         VK_PIPELINE_STAGE_HOST_BIT, 0, 1, &mb, 0, NULL, 0, NULL);
}

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
        if ((s = nb__cpu_cmd_init(&c->cpu, c->profile))) {
            free(c);
            return s;
        }
        c->recording = 1;
        *out = c;
        return NB_OK;
    }
    if ((s = next_segment(c))) {
        free(c->cbs);
        free(c);
        return s;
    }
    VkResult r;
    VkFenceCreateInfo fci = {.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
    if ((r = vkCreateFence(ctx->device, &fci, NULL, &c->fence)) != VK_SUCCESS) {
        s = nb__vkfail(r, "vkCreateFence");
        goto fail;
    }
    if ((s = new_dpool(c)) || (s = begin_cb(c)))
        goto fail;
    *out = c;
    return NB_OK;
fail:
    nb_cmd_destroy(c);
    return s;
}

static nb_status alloc_set(nb_cmd *c, VkDescriptorSetLayout layout, VkDescriptorSet *set)
{
    for (;;) {
        VkDescriptorSetAllocateInfo ai = {.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO,
                                          .descriptorPool = c->dpools[c->cur_dpool],
                                          .descriptorSetCount = 1,
                                          .pSetLayouts = &layout};
        VkResult r = vkAllocateDescriptorSets(c->ctx->device, &ai, set);
        if (r == VK_SUCCESS)
            return NB_OK;
        if (r != VK_ERROR_OUT_OF_POOL_MEMORY && r != VK_ERROR_FRAGMENTED_POOL)
            return nb__vkfail(r, "vkAllocateDescriptorSets");
        c->cur_dpool++;
        if (c->cur_dpool == c->ndpools) {
            nb_status s = new_dpool(c);
            if (s)
                return s;
        }
    }
}

/* Emits a barrier if this op touches what earlier ops since the last
 * barrier wrote, or writes what they read. */
static nb_status hazard(nb_cmd *c, const VkBuffer *reads, uint32_t nr, const VkBuffer *writes, uint32_t nw)
{
    int need = 0;
    for (uint32_t i = 0; i < nr && !need; i++)
        need = vec_has(&c->written, reads[i]);
    for (uint32_t i = 0; i < nw && !need; i++)
        need = vec_has(&c->written, writes[i]) || vec_has(&c->read, writes[i]);
    if (need) {
        VkMemoryBarrier mb = {.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
                              .srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT,
                              .dstAccessMask = VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT |
                                               VK_ACCESS_UNIFORM_READ_BIT | VK_ACCESS_TRANSFER_READ_BIT |
                                               VK_ACCESS_TRANSFER_WRITE_BIT};
        VkPipelineStageFlags st = VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT;
        vkCmdPipelineBarrier(c->cb, st, st, 0, 1, &mb, 0, NULL, 0, NULL);
        c->stats.barriers++;
        c->written.n = 0;
        c->read.n = 0;
    }
    for (uint32_t i = 0; i < nr; i++)
        if (vec_add(&c->read, reads[i]))
            return nb__fail(NB_ERR_OUT_OF_MEMORY, "out of host memory");
    for (uint32_t i = 0; i < nw; i++)
        if (vec_add(&c->written, writes[i]))
            return nb__fail(NB_ERR_OUT_OF_MEMORY, "out of host memory");
    return NB_OK;
}

static uint16_t label_id(nb_cmd *c, const char *label)
{
    for (uint32_t i = 0; i < c->nlabels; i++)
        if (strncmp(c->labels[i], label, 47) == 0)
            return (uint16_t)i;
    if (c->nlabels == c->caplabels) {
        uint32_t cap = c->caplabels ? c->caplabels * 2 : 16;
        if (cap > 65535)
            return 65535;
        char(*nl)[48] = realloc(c->labels, cap * sizeof *nl);
        if (!nl)
            return 65535;
        c->labels = nl;
        c->caplabels = cap;
    }
    snprintf(c->labels[c->nlabels], 48, "%s", label);
    return (uint16_t)c->nlabels++;
}

/* Starts timing an op; returns the query index or UINT32_MAX. */
static uint32_t op_begin(nb_cmd *c, const char *label)
{
    c->stats.ops++;
    if (!c->profile)
        return UINT32_MAX;
    op_rec *ops = nb__grow(c->ops, c->nops, &c->capops, sizeof *ops, 64);
    if (!ops)
        return UINT32_MAX;
    c->ops = ops;
    if (c->nqueries + 2 > c->nqpools * QUERIES_PER_POOL) {
        VkQueryPoolCreateInfo qi = {.sType = VK_STRUCTURE_TYPE_QUERY_POOL_CREATE_INFO,
                                    .queryType = VK_QUERY_TYPE_TIMESTAMP,
                                    .queryCount = QUERIES_PER_POOL};
        VkQueryPool *nq = realloc(c->qpools, (c->nqpools + 1) * sizeof *nq);
        if (!nq)
            return UINT32_MAX;
        c->qpools = nq;
        if (vkCreateQueryPool(c->ctx->device, &qi, NULL, &c->qpools[c->nqpools]) != VK_SUCCESS)
            return UINT32_MAX;
        vkCmdResetQueryPool(c->cb, c->qpools[c->nqpools], 0, QUERIES_PER_POOL);
        c->nqpools++;
        c->nqueries = (c->nqpools - 1) * QUERIES_PER_POOL;
    }
    uint32_t q = c->nqueries;
    c->nqueries += 2;
    c->ops[c->nops++] = (op_rec){.label = label_id(c, label), .query = q};
    vkCmdWriteTimestamp(c->cb, VK_PIPELINE_STAGE_TOP_OF_PIPE_BIT, c->qpools[q / QUERIES_PER_POOL],
                        q % QUERIES_PER_POOL);
    return q;
}

static void op_end(nb_cmd *c, uint32_t q)
{
    if (q == UINT32_MAX)
        return;
    q++;
    vkCmdWriteTimestamp(c->cb, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, c->qpools[q / QUERIES_PER_POOL],
                        q % QUERIES_PER_POOL);
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
    if (c->cpu) {
        if (k->n_bindings && !buffers)
            return nb__fail(NB_ERR_INVALID_ARGUMENT, "kernel '%s' needs %u buffers", k->name, k->n_bindings);
        for (uint32_t i = 0; i < k->n_bindings; i++)
            if (buffers[i] && buffers[i]->ctx != c->ctx)
                return nb__fail(NB_ERR_INVALID_ARGUMENT, "kernel '%s': binding %u belongs to another context",
                                k->name, i);
        if ((s = nb__cpu_cmd_dispatch(c->cpu, k, groups, buffers, push, label)) == NB_OK)
            c->stats.ops++;
        return s;
    }
    VkBuffer reads[NB_MAX_BINDINGS], writes[NB_MAX_BINDINGS];
    uint32_t nr = 0, nw = 0;
    VkDescriptorBufferInfo bi[NB_MAX_BINDINGS];
    VkBufferView tv[NB_MAX_BINDINGS];
    VkWriteDescriptorSet wr[NB_MAX_BINDINGS];
    VkDescriptorSet set = VK_NULL_HANDLE;
    if (k->n_bindings) {
        if (!buffers)
            return nb__fail(NB_ERR_INVALID_ARGUMENT, "kernel '%s' needs %u buffers", k->name, k->n_bindings);
        for (uint32_t i = 0; i < k->n_bindings; i++) {
            nb_buffer *b = buffers[i];
            if (!b)
                return nb__fail(NB_ERR_INVALID_ARGUMENT, "kernel '%s': binding %u is NULL", k->name, i);
            if (b->ctx != c->ctx)
                return nb__fail(NB_ERR_INVALID_ARGUMENT, "kernel '%s': binding %u belongs to another context",
                                k->name, i);
            int uniform = k->access[i] == NB_UNIFORM, texel = k->access[i] == NB_TEXEL;
            uint64_t bound = (b->size + 15) / 16 * 16; /* what VK_WHOLE_SIZE binds: whole texels */
            tv[i] = VK_NULL_HANDLE;
            if (texel && (b->size + 15) / 16 > di->max_texel_buffer_elements)
                return nb__fail(NB_ERR_UNSUPPORTED,
                                "kernel '%s': texel binding %u is %llu bytes; a uniform texel buffer holds at most %llu "
                                "vec4 (16 bytes each) on this device",
                                k->name, i, (unsigned long long)b->size,
                                (unsigned long long)di->max_texel_buffer_elements);
            if (texel && (s = nb__buffer_texel_view(b, &tv[i])))
                return s;
            if (uniform && bound > di->max_uniform_buffer_range)
                return nb__fail(NB_ERR_UNSUPPORTED,
                                "kernel '%s': uniform binding %u is %llu bytes, over the device's uniform buffer "
                                "range %llu",
                                k->name, i, (unsigned long long)b->size,
                                (unsigned long long)di->max_uniform_buffer_range);
            if (!uniform && !texel && bound > di->max_storage_buffer_range)
                return nb__fail(NB_ERR_UNSUPPORTED,
                                "kernel '%s': binding %u is %llu bytes, over the device's storage buffer range %llu",
                                k->name, i, (unsigned long long)b->size,
                                (unsigned long long)di->max_storage_buffer_range);
            if (uniform || texel || (k->access[i] & NB_READ))
                reads[nr++] = b->buffer;
            if (!uniform && !texel && (k->access[i] & NB_WRITE))
                writes[nw++] = b->buffer;
            bi[i] = (VkDescriptorBufferInfo){.buffer = b->buffer, .offset = 0, .range = VK_WHOLE_SIZE};
        }
        if ((s = alloc_set(c, k->set_layout, &set)))
            return s;
        for (uint32_t i = 0; i < k->n_bindings; i++)
            wr[i] = (VkWriteDescriptorSet){.sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET,
                                           .dstSet = set,
                                           .dstBinding = i,
                                           .descriptorCount = 1,
                                           .descriptorType = nb__descriptor_type(k->access[i]),
                                           .pBufferInfo = tv[i] ? NULL : &bi[i],
                                           .pTexelBufferView = tv[i] ? &tv[i] : NULL};
        vkUpdateDescriptorSets(c->ctx->device, k->n_bindings, wr, 0, NULL);
    }
    if ((s = hazard(c, reads, nr, writes, nw)))
        return s;
    uint32_t q = op_begin(c, label ? label : k->name);
    vkCmdBindPipeline(c->cb, VK_PIPELINE_BIND_POINT_COMPUTE, k->pipeline);
    if (set)
        vkCmdBindDescriptorSets(c->cb, VK_PIPELINE_BIND_POINT_COMPUTE, k->layout, 0, 1, &set, 0, NULL);
    if (k->push_bytes)
        vkCmdPushConstants(c->cb, k->layout, VK_SHADER_STAGE_COMPUTE_BIT, 0, k->push_bytes, push);
    vkCmdDispatch(c->cb, groups[0], groups[1], groups[2]);
    op_end(c, q);
    return NB_OK;
}

/* A host FFT: ends the segment here; the submit runs the transform after it. */
static nb_status host_fft(nb_cmd *c, nb_fft *plan, nb_buffer *in, nb_buffer *out, const char *label)
{
    if (!nb_buffer_map(in) || !nb_buffer_map(out))
        return nb__fail(NB_ERR_UNSUPPORTED, "nb_cmd_fft: the host FFT needs buffers the host can map");
    host_op *hops = nb__grow(c->hops, c->nhops, &c->caphops, sizeof *hops, 16);
    if (hops)
        c->hops = hops;
    op_rec *ops = c->profile ? nb__grow(c->ops, c->nops, &c->capops, sizeof *ops, 64) : c->ops;
    if (ops)
        c->ops = ops;
    if (!hops || (c->profile && !ops))
        return nb__fail(NB_ERR_OUT_OF_MEMORY, "out of host memory");
    uint32_t op = UINT32_MAX;
    c->stats.ops++;
    if (c->profile) {
        op = c->nops++;
        c->ops[op] = (op_rec){.label = label_id(c, label), .query = UINT32_MAX, .host = 1};
    }
    c->hops[c->nhops++] = (host_op){plan, in, out, c->ncb - 1, op};
    host_barrier(c);
    VkResult r = vkEndCommandBuffer(c->cb);
    c->recording = 0;
    if (r != VK_SUCCESS)
        return nb__vkfail(r, "vkEndCommandBuffer");
    nb_status s = next_segment(c);
    if (!s)
        s = begin_cb(c);
    /* the next segment starts after a full wait: no hazards carry over */
    c->written.n = c->read.n = 0;
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
    if (c->cpu) {
        if ((s = nb__cpu_cmd_fft(c->cpu, plan, in, out, label ? label : (kind == NB_FFT_R2C ? "fft_r2c" : "fft_c2r"))) ==
            NB_OK)
            c->stats.ops++;
        return s;
    }
    if (nb__fft_is_host(plan))
        return host_fft(c, plan, in, out, label ? label : (kind == NB_FFT_R2C ? "fft_r2c" : "fft_c2r"));
    /* VkFFT's C2R overwrites its complex input while it works. */
    VkBuffer rd = in->buffer, wr[2] = {out->buffer, in->buffer};
    if ((s = hazard(c, &rd, 1, wr, kind == NB_FFT_C2R ? 2 : 1)))
        return s;
    uint32_t q = op_begin(c, label ? label : (kind == NB_FFT_R2C ? "fft_r2c" : "fft_c2r"));
    s = nb__fft_record(plan, c->cb, in, out);
    op_end(c, q);
    /* VkFFT binds its own pipelines and sets; ours are rebound per dispatch. */
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
    if (c->cpu) {
        if ((s = nb__cpu_cmd_copy(c->cpu, src, so, dst, dof, bytes)) == NB_OK)
            c->stats.ops++;
        return s;
    }
    if ((s = hazard(c, &src->buffer, 1, &dst->buffer, 1)))
        return s;
    uint32_t q = op_begin(c, "copy");
    VkBufferCopy region = {.srcOffset = so, .dstOffset = dof, .size = bytes};
    vkCmdCopyBuffer(c->cb, src->buffer, dst->buffer, 1, &region);
    op_end(c, q);
    return NB_OK;
}

nb_status nb_cmd_fill(nb_cmd *c, nb_buffer *dst, uint64_t off, uint64_t bytes, uint32_t word)
{
    nb_status s = check_recording(c, "nb_cmd_fill");
    if (s)
        return s;
    if (!dst || off % 4 || bytes % 4 || bytes == 0 || off > dst->size || bytes > dst->size - off)
        return nb__fail(NB_ERR_INVALID_ARGUMENT,
                        "nb_cmd_fill: offset and size must be multiples of 4 inside the buffer");
    if (c->cpu) {
        if ((s = nb__cpu_cmd_fill(c->cpu, dst, off, bytes, word)) == NB_OK)
            c->stats.ops++;
        return s;
    }
    if ((s = hazard(c, NULL, 0, &dst->buffer, 1)))
        return s;
    uint32_t q = op_begin(c, "fill");
    vkCmdFillBuffer(c->cb, dst->buffer, off, bytes, word);
    op_end(c, q);
    return NB_OK;
}

static void collect_profile(nb_cmd *c)
{
    free(c->rows);
    c->rows = NULL;
    c->nrows = 0;
    c->gpu_ms = -1;
    if (!c->profile || c->nops == 0)
        return;
    uint64_t *ts = malloc((size_t)c->nqueries * sizeof *ts);
    c->rows = calloc(c->nlabels, sizeof *c->rows);
    if (!ts || !c->rows) {
        free(ts);
        return;
    }
    for (uint32_t p = 0; p < c->nqpools; p++) {
        uint32_t first = p * QUERIES_PER_POOL;
        uint32_t n = c->nqueries - first < QUERIES_PER_POOL ? c->nqueries - first : QUERIES_PER_POOL;
        if (vkGetQueryPoolResults(c->ctx->device, c->qpools[p], 0, n, n * sizeof *ts, ts + first, sizeof *ts,
                                  VK_QUERY_RESULT_64_BIT | VK_QUERY_RESULT_WAIT_BIT) != VK_SUCCESS) {
            free(ts);
            return;
        }
    }
    double period = c->ctx->info.timestamp_period_ns * 1e-6;
    uint64_t lo = UINT64_MAX, hi = 0;
    for (uint32_t i = 0; i < c->nops; i++) {
        double ms = c->ops[i].host_ms;
        if (!c->ops[i].host) {
            uint64_t a = ts[c->ops[i].query], b = ts[c->ops[i].query + 1];
            ms = b > a ? (double)(b - a) * period : 0.0;
            if (a < lo)
                lo = a;
            if (b > hi)
                hi = b;
        }
        nb_profile_row *r = &c->rows[c->ops[i].label];
        if (r->count == 0) {
            snprintf(r->label, sizeof r->label, "%s", c->labels[c->ops[i].label]);
            r->min_ms = ms;
            r->max_ms = ms;
        }
        r->count++;
        r->total_ms += ms;
        if (ms < r->min_ms)
            r->min_ms = ms;
        if (ms > r->max_ms)
            r->max_ms = ms;
    }
    c->nrows = c->nlabels;
    c->gpu_ms = hi > lo ? (double)(hi - lo) * period : 0.0;
    free(ts);
}

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec * 1e-6;
}

/* Each segment in turn, then the host ops after it. */
static nb_status submit(nb_cmd *c)
{
    if (c->cpu) {
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
    uint32_t h = 0;
    for (uint32_t i = 0; i < c->ncb; i++) {
        VkSubmitInfo si = {.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO,
                           .commandBufferCount = 1,
                           .pCommandBuffers = &c->cbs[i]};
        VkResult r = vkQueueSubmit(c->ctx->queue, 1, &si, c->fence);
        if (r != VK_SUCCESS)
            return nb__vkfail(r, "vkQueueSubmit");
        r = vkWaitForFences(c->ctx->device, 1, &c->fence, VK_TRUE, UINT64_MAX);
        vkResetFences(c->ctx->device, 1, &c->fence);
        if (r != VK_SUCCESS)
            return nb__vkfail(r, "vkWaitForFences");
        for (; h < c->nhops && c->hops[h].after == i; h++) {
            host_op *o = &c->hops[h];
            double t0 = now_ms();
            nb_status s = nb__fft_host_run(o->plan, o->in, o->out);
            if (s)
                return s;
            if (o->op != UINT32_MAX)
                c->ops[o->op].host_ms = now_ms() - t0;
        }
    }
    collect_profile(c);
    return NB_OK;
}

nb_status nb_cmd_submit(nb_cmd *c)
{
    nb_status s = check_recording(c, "nb_cmd_submit");
    if (s)
        return s;
    if (c->cpu) {
        c->recording = 0;
        c->submitted_once = 1;
        return submit(c);
    }
    /* Make every write visible to the host and to the next submit. */
    host_barrier(c);
    VkResult r = vkEndCommandBuffer(c->cb);
    c->recording = 0;
    if (r != VK_SUCCESS)
        return nb__vkfail(r, "vkEndCommandBuffer");
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
    if (c->cpu) {
        nb__cpu_cmd_reset(c->cpu);
        memset(&c->stats, 0, sizeof c->stats);
        c->recording = 1;
        c->submitted_once = 0;
        return NB_OK;
    }
    if (c->recording) {
        vkEndCommandBuffer(c->cb);
        c->recording = 0;
    }
    for (uint32_t i = 0; i < c->ncb; i++) {
        VkResult r = vkResetCommandBuffer(c->cbs[i], 0);
        if (r != VK_SUCCESS)
            return nb__vkfail(r, "vkResetCommandBuffer");
    }
    c->ncb = 0;
    c->nhops = 0;
    nb_status s = next_segment(c);
    if (s)
        return s;
    for (uint32_t i = 0; i < c->ndpools; i++)
        vkResetDescriptorPool(c->ctx->device, c->dpools[i], 0);
    c->cur_dpool = 0;
    c->written.n = c->read.n = 0;
    memset(&c->stats, 0, sizeof c->stats);
    c->nops = 0;
    c->nlabels = 0;
    c->submitted_once = 0;
    /* Query pools are kept; they are reset in the command buffer when reused. */
    uint32_t keep = c->nqpools;
    c->nqueries = 0;
    if ((s = begin_cb(c)))
        return s;
    for (uint32_t p = 0; p < keep; p++)
        vkCmdResetQueryPool(c->cb, c->qpools[p], 0, QUERIES_PER_POOL);
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
    if (c->cpu) {
        nb__cpu_cmd_free(c->cpu);
        free(c->rows);
        free(c);
        return;
    }
    VkDevice dev = c->ctx->device;
    if (c->recording)
        vkEndCommandBuffer(c->cb);
    for (uint32_t i = 0; i < c->ndpools; i++)
        vkDestroyDescriptorPool(dev, c->dpools[i], NULL);
    for (uint32_t i = 0; i < c->nqpools; i++)
        vkDestroyQueryPool(dev, c->qpools[i], NULL);
    if (c->fence)
        vkDestroyFence(dev, c->fence, NULL);
    if (c->alloccb)
        vkFreeCommandBuffers(dev, c->ctx->pool, c->alloccb, c->cbs);
    free(c->cbs);
    free(c->hops);
    free(c->dpools);
    free(c->qpools);
    free(c->written.v);
    free(c->read.v);
    free(c->ops);
    free(c->labels);
    free(c->rows);
    free(c);
}
