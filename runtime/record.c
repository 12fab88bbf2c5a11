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

/* Vulkan's part of a recording (nb_cmd, nb_internal.h, holds what both
 * backends share: the context, state, stats and profile rows). */
struct nb_vk_cmd {
    VkCommandBuffer cb;  /* the segment being recorded: cbs[ncb - 1] */
    VkCommandBuffer *cbs;
    uint32_t ncb, alloccb;
    host_op *hops;
    uint32_t nhops, caphops;
    VkFence fence;

    VkDescriptorPool *dpools;
    uint32_t ndpools, cur_dpool;

    vec_buf written, read; /* since the last barrier */

    VkQueryPool *qpools;
    uint32_t nqpools, nqueries;
    op_rec *ops;
    uint32_t nops, capops;
    char (*labels)[48];
    uint32_t nlabels, caplabels;
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
    VkDescriptorPool *np = realloc(c->vk->dpools, (c->vk->ndpools + 1) * sizeof *np);
    if (!np)
        return nb__fail(NB_ERR_OUT_OF_MEMORY, "out of host memory");
    c->vk->dpools = np;
    VkResult r = vkCreateDescriptorPool(c->ctx->device, &ci, NULL, &c->vk->dpools[c->vk->ndpools]);
    if (r != VK_SUCCESS)
        return nb__vkfail(r, "vkCreateDescriptorPool");
    c->vk->ndpools++;
    return NB_OK;
}

static nb_status begin_cb(nb_cmd *c)
{
    VkCommandBufferBeginInfo bi = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO};
    VkResult r = vkBeginCommandBuffer(c->vk->cb, &bi);
    if (r != VK_SUCCESS)
        return nb__vkfail(r, "vkBeginCommandBuffer");
    c->recording = 1;
    return NB_OK;
}

/* Makes cbs[ncb] the current command buffer (allocating it when it is
 * new); the caller begins it. */
static nb_status next_segment(nb_cmd *c)
{
    if (c->vk->ncb == c->vk->alloccb) {
        VkCommandBuffer *nc = realloc(c->vk->cbs, (c->vk->alloccb + 1) * sizeof *nc);
        if (!nc)
            return nb__fail(NB_ERR_OUT_OF_MEMORY, "out of host memory");
        c->vk->cbs = nc;
        VkCommandBufferAllocateInfo ai = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
                                          .commandPool = c->ctx->pool,
                                          .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
                                          .commandBufferCount = 1};
        VkResult r = vkAllocateCommandBuffers(c->ctx->device, &ai, &c->vk->cbs[c->vk->alloccb]);
        if (r != VK_SUCCESS)
            return nb__vkfail(r, "vkAllocateCommandBuffers");
        c->vk->alloccb++;
    }
    c->vk->cb = c->vk->cbs[c->vk->ncb++];
    return NB_OK;
}

/* Makes the device's writes so far visible to the host (before a submit
 * ends, or a host op runs). */
static void host_barrier(nb_cmd *c)
{
    VkMemoryBarrier mb = {.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
                          .srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT,
                          .dstAccessMask = VK_ACCESS_HOST_READ_BIT | VK_ACCESS_HOST_WRITE_BIT};
    vkCmdPipelineBarrier(c->vk->cb, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT,
                         VK_PIPELINE_STAGE_HOST_BIT, 0, 1, &mb, 0, NULL, 0, NULL);
}

/* After api.c has made c (context, profile) for a Vulkan context; on
 * failure api.c destroys c. */
nb_status nb__vk_cmd_begin(nb_cmd *c)
{
    if (!(c->vk = calloc(1, sizeof *c->vk)))
        return nb__fail(NB_ERR_OUT_OF_MEMORY, "out of host memory");
    nb_status s = next_segment(c);
    if (s)
        return s;
    VkFenceCreateInfo fci = {.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
    VkResult r = vkCreateFence(c->ctx->device, &fci, NULL, &c->vk->fence);
    if (r != VK_SUCCESS)
        return nb__vkfail(r, "vkCreateFence");
    if ((s = new_dpool(c)) || (s = begin_cb(c)))
        return s;
    return NB_OK;
}

static nb_status alloc_set(nb_cmd *c, VkDescriptorSetLayout layout, VkDescriptorSet *set)
{
    for (;;) {
        VkDescriptorSetAllocateInfo ai = {.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO,
                                          .descriptorPool = c->vk->dpools[c->vk->cur_dpool],
                                          .descriptorSetCount = 1,
                                          .pSetLayouts = &layout};
        VkResult r = vkAllocateDescriptorSets(c->ctx->device, &ai, set);
        if (r == VK_SUCCESS)
            return NB_OK;
        if (r != VK_ERROR_OUT_OF_POOL_MEMORY && r != VK_ERROR_FRAGMENTED_POOL)
            return nb__vkfail(r, "vkAllocateDescriptorSets");
        c->vk->cur_dpool++;
        if (c->vk->cur_dpool == c->vk->ndpools) {
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
        need = vec_has(&c->vk->written, reads[i]);
    for (uint32_t i = 0; i < nw && !need; i++)
        need = vec_has(&c->vk->written, writes[i]) || vec_has(&c->vk->read, writes[i]);
    if (need) {
        VkMemoryBarrier mb = {.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
                              .srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT,
                              .dstAccessMask = VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT |
                                               VK_ACCESS_UNIFORM_READ_BIT | VK_ACCESS_TRANSFER_READ_BIT |
                                               VK_ACCESS_TRANSFER_WRITE_BIT};
        VkPipelineStageFlags st = VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT;
        vkCmdPipelineBarrier(c->vk->cb, st, st, 0, 1, &mb, 0, NULL, 0, NULL);
        c->stats.barriers++;
        c->vk->written.n = 0;
        c->vk->read.n = 0;
    }
    for (uint32_t i = 0; i < nr; i++)
        if (vec_add(&c->vk->read, reads[i]))
            return nb__fail(NB_ERR_OUT_OF_MEMORY, "out of host memory");
    for (uint32_t i = 0; i < nw; i++)
        if (vec_add(&c->vk->written, writes[i]))
            return nb__fail(NB_ERR_OUT_OF_MEMORY, "out of host memory");
    return NB_OK;
}

static uint16_t label_id(nb_cmd *c, const char *label)
{
    for (uint32_t i = 0; i < c->vk->nlabels; i++)
        if (strncmp(c->vk->labels[i], label, 47) == 0)
            return (uint16_t)i;
    if (c->vk->nlabels == c->vk->caplabels) {
        uint32_t cap = c->vk->caplabels ? c->vk->caplabels * 2 : 16;
        if (cap > 65535)
            return 65535;
        char(*nl)[48] = realloc(c->vk->labels, cap * sizeof *nl);
        if (!nl)
            return 65535;
        c->vk->labels = nl;
        c->vk->caplabels = cap;
    }
    snprintf(c->vk->labels[c->vk->nlabels], 48, "%s", label);
    return (uint16_t)c->vk->nlabels++;
}

/* Starts timing an op; returns the query index or UINT32_MAX. */
static uint32_t op_begin(nb_cmd *c, const char *label)
{
    c->stats.ops++;
    if (!c->profile)
        return UINT32_MAX;
    op_rec *ops = nb__grow(c->vk->ops, c->vk->nops, &c->vk->capops, sizeof *ops, 64);
    if (!ops)
        return UINT32_MAX;
    c->vk->ops = ops;
    if (c->vk->nqueries + 2 > c->vk->nqpools * QUERIES_PER_POOL) {
        VkQueryPoolCreateInfo qi = {.sType = VK_STRUCTURE_TYPE_QUERY_POOL_CREATE_INFO,
                                    .queryType = VK_QUERY_TYPE_TIMESTAMP,
                                    .queryCount = QUERIES_PER_POOL};
        VkQueryPool *nq = realloc(c->vk->qpools, (c->vk->nqpools + 1) * sizeof *nq);
        if (!nq)
            return UINT32_MAX;
        c->vk->qpools = nq;
        if (vkCreateQueryPool(c->ctx->device, &qi, NULL, &c->vk->qpools[c->vk->nqpools]) != VK_SUCCESS)
            return UINT32_MAX;
        vkCmdResetQueryPool(c->vk->cb, c->vk->qpools[c->vk->nqpools], 0, QUERIES_PER_POOL);
        c->vk->nqpools++;
        c->vk->nqueries = (c->vk->nqpools - 1) * QUERIES_PER_POOL;
    }
    uint32_t q = c->vk->nqueries;
    c->vk->nqueries += 2;
    c->vk->ops[c->vk->nops++] = (op_rec){.label = label_id(c, label), .query = q};
    vkCmdWriteTimestamp(c->vk->cb, VK_PIPELINE_STAGE_TOP_OF_PIPE_BIT, c->vk->qpools[q / QUERIES_PER_POOL],
                        q % QUERIES_PER_POOL);
    return q;
}

static void op_end(nb_cmd *c, uint32_t q)
{
    if (q == UINT32_MAX)
        return;
    q++;
    vkCmdWriteTimestamp(c->vk->cb, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, c->vk->qpools[q / QUERIES_PER_POOL],
                        q % QUERIES_PER_POOL);
}


/* After api.c's checks (recording, kernel, groups, push constants). */
nb_status nb__vk_cmd_dispatch(nb_cmd *c, const nb_kernel *k, const uint32_t groups[3], nb_buffer *const *buffers,
                              const void *push, const char *label)
{
    nb_status s;
    const nb_device_info *di = &c->ctx->info;
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
                                "kernel '%s': binding %u is %llu bytes, over the largest storage binding, %llu bytes "
                                "(the device's storage buffer range, at most 4 GiB): bind it in parts",
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
    vkCmdBindPipeline(c->vk->cb, VK_PIPELINE_BIND_POINT_COMPUTE, k->pipeline);
    if (set)
        vkCmdBindDescriptorSets(c->vk->cb, VK_PIPELINE_BIND_POINT_COMPUTE, k->layout, 0, 1, &set, 0, NULL);
    if (k->push_bytes)
        vkCmdPushConstants(c->vk->cb, k->layout, VK_SHADER_STAGE_COMPUTE_BIT, 0, k->push_bytes, push);
    vkCmdDispatch(c->vk->cb, groups[0], groups[1], groups[2]);
    op_end(c, q);
    return NB_OK;
}

/* A host FFT: ends the segment here; the submit runs the transform after it. */
static nb_status host_fft(nb_cmd *c, nb_fft *plan, nb_buffer *in, nb_buffer *out, const char *label)
{
    if (!nb_buffer_map(in) || !nb_buffer_map(out))
        return nb__fail(NB_ERR_UNSUPPORTED, "nb_cmd_fft: the host FFT needs buffers the host can map");
    host_op *hops = nb__grow(c->vk->hops, c->vk->nhops, &c->vk->caphops, sizeof *hops, 16);
    if (hops)
        c->vk->hops = hops;
    op_rec *ops = c->profile ? nb__grow(c->vk->ops, c->vk->nops, &c->vk->capops, sizeof *ops, 64) : c->vk->ops;
    if (ops)
        c->vk->ops = ops;
    if (!hops || (c->profile && !ops))
        return nb__fail(NB_ERR_OUT_OF_MEMORY, "out of host memory");
    uint32_t op = UINT32_MAX;
    c->stats.ops++;
    if (c->profile) {
        op = c->vk->nops++;
        c->vk->ops[op] = (op_rec){.label = label_id(c, label), .query = UINT32_MAX, .host = 1};
    }
    c->vk->hops[c->vk->nhops++] = (host_op){plan, in, out, c->vk->ncb - 1, op};
    host_barrier(c);
    VkResult r = vkEndCommandBuffer(c->vk->cb);
    c->recording = 0;
    if (r != VK_SUCCESS)
        return nb__vkfail(r, "vkEndCommandBuffer");
    nb_status s = next_segment(c);
    if (!s)
        s = begin_cb(c);
    /* the next segment starts after a full wait: no hazards carry over */
    c->vk->written.n = c->vk->read.n = 0;
    return s;
}

/* After api.c's checks of the plan and buffers. */
nb_status nb__vk_cmd_fft(nb_cmd *c, nb_fft *plan, nb_buffer *in, nb_buffer *out, const char *label)
{
    nb_status s;
    nb_fft_kind kind = nb__fft_kind(plan);
    if (nb__fft_is_host(plan))
        return host_fft(c, plan, in, out, label ? label : (kind == NB_FFT_R2C ? "fft_r2c" : "fft_c2r"));
    /* VkFFT's C2R overwrites its complex input while it works. */
    VkBuffer rd = in->buffer, wr[2] = {out->buffer, in->buffer};
    if ((s = hazard(c, &rd, 1, wr, kind == NB_FFT_C2R ? 2 : 1)))
        return s;
    uint32_t q = op_begin(c, label ? label : (kind == NB_FFT_R2C ? "fft_r2c" : "fft_c2r"));
    s = nb__fft_record(plan, c->vk->cb, in, out);
    op_end(c, q);
    /* VkFFT binds its own pipelines and sets; ours are rebound per dispatch. */
    return s;
}

nb_status nb__vk_cmd_copy(nb_cmd *c, nb_buffer *src, uint64_t so, nb_buffer *dst, uint64_t dof, uint64_t bytes)
{
    nb_status s;
    if ((s = hazard(c, &src->buffer, 1, &dst->buffer, 1)))
        return s;
    uint32_t q = op_begin(c, "copy");
    VkBufferCopy region = {.srcOffset = so, .dstOffset = dof, .size = bytes};
    vkCmdCopyBuffer(c->vk->cb, src->buffer, dst->buffer, 1, &region);
    op_end(c, q);
    return NB_OK;
}

nb_status nb__vk_cmd_fill(nb_cmd *c, nb_buffer *dst, uint64_t off, uint64_t bytes, uint32_t word)
{
    nb_status s;
    if ((s = hazard(c, NULL, 0, &dst->buffer, 1)))
        return s;
    uint32_t q = op_begin(c, "fill");
    vkCmdFillBuffer(c->vk->cb, dst->buffer, off, bytes, word);
    op_end(c, q);
    return NB_OK;
}

static void collect_profile(nb_cmd *c)
{
    free(c->rows);
    c->rows = NULL;
    c->nrows = 0;
    c->gpu_ms = -1;
    if (!c->profile || c->vk->nops == 0)
        return;
    uint64_t *ts = malloc((size_t)c->vk->nqueries * sizeof *ts);
    c->rows = calloc(c->vk->nlabels, sizeof *c->rows);
    if (!ts || !c->rows) {
        free(ts);
        return;
    }
    for (uint32_t p = 0; p < c->vk->nqpools; p++) {
        uint32_t first = p * QUERIES_PER_POOL;
        uint32_t n = c->vk->nqueries - first < QUERIES_PER_POOL ? c->vk->nqueries - first : QUERIES_PER_POOL;
        if (vkGetQueryPoolResults(c->ctx->device, c->vk->qpools[p], 0, n, n * sizeof *ts, ts + first, sizeof *ts,
                                  VK_QUERY_RESULT_64_BIT | VK_QUERY_RESULT_WAIT_BIT) != VK_SUCCESS) {
            free(ts);
            return;
        }
    }
    double period = c->ctx->info.timestamp_period_ns * 1e-6;
    uint64_t lo = UINT64_MAX, hi = 0;
    for (uint32_t i = 0; i < c->vk->nops; i++) {
        double ms = c->vk->ops[i].host_ms;
        if (!c->vk->ops[i].host) {
            uint64_t a = ts[c->vk->ops[i].query], b = ts[c->vk->ops[i].query + 1];
            ms = b > a ? (double)(b - a) * period : 0.0;
            if (a < lo)
                lo = a;
            if (b > hi)
                hi = b;
        }
        nb_profile_row *r = &c->rows[c->vk->ops[i].label];
        if (r->count == 0) {
            snprintf(r->label, sizeof r->label, "%s", c->vk->labels[c->vk->ops[i].label]);
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
    c->nrows = c->vk->nlabels;
    c->gpu_ms = hi > lo ? (double)(hi - lo) * period : 0.0;
    free(ts);
}


/* Each segment in turn, then the host ops after it. */
nb_status nb__vk_cmd_run(nb_cmd *c)
{
    uint32_t h = 0;
    for (uint32_t i = 0; i < c->vk->ncb; i++) {
        VkSubmitInfo si = {.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO,
                           .commandBufferCount = 1,
                           .pCommandBuffers = &c->vk->cbs[i]};
        VkResult r = vkQueueSubmit(c->ctx->queue, 1, &si, c->vk->fence);
        if (r != VK_SUCCESS)
            return nb__vkfail(r, "vkQueueSubmit");
        r = vkWaitForFences(c->ctx->device, 1, &c->vk->fence, VK_TRUE, UINT64_MAX);
        vkResetFences(c->ctx->device, 1, &c->vk->fence);
        if (r != VK_SUCCESS)
            return nb__vkfail(r, "vkWaitForFences");
        for (; h < c->vk->nhops && c->vk->hops[h].after == i; h++) {
            host_op *o = &c->vk->hops[h];
            double t0 = nb__now_ms();
            nb_status s = nb__fft_host_run(o->plan, o->in, o->out);
            if (s)
                return s;
            if (o->op != UINT32_MAX)
                c->vk->ops[o->op].host_ms = nb__now_ms() - t0;
        }
    }
    collect_profile(c);
    return NB_OK;
}

/* Ends the recording before its first submit (api.c's nb_cmd_submit). */
nb_status nb__vk_cmd_end(nb_cmd *c)
{
    /* Make every write visible to the host and to the next submit. */
    host_barrier(c);
    VkResult r = vkEndCommandBuffer(c->vk->cb);
    return r == VK_SUCCESS ? NB_OK : nb__vkfail(r, "vkEndCommandBuffer");
}


nb_status nb__vk_cmd_reset(nb_cmd *c)
{
    if (c->recording) {
        vkEndCommandBuffer(c->vk->cb);
        c->recording = 0;
    }
    for (uint32_t i = 0; i < c->vk->ncb; i++) {
        VkResult r = vkResetCommandBuffer(c->vk->cbs[i], 0);
        if (r != VK_SUCCESS)
            return nb__vkfail(r, "vkResetCommandBuffer");
    }
    c->vk->ncb = 0;
    c->vk->nhops = 0;
    nb_status s = next_segment(c);
    if (s)
        return s;
    for (uint32_t i = 0; i < c->vk->ndpools; i++)
        vkResetDescriptorPool(c->ctx->device, c->vk->dpools[i], 0);
    c->vk->cur_dpool = 0;
    c->vk->written.n = c->vk->read.n = 0;
    memset(&c->stats, 0, sizeof c->stats);
    c->vk->nops = 0;
    c->vk->nlabels = 0;
    c->submitted_once = 0;
    /* Query pools are kept; they are reset in the command buffer when reused. */
    uint32_t keep = c->vk->nqpools;
    c->vk->nqueries = 0;
    if ((s = begin_cb(c)))
        return s;
    for (uint32_t p = 0; p < keep; p++)
        vkCmdResetQueryPool(c->vk->cb, c->vk->qpools[p], 0, QUERIES_PER_POOL);
    return NB_OK;
}




/* Vulkan's part of nb_cmd_destroy (api.c), which frees the rest. */
void nb__vk_cmd_destroy(nb_cmd *c)
{
    if (!c->vk)
        return;
    VkDevice dev = c->ctx->device;
    if (c->recording)
        vkEndCommandBuffer(c->vk->cb);
    for (uint32_t i = 0; i < c->vk->ndpools; i++)
        vkDestroyDescriptorPool(dev, c->vk->dpools[i], NULL);
    for (uint32_t i = 0; i < c->vk->nqpools; i++)
        vkDestroyQueryPool(dev, c->vk->qpools[i], NULL);
    if (c->vk->fence)
        vkDestroyFence(dev, c->vk->fence, NULL);
    if (c->vk->alloccb)
        vkFreeCommandBuffers(dev, c->ctx->pool, c->vk->alloccb, c->vk->cbs);
    free(c->vk->cbs);
    free(c->vk->hops);
    free(c->vk->dpools);
    free(c->vk->qpools);
    free(c->vk->written.v);
    free(c->vk->read.v);
    free(c->vk->ops);
    free(c->vk->labels);
    free(c->vk);
    c->vk = NULL;
}
