/*
 * nb_internal.h - shared between the runtime's source files, never installed.
 *
 * NOBLE_HAVE_VULKAN (set by CMake unless -DNOBLE_VULKAN=OFF): the Vulkan
 * backend is built. Without it no Vulkan, volk, glslang or VkFFT header is
 * included anywhere: the Vulkan-only files (context.c, memory.c, kernel.c,
 * record.c, vkfft_glue.c) are not compiled, the Vulkan fields below are
 * absent, and every context is the CPU backend's (api.c).
 */
#ifndef NB_INTERNAL_H
#define NB_INTERNAL_H

#ifdef NOBLE_HAVE_VULKAN
#ifndef VK_NO_PROTOTYPES
#define VK_NO_PROTOTYPES
#endif
#include <volk.h>
#endif

#include "nb_runtime.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

/* error.c */
/* Sets the thread's error message and returns s (nb_error, for the runtime's own files). */
#define nb__fail nb_error
void nb__clear_error(void);
double nb__now_ms(void);

/* A call into the Vulkan backend from the backend-neutral code (api.c, fft.c):
 * the call, or where Vulkan is not built in, the error that says so (no
 * context is ever Vulkan's there, so it is only reached by asking for Vulkan). */
#ifdef NOBLE_HAVE_VULKAN
#define NB_VK(call) (call)
#define NB_VK_VOID(call) (call)
#else
#define NB_VK(call) nb__no_vulkan()
#define NB_VK_VOID(call) ((void)0)
nb_status nb__no_vulkan(void); /* api.c */
#endif

/* memory.c */
typedef struct nb_block nb_block;

struct nb_buffer {
    nb_context *ctx;
    nb_block *block;      /* NULL for a dedicated allocation */
    uint64_t offset;      /* in the block */
    uint64_t alloc_bytes; /* reserved in the block, aligned */
    uint64_t size;        /* as asked */
    nb_memory_kind kind;
    uint64_t id;          /* unique in the context; FFT bindings refer to it */
    void *mapped;         /* host pointer when the memory is host-visible */
    int coherent;
#ifdef NOBLE_HAVE_VULKAN
    VkBuffer buffer;
    VkDeviceMemory dedicated;
    VkBufferView texel;   /* RGBA32F view of the whole buffer, made on first use (NB_TEXEL) */
#endif
};

typedef struct nb_memory {
    uint32_t type_device;   /* memory type for NB_MEM_DEVICE */
    uint32_t type_host;     /* memory type for NB_MEM_HOST */
    int device_mappable;    /* NB_MEM_DEVICE memory is host-visible */
    int device_coherent, host_coherent;
    uint64_t block_bytes;
    nb_block *blocks;
    uint32_t nblocks;
    uint64_t used, peak;
    uint32_t live;
    uint64_t next_id;
    nb_buffer *staging;     /* for upload/download where memory is not unified */
    uint64_t staging_bytes; /* its size: the chunk of a staged transfer */
} nb_memory;

/* kernel.c */
typedef struct nb_kernels {
    char cache_dir[1024]; /* "" when caching is off */
    nb_kernel_stats stats;
    uint64_t pipeline_cache_hash; /* of what was loaded, to skip unchanged saves */
#ifdef NOBLE_HAVE_VULKAN
    VkPipelineCache pipeline_cache;
#endif
} nb_kernels;

struct nb_kernel {
    nb_context *ctx;
    char name[64];
    /* CPU backend: the registered function and the parsed defines */
    nb_cpu_kernel_fn cpu_fn;
    uint32_t ndefs;
    char def_name[NB_MAX_DEFINES][32];
    long def_value[NB_MAX_DEFINES];
    uint32_t nspec, spec_id[NB_MAX_SPEC], spec_value[NB_MAX_SPEC];
    uint32_t n_bindings;
    nb_access access[NB_MAX_BINDINGS];
    uint32_t push_bytes;
    int from_cache;
#ifdef NOBLE_HAVE_VULKAN
    VkShaderModule module;
    VkDescriptorSetLayout set_layout;
    VkPipelineLayout layout;
    VkPipeline pipeline;
#endif
};

/* api.c: what both backends share */
/* A kernel with the description's name, bindings and push size, for either
 * backend to complete; NULL when out of memory. */
nb_kernel *nb__kernel_new(nb_context *ctx, const nb_kernel_desc *d);
/* The cache directory (created if missing; "" when off or not writable). */
void nb__cache_dir_init(nb_context *ctx, const char *cache_dir);
/* Writes a file through a temporary name and a rename; 0 on success. */
int nb__write_atomic(const char *path, const void *data, size_t n);
int nb__write_atomic2(const char *path, const void *a, size_t na, const void *b, size_t nb); /* a then b */
/* A whole file, malloc'ed; NULL if it cannot be read. */
void *nb__read_file(const char *path, size_t *n);
uint64_t nb__hash64(uint64_t h, const void *data, size_t n);
#define NB_HASH_SEED 0xcbf29ce484222325ull

/* Room for one more element in a growing array of n (capacity *cap,
 * doubling from first): returns the array, moved or not, or NULL when out
 * of memory (then arr and *cap are unchanged). */
static inline void *nb__grow(void *arr, uint32_t n, uint32_t *cap, size_t elem, uint32_t first)
{
    if (n < *cap)
        return arr;
    uint32_t c = *cap ? *cap * 2 : first;
    void *p = realloc(arr, (size_t)c * elem);
    if (p)
        *cap = c;
    return p;
}

/* fft.c */
typedef struct nb_fft_cache {
    nb_fft *plans;
    uint32_t n;
    int host; /* plans run on the host (FFTW) between submits */
} nb_fft_cache;
void nb__fft_destroy_all(nb_context *ctx);
nb_fft_kind nb__fft_kind(const nb_fft *p);
/* Host plans: run after the device has finished the ops before them. */
int nb__fft_is_host(const nb_fft *p);
nb_status nb__fft_host_run(nb_fft *p, nb_buffer *in, nb_buffer *out);
uint64_t nb__fft_real_bytes(const nb_fft *p);
uint64_t nb__fft_complex_bytes(const nb_fft *p);

typedef struct nb_vkfft nb_vkfft; /* vkfft_glue.c */

#define NB_MAX_VALIDATION_KEPT 8

struct nb_context {
#ifdef NOBLE_HAVE_VULKAN
    VkInstance instance;
    VkDebugUtilsMessengerEXT messenger;
    /* volk's instance functions are global and follow the last instance
     * loaded: an extension function of this instance is kept here. */
    PFN_vkDestroyDebugUtilsMessengerEXT destroy_messenger;
    VkPhysicalDevice phys;
    VkDevice device;
    VkQueue queue;
    uint32_t queue_family;
    VkCommandPool pool;     /* for the runtime's own short submits */
    VkFence fence;
    VkPhysicalDeviceMemoryProperties memprops;
#endif
    nb_device_info info;
    int validation;
    int gpu_config; /* nb_context_options.gpu_config, resolved: 0 or 1 (Vulkan only) */

    uint32_t validation_count;
    char *validation_msgs[NB_MAX_VALIDATION_KEPT];

    nb_memory mem;
    nb_kernels kern;
    nb_fft_cache fft;

    nb_backend backend;       /* NB_BACKEND_VULKAN or NB_BACKEND_CPU */
    struct nb_cpu_ctx *cpu;   /* the CPU backend's state (cpu.c) */
};

/* api.c: the FFT backend from the option and NOBLE_FFT (sets ctx->fft.host). */
nb_status nb__choose_fft(nb_context *ctx, nb_fft_backend want);

/* cpu.c: the native CPU backend behind the same API. */
typedef struct nb_cpu_cmd nb_cpu_cmd;
nb_status nb__cpu_context_init(nb_context *ctx, const nb_context_options *o);
void nb__cpu_context_destroy(nb_context *ctx);
uint32_t nb__cpu_threads(const nb_context *ctx);
/* Runs task(user, i, thread) for i < n on up to `workers` of the process's threads. */
void nb__pool_run(uint32_t workers, uint64_t n, void (*task)(void *user, uint64_t i, uint32_t thread), void *user);

/* cpu_fft.c: the CPU backend's band-limited fp32 transforms of contiguous
 * rows (real stride n, complex stride n/2+1). An R2C writes bins [0, bins)
 * only; a C2R reads only those, taking the rest as zero; bins <= n/2. NULL
 * where the length does not suit it (or out of memory): FFTW then. */
typedef struct nb_pfft nb_pfft;
nb_pfft *nb__pfft_create(uint64_t n, uint64_t bins, int inverse, uint32_t threads);
/* rows of n reals and of row_bins complex bins (n/2+1, or the plan's bins: packed) */
void nb__pfft_run(const nb_pfft *f, uint32_t workers, uint64_t rows, uint64_t row_bins, const void *in, void *out);
void nb__pfft_destroy(nb_pfft *f);
uint32_t nb__pfft_lanes(const nb_pfft *f);
nb_status nb__cpu_buffer_create(nb_context *ctx, uint64_t bytes, nb_memory_kind kind, nb_buffer **out);
void nb__cpu_buffer_destroy(nb_buffer *b);
nb_status nb__cpu_kernel_create(nb_context *ctx, const nb_kernel_desc *d, nb_kernel **out);
nb_status nb__cpu_cmd_init(nb_cpu_cmd **out, int profile);
void nb__cpu_cmd_free(nb_cpu_cmd *c);
void nb__cpu_cmd_reset(nb_cpu_cmd *c);
nb_status nb__cpu_cmd_dispatch(nb_cpu_cmd *c, const nb_kernel *k, const uint32_t groups[3], nb_buffer *const *bufs,
                               const void *push, const char *label);
nb_status nb__cpu_cmd_fft(nb_cpu_cmd *c, nb_fft *plan, nb_buffer *in, nb_buffer *out, const char *label);
nb_status nb__cpu_cmd_copy(nb_cpu_cmd *c, nb_buffer *src, uint64_t so, nb_buffer *dst, uint64_t dof, uint64_t bytes);
nb_status nb__cpu_cmd_fill(nb_cpu_cmd *c, nb_buffer *dst, uint64_t off, uint64_t bytes, uint32_t word);
nb_status nb__cpu_cmd_submit(nb_cpu_cmd *c);
nb_status nb__cpu_cmd_profile(const nb_cpu_cmd *c, const nb_profile_row **rows, uint32_t *n);
double nb__cpu_cmd_ms(const nb_cpu_cmd *c);
uint32_t nb__cpu_cmd_ops(const nb_cpu_cmd *c);
/* cpu_kernels.c: the runtime's own kernels (copy, saxpy, reduce_sum, fma_peak, add_scalar) in C */
nb_status nb__cpu_register_runtime_kernels(void);

/* record.c / cpu.c: a recording; the backend's own part hangs off it. */
typedef struct nb_vk_cmd nb_vk_cmd;
struct nb_cmd {
    nb_context *ctx;
    int recording, submitted_once;
    int profile;
    nb_cmd_stats stats;
    nb_profile_row *rows;
    uint32_t nrows;
    double gpu_ms;
    nb_cpu_cmd *cpu; /* the CPU backend's ops (cpu.c) */
    nb_vk_cmd *vk;   /* Vulkan's command buffers, sets and queries (record.c) */
};

/* ------------------------------------------------- the Vulkan backend only */
#ifdef NOBLE_HAVE_VULKAN

/* context.c: a Vulkan context, or NB_OK with *out NULL where AUTO should take
 * the CPU backend instead (only a CPU device, or no usable device) */
nb_status nb__vk_context_create(const nb_context_options *opt, nb_backend want, nb_context **out);
void nb__vk_context_destroy(nb_context *ctx);
nb_status nb__vkfail(VkResult r, const char *what);
const char *nb__vk_result_name(VkResult r);
/* a one-shot command buffer for the runtime's own transfers */
nb_status nb__oneshot_begin(nb_context *ctx, VkCommandBuffer *cb);
nb_status nb__oneshot_end(nb_context *ctx, VkCommandBuffer cb);

/* memory.c */
nb_status nb__memory_init(nb_context *ctx);
void nb__memory_destroy(nb_context *ctx);
nb_status nb__vk_buffer_create(nb_context *ctx, uint64_t bytes, nb_memory_kind kind, nb_buffer **out);
void nb__vk_buffer_destroy(nb_buffer *b);
/* through the staging buffer, where the buffer is not mapped */
nb_status nb__vk_buffer_copy(nb_buffer *b, uint64_t offset, void *host, uint64_t bytes, int up);
void nb__vk_memory_blocks(const nb_context *ctx, uint32_t *blocks, uint64_t *bytes);
void nb__vk_memory_trim(nb_context *ctx);
/* The buffer's RGBA32F texel view (made on first use, freed with it). */
nb_status nb__buffer_texel_view(nb_buffer *b, VkBufferView *out);

/* kernel.c */
nb_status nb__kernels_init(nb_context *ctx, const char *cache_dir);
void nb__kernels_destroy(nb_context *ctx);
nb_status nb__vk_kernel_create(nb_context *ctx, const nb_kernel_desc *d, nb_kernel **out);
void nb__vk_kernel_destroy(nb_kernel *k);
/* The descriptor type that binds a buffer used with this access. */
static inline VkDescriptorType nb__descriptor_type(nb_access a)
{
    return a == NB_UNIFORM ? VK_DESCRIPTOR_TYPE_UNIFORM_BUFFER
           : a == NB_TEXEL ? VK_DESCRIPTOR_TYPE_UNIFORM_TEXEL_BUFFER
                           : VK_DESCRIPTOR_TYPE_STORAGE_BUFFER;
}

/* record.c: after api.c's checks, which both backends share */
nb_status nb__vk_cmd_begin(nb_cmd *c);
nb_status nb__vk_cmd_dispatch(nb_cmd *c, const nb_kernel *k, const uint32_t groups[3], nb_buffer *const *buffers,
                              const void *push, const char *label);
nb_status nb__vk_cmd_fft(nb_cmd *c, nb_fft *plan, nb_buffer *in, nb_buffer *out, const char *label);
nb_status nb__vk_cmd_copy(nb_cmd *c, nb_buffer *src, uint64_t so, nb_buffer *dst, uint64_t dof, uint64_t bytes);
nb_status nb__vk_cmd_fill(nb_cmd *c, nb_buffer *dst, uint64_t off, uint64_t bytes, uint32_t word);
nb_status nb__vk_cmd_end(nb_cmd *c);  /* ends the recording before its first submit */
nb_status nb__vk_cmd_run(nb_cmd *c);  /* submits every segment, waits, collects the profile */
nb_status nb__vk_cmd_reset(nb_cmd *c);
void nb__vk_cmd_destroy(nb_cmd *c);

/* fft.c: records the transform into cmd; in/out as in nb_cmd_fft. */
nb_status nb__fft_record(nb_fft *p, VkCommandBuffer cmd, nb_buffer *in, nb_buffer *out);
/* Drops the VkFFT applications bound to a buffer that is going away. */
void nb__fft_forget_buffer(nb_context *ctx, uint64_t buffer_id);

/* vkfft_glue.c: the one file that includes vkFFT.h */
typedef struct nb_vkfft_params {
    const void *load;       /* a saved application to load instead of compiling, or NULL */
    int save;               /* keep the compiled application for nb__vkfft_saved */
    VkPhysicalDevice phys;
    VkDevice device;
    VkQueue queue;
    VkCommandPool pool;
    VkFence fence;
    uint64_t n, batch;
    int inverse;
    int fp64;
    VkBuffer real_buf, complex_buf;
    uint64_t real_bytes, complex_bytes;
} nb_vkfft_params;
/* Returns 0 or the VkFFT error code; msg gets VkFFT's diagnostics. */
int nb__vkfft_create(const nb_vkfft_params *p, nb_vkfft **out, char *msg, size_t cap);
int nb__vkfft_append(nb_vkfft *f, VkCommandBuffer cmd, VkBuffer real_buf, VkBuffer complex_buf,
                     int inverse);
void nb__vkfft_destroy(nb_vkfft *f);
/* The compiled application of a plan made with save = 1. */
const void *nb__vkfft_saved(const nb_vkfft *f, uint64_t *bytes);
const char *nb__vkfft_error_name(int code);

#endif /* NOBLE_HAVE_VULKAN */
#endif
