/* memory.c - buffers suballocated from a few large device-memory blocks. */
#include "nb_internal.h"

#include <stdlib.h>
#include <string.h>

typedef struct range {
    uint64_t off, size;
} range;

struct nb_block {
    nb_block *next;
    VkDeviceMemory memory;
    uint64_t size;
    uint32_t type;
    nb_memory_kind kind; /* device and host buffers never share a block (one type may serve both) */
    void *mapped;
    range *free; /* sorted by offset, never adjacent */
    uint32_t nfree, capfree;
    uint32_t live;
};

/* Every buffer may be bound as storage, uniform or (NB_TEXEL) uniform texel
 * buffer, and copied. */
#define BUFFER_USAGE                                                                                               \
    (VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_UNIFORM_BUFFER_BIT |                                     \
     VK_BUFFER_USAGE_UNIFORM_TEXEL_BUFFER_BIT | VK_BUFFER_USAGE_TRANSFER_SRC_BIT | VK_BUFFER_USAGE_TRANSFER_DST_BIT)

static uint64_t align_up(uint64_t x, uint64_t a) { return a ? (x + a - 1) / a * a : x; }

static int find_type(const VkPhysicalDeviceMemoryProperties *mp, uint32_t bits, VkMemoryPropertyFlags need,
                     VkMemoryPropertyFlags avoid)
{
    for (uint32_t i = 0; i < mp->memoryTypeCount; i++)
        if ((bits & (1u << i)) && (mp->memoryTypes[i].propertyFlags & need) == need &&
            !(mp->memoryTypes[i].propertyFlags & avoid))
            return (int)i;
    return -1;
}

nb_status nb__memory_init(nb_context *ctx)
{
    nb_memory *m = &ctx->mem;
    /* Probe which memory types a storage buffer may live in. */
    VkBufferCreateInfo bi = {.sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO,
                             .size = 4096,
                             .usage = BUFFER_USAGE,
                             .sharingMode = VK_SHARING_MODE_EXCLUSIVE};
    VkBuffer probe;
    VkResult r = vkCreateBuffer(ctx->device, &bi, NULL, &probe);
    if (r != VK_SUCCESS)
        return nb__vkfail(r, "vkCreateBuffer");
    VkMemoryRequirements req;
    vkGetBufferMemoryRequirements(ctx->device, probe, &req);
    vkDestroyBuffer(ctx->device, probe, NULL);

    const VkPhysicalDeviceMemoryProperties *mp = &ctx->memprops;
    const VkMemoryPropertyFlags L = VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT;
    const VkMemoryPropertyFlags HV = VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
    int dev = -1, host = -1;
    /* The GPU configuration takes the discrete GPU's branch: device-local
     * memory (host-visible or not: lavapipe has only that), never mapped for
     * NB_MEM_DEVICE, so transfers go through the staging buffer. */
    if (ctx->info.unified_memory && !ctx->gpu_config)
        dev = find_type(mp, req.memoryTypeBits, L | HV, 0);
    if (dev >= 0) {
        m->device_mappable = 1;
    } else {
        dev = find_type(mp, req.memoryTypeBits, L, VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT);
        if (dev < 0)
            dev = find_type(mp, req.memoryTypeBits, L, 0);
        if (dev < 0)
            dev = find_type(mp, req.memoryTypeBits, 0, 0);
        m->device_mappable = !ctx->gpu_config && dev >= 0 && (mp->memoryTypes[dev].propertyFlags & HV) == HV;
    }
    host = find_type(mp, req.memoryTypeBits, HV | VK_MEMORY_PROPERTY_HOST_CACHED_BIT, 0);
    if (host < 0)
        host = find_type(mp, req.memoryTypeBits, HV, 0);
    if (dev < 0 || host < 0)
        return nb__fail(NB_ERR_UNSUPPORTED, "'%s' offers no memory type for storage buffers", ctx->info.name);
    m->type_device = (uint32_t)dev;
    m->type_host = (uint32_t)host;
    return NB_OK;
}

static void block_free(nb_context *ctx, nb_block *b)
{
    if (b->mapped)
        vkUnmapMemory(ctx->device, b->memory);
    vkFreeMemory(ctx->device, b->memory, NULL);
    free(b->free);
    free(b);
}

void nb__memory_destroy(nb_context *ctx)
{
    nb_memory *m = &ctx->mem;
    if (m->staging) {
        nb_buffer_destroy(m->staging);
        m->staging = NULL;
    }
    nb_block *b = m->blocks;
    while (b) {
        nb_block *n = b->next;
        block_free(ctx, b);
        b = n;
    }
    m->blocks = NULL;
    m->nblocks = 0;
}

static uint64_t heap_size(const nb_context *ctx, uint32_t type)
{
    return ctx->memprops.memoryHeaps[ctx->memprops.memoryTypes[type].heapIndex].size;
}

/* Maps the memory where it is host-visible and its kind is mapped here
 * (NB_MEM_HOST always; NB_MEM_DEVICE unless the context stages its transfers). */
static nb_status alloc_memory(nb_context *ctx, uint32_t type, nb_memory_kind kind, uint64_t bytes,
                              VkDeviceMemory *mem, void **mapped)
{
    VkMemoryAllocateInfo ai = {.sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO,
                               .allocationSize = bytes,
                               .memoryTypeIndex = type};
    VkResult r = vkAllocateMemory(ctx->device, &ai, NULL, mem);
    if (r == VK_ERROR_OUT_OF_DEVICE_MEMORY || r == VK_ERROR_OUT_OF_HOST_MEMORY)
        return nb__fail(NB_ERR_OUT_OF_MEMORY,
                        "out of %s memory allocating %.1f MiB on '%s' (%.1f MiB already in use by noble)",
                        r == VK_ERROR_OUT_OF_DEVICE_MEMORY ? "device" : "host", (double)bytes / 1048576.0,
                        ctx->info.name, (double)ctx->mem.used / 1048576.0);
    if (r != VK_SUCCESS)
        return nb__vkfail(r, "vkAllocateMemory");
    *mapped = NULL;
    if ((ctx->memprops.memoryTypes[type].propertyFlags & VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT) &&
        (kind == NB_MEM_HOST || !ctx->gpu_config)) {
        r = vkMapMemory(ctx->device, *mem, 0, VK_WHOLE_SIZE, 0, mapped);
        if (r != VK_SUCCESS) {
            vkFreeMemory(ctx->device, *mem, NULL);
            return nb__vkfail(r, "vkMapMemory");
        }
    }
    return NB_OK;
}

/* First fit with alignment; returns the offset or UINT64_MAX. */
static uint64_t block_take(nb_block *b, uint64_t size, uint64_t align)
{
    for (uint32_t i = 0; i < b->nfree; i++) {
        range *f = &b->free[i];
        uint64_t at = align_up(f->off, align);
        if (at + size > f->off + f->size)
            continue;
        uint64_t head = at - f->off, tail = f->off + f->size - (at + size);
        if (head && tail) {
            if (b->nfree == b->capfree) {
                uint32_t cap = b->capfree ? b->capfree * 2 : 8;
                range *nf = realloc(b->free, cap * sizeof *nf);
                if (!nf)
                    return UINT64_MAX;
                b->free = nf;
                b->capfree = cap;
                f = &b->free[i];
            }
            memmove(&b->free[i + 2], &b->free[i + 1], (b->nfree - i - 1) * sizeof *f);
            b->free[i + 1] = (range){at + size, tail};
            f->size = head;
            b->nfree++;
        } else if (head) {
            f->size = head;
        } else if (tail) {
            f->off = at + size;
            f->size = tail;
        } else {
            memmove(&b->free[i], &b->free[i + 1], (b->nfree - i - 1) * sizeof *f);
            b->nfree--;
        }
        b->live++;
        return at;
    }
    return UINT64_MAX;
}

static void block_give(nb_block *b, uint64_t off, uint64_t size)
{
    uint32_t i = 0;
    while (i < b->nfree && b->free[i].off < off)
        i++;
    int merge_prev = i > 0 && b->free[i - 1].off + b->free[i - 1].size == off;
    int merge_next = i < b->nfree && off + size == b->free[i].off;
    if (merge_prev && merge_next) {
        b->free[i - 1].size += size + b->free[i].size;
        memmove(&b->free[i], &b->free[i + 1], (b->nfree - i - 1) * sizeof *b->free);
        b->nfree--;
    } else if (merge_prev) {
        b->free[i - 1].size += size;
    } else if (merge_next) {
        b->free[i].off = off;
        b->free[i].size += size;
    } else {
        if (b->nfree == b->capfree) {
            uint32_t cap = b->capfree ? b->capfree * 2 : 8;
            range *nf = realloc(b->free, cap * sizeof *nf);
            if (!nf)
                return; /* the range is lost to this block until it is freed; never corrupts */
            b->free = nf;
            b->capfree = cap;
        }
        memmove(&b->free[i + 1], &b->free[i], (b->nfree - i) * sizeof *b->free);
        b->free[i] = (range){off, size};
        b->nfree++;
    }
    b->live--;
}

static nb_status new_block(nb_context *ctx, uint32_t type, nb_memory_kind kind, uint64_t size, nb_block **out)
{
    nb_block *b = calloc(1, sizeof *b);
    if (!b)
        return nb__fail(NB_ERR_OUT_OF_MEMORY, "out of host memory");
    nb_status s = alloc_memory(ctx, type, kind, size, &b->memory, &b->mapped);
    if (s) {
        free(b);
        return s;
    }
    b->size = size;
    b->type = type;
    b->kind = kind;
    b->free = malloc(8 * sizeof *b->free);
    if (!b->free) {
        block_free(ctx, b);
        return nb__fail(NB_ERR_OUT_OF_MEMORY, "out of host memory");
    }
    b->capfree = 8;
    b->nfree = 1;
    b->free[0] = (range){0, size};
    b->next = ctx->mem.blocks;
    ctx->mem.blocks = b;
    ctx->mem.nblocks++;
    *out = b;
    return NB_OK;
}

/* After api.c's checks of the arguments. */
nb_status nb__vk_buffer_create(nb_context *ctx, uint64_t bytes, nb_memory_kind kind, nb_buffer **out)
{
    nb_memory *m = &ctx->mem;
    uint32_t type = kind == NB_MEM_DEVICE ? m->type_device : m->type_host;
    uint64_t heap = heap_size(ctx, type);
    uint64_t limit = ctx->info.max_allocation_bytes < heap ? ctx->info.max_allocation_bytes : heap;
    if (bytes > limit)
        return nb__fail(NB_ERR_OUT_OF_MEMORY,
                        "cannot allocate %.1f MiB on '%s': the largest single allocation is %.1f MiB "
                        "(heap %.1f MiB, maxMemoryAllocationSize %.1f MiB)",
                        (double)bytes / 1048576.0, ctx->info.name, (double)limit / 1048576.0,
                        (double)heap / 1048576.0, (double)ctx->info.max_allocation_bytes / 1048576.0);

    nb_buffer *b = calloc(1, sizeof *b);
    if (!b)
        return nb__fail(NB_ERR_OUT_OF_MEMORY, "out of host memory");
    b->ctx = ctx;
    b->id = ++m->next_id;
    b->size = bytes;
    b->kind = kind;
    VkBufferCreateInfo bi = {.sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO,
                             .size = align_up(bytes, 16), /* whole texels (NB_TEXEL) */
                             .usage = BUFFER_USAGE,
                             .sharingMode = VK_SHARING_MODE_EXCLUSIVE};
    VkResult r = vkCreateBuffer(ctx->device, &bi, NULL, &b->buffer);
    if (r != VK_SUCCESS) {
        free(b);
        return nb__vkfail(r, "vkCreateBuffer");
    }
    VkMemoryRequirements req;
    vkGetBufferMemoryRequirements(ctx->device, b->buffer, &req);
    uint64_t align = req.alignment;
    if (align < ctx->info.min_storage_buffer_offset_alignment)
        align = ctx->info.min_storage_buffer_offset_alignment;
    uint64_t need = align_up(req.size, align);
    nb_status s = NB_OK;
    VkDeviceMemory mem;
    uint64_t off = 0;
    if (need > m->block_bytes / 2) {
        /* Large buffers get their own allocation: no fragmentation of blocks. */
        void *mapped;
        if ((s = alloc_memory(ctx, type, kind, req.size, &b->dedicated, &mapped)))
            goto fail;
        mem = b->dedicated;
        b->mapped = mapped;
        b->alloc_bytes = req.size;
    } else {
        nb_block *blk = NULL;
        for (nb_block *it = m->blocks; it; it = it->next) {
            if (it->type != type || it->kind != kind)
                continue;
            off = block_take(it, need, align);
            if (off != UINT64_MAX) {
                blk = it;
                break;
            }
        }
        if (!blk) {
            if ((s = new_block(ctx, type, kind, m->block_bytes, &blk)))
                goto fail;
            off = block_take(blk, need, align);
            if (off == UINT64_MAX) {
                s = nb__fail(NB_ERR_OUT_OF_MEMORY, "out of host memory");
                goto fail;
            }
        }
        b->block = blk;
        b->offset = off;
        b->alloc_bytes = need;
        mem = blk->memory;
        if (blk->mapped)
            b->mapped = (char *)blk->mapped + off;
    }
    if ((r = vkBindBufferMemory(ctx->device, b->buffer, mem, b->block ? off : 0)) != VK_SUCCESS) {
        s = nb__vkfail(r, "vkBindBufferMemory");
        goto fail;
    }
    m->used += b->alloc_bytes;
    if (m->used > m->peak)
        m->peak = m->used;
    m->live++;
    *out = b;
    return NB_OK;
fail:
    if (b->block)
        block_give(b->block, b->offset, b->alloc_bytes);
    if (b->dedicated) {
        if (b->mapped)
            vkUnmapMemory(ctx->device, b->dedicated);
        vkFreeMemory(ctx->device, b->dedicated, NULL);
    }
    vkDestroyBuffer(ctx->device, b->buffer, NULL);
    free(b);
    return s;
}

void nb__vk_buffer_destroy(nb_buffer *b)
{
    nb_context *ctx = b->ctx;
    nb__fft_forget_buffer(ctx, b->id);
    if (b->texel)
        vkDestroyBufferView(ctx->device, b->texel, NULL);
    vkDestroyBuffer(ctx->device, b->buffer, NULL);
    if (b->block) {
        block_give(b->block, b->offset, b->alloc_bytes);
    } else if (b->dedicated) {
        if (b->mapped)
            vkUnmapMemory(ctx->device, b->dedicated);
        vkFreeMemory(ctx->device, b->dedicated, NULL);
    }
    ctx->mem.used -= b->alloc_bytes;
    ctx->mem.live--;
    free(b);
}

void *nb_buffer_vk_handle(nb_buffer *b) { return (void *)b->buffer; }

static nb_status staging(nb_context *ctx, nb_buffer **out)
{
    if (!ctx->mem.staging) {
        nb_status s = nb_buffer_create(ctx, ctx->mem.staging_bytes, NB_MEM_HOST, &ctx->mem.staging);
        if (s)
            return s;
    }
    *out = ctx->mem.staging;
    return NB_OK;
}

/* For nb_buffer_upload and nb_buffer_download (api.c) where b is not mapped. */
nb_status nb__vk_buffer_copy(nb_buffer *b, uint64_t offset, void *host, uint64_t bytes, int up)
{
    nb_context *ctx = b->ctx;
    nb_buffer *st;
    nb_status s = staging(ctx, &st);
    if (s)
        return s;
    for (uint64_t done = 0; done < bytes;) {
        uint64_t chunk = ctx->mem.staging_bytes, n = bytes - done < chunk ? bytes - done : chunk;
        if (up)
            memcpy(st->mapped, (const char *)host + done, n);
        VkCommandBuffer cb;
        if ((s = nb__oneshot_begin(ctx, &cb)))
            return s;
        /* After what earlier submits did with either buffer (recordings end
         * with a barrier to the host only, and this chunk's copy reuses the
         * staging buffer the previous chunk's copy used). */
        VkMemoryBarrier before = {.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
                                  .srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT,
                                  .dstAccessMask = VK_ACCESS_TRANSFER_READ_BIT | VK_ACCESS_TRANSFER_WRITE_BIT};
        vkCmdPipelineBarrier(cb, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT,
                             VK_PIPELINE_STAGE_TRANSFER_BIT, 0, 1, &before, 0, NULL, 0, NULL);
        VkBufferCopy region = {.srcOffset = up ? 0 : offset + done, .dstOffset = up ? offset + done : 0, .size = n};
        vkCmdCopyBuffer(cb, up ? st->buffer : b->buffer, up ? b->buffer : st->buffer, 1, &region);
        VkMemoryBarrier mb = {.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
                              .srcAccessMask = VK_ACCESS_TRANSFER_WRITE_BIT,
                              .dstAccessMask = VK_ACCESS_HOST_READ_BIT | VK_ACCESS_SHADER_READ_BIT |
                                               VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_READ_BIT |
                                               VK_ACCESS_TRANSFER_WRITE_BIT};
        vkCmdPipelineBarrier(cb, VK_PIPELINE_STAGE_TRANSFER_BIT,
                             VK_PIPELINE_STAGE_HOST_BIT | VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT |
                                 VK_PIPELINE_STAGE_TRANSFER_BIT,
                             0, 1, &mb, 0, NULL, 0, NULL);
        if ((s = nb__oneshot_end(ctx, cb)))
            return s;
        if (!up)
            memcpy((char *)host + done, st->mapped, n);
        done += n;
    }
    return NB_OK;
}

void nb__vk_memory_blocks(const nb_context *ctx, uint32_t *blocks, uint64_t *bytes)
{
    for (nb_block *b = ctx->mem.blocks; b; b = b->next) {
        (*blocks)++;
        *bytes += b->size;
    }
}

void nb__vk_memory_trim(nb_context *ctx)
{
    nb_block **pp = &ctx->mem.blocks;
    while (*pp) {
        nb_block *b = *pp;
        if (b->live == 0) {
            *pp = b->next;
            block_free(ctx, b);
            ctx->mem.nblocks--;
        } else {
            pp = &b->next;
        }
    }
}

nb_status nb__buffer_texel_view(nb_buffer *b, VkBufferView *out)
{
    if (!b->texel) {
        uint64_t texels = (b->size + 15) / 16, max = b->ctx->info.max_texel_buffer_elements;
        if (texels == 0 || texels > max)
            return nb__fail(NB_ERR_UNSUPPORTED, "a texel view of %llu bytes: 1 to %llu vec4 on this device",
                            (unsigned long long)b->size, (unsigned long long)max);
        VkBufferViewCreateInfo ci = {.sType = VK_STRUCTURE_TYPE_BUFFER_VIEW_CREATE_INFO,
                                     .buffer = b->buffer,
                                     .format = VK_FORMAT_R32G32B32A32_SFLOAT,
                                     .offset = 0,
                                     .range = texels * 16};
        VkResult r = vkCreateBufferView(b->ctx->device, &ci, NULL, &b->texel);
        if (r != VK_SUCCESS) {
            b->texel = VK_NULL_HANDLE;
            return nb__vkfail(r, "vkCreateBufferView");
        }
    }
    *out = b->texel;
    return NB_OK;
}
