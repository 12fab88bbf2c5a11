/*
 * nb_runtime.h - the public interface of noble's Vulkan compute runtime.
 *
 * The runtime knows Vulkan and nothing about neurons. It owns one device
 * (a context), memory suballocated from a few large blocks, compute kernels
 * compiled from GLSL at run time, command recordings with automatic
 * barriers and GPU timestamps, and batched 1-D real FFTs through VkFFT.
 *
 * Errors: every function that can fail returns an nb_status. On failure a
 * message is stored for the calling thread; nb_last_error() returns it.
 * The library never prints and never exits.
 *
 * Threads: a context, and everything made from it, is used by one thread at
 * a time. Different contexts may be used from different threads.
 */
#ifndef NB_RUNTIME_H
#define NB_RUNTIME_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define NB_VERSION_MAJOR 0
#define NB_VERSION_MINOR 1
#define NB_VERSION_PATCH 0

/* ---------------------------------------------------------------- status */

typedef enum nb_status {
    NB_OK = 0,
    NB_ERR_INVALID_ARGUMENT, /* a caller error: bad size, NULL, wrong shape */
    NB_ERR_NO_DEVICE,        /* no Vulkan device, or none matches NOBLE_DEVICE */
    NB_ERR_VULKAN,           /* a Vulkan call failed for another reason */
    NB_ERR_OUT_OF_MEMORY,    /* device or host memory exhausted; the caller may retry smaller */
    NB_ERR_COMPILE,          /* a kernel failed to compile; the message names kernel and line */
    NB_ERR_UNSUPPORTED,      /* the device or the FFT cannot do what was asked */
    NB_ERR_IO,               /* a file could not be read or written */
    NB_ERR_VALIDATION,       /* the validation layer reported a problem */
    NB_ERR_DEVICE_LOST       /* the device was lost; the context must be destroyed */
} nb_status;

/* Message of the last failure on this thread ("" if none). */
const char *nb_last_error(void);
/* Sets this thread's error message and returns s: for the layers above the
 * runtime, so that one nb_last_error() serves the whole library. */
nb_status nb_error(nb_status s, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* Short name of a status code, e.g. "out of memory". */
const char *nb_status_name(nb_status s);

/* --------------------------------------------------------------- devices */

typedef enum nb_device_type {
    NB_DEVICE_OTHER = 0,
    NB_DEVICE_DISCRETE,
    NB_DEVICE_INTEGRATED,
    NB_DEVICE_VIRTUAL,
    NB_DEVICE_CPU
} nb_device_type;

/* What the runtime reports about a Vulkan device. */
typedef struct nb_device_info {
    uint32_t index;            /* position in the Vulkan enumeration */
    char name[256];
    nb_device_type type;
    uint32_t vendor_id, device_id;
    char vendor[32];           /* "NVIDIA", "AMD", "Intel", "Mesa (CPU)", ... */
    char driver_name[256];     /* VkPhysicalDeviceDriverProperties, where known */
    char driver_info[256];
    uint32_t driver_version;   /* raw, vendor-encoded */
    char driver_version_str[32];
    uint32_t api_version;      /* VK_MAKE_API_VERSION encoded */
    char api_version_str[32];
    uint8_t device_uuid[16];       /* VkPhysicalDeviceIDProperties::deviceUUID (1.1+), else the pipeline cache UUID;
                                      zero on the CPU backend */
    uint32_t driver_id;            /* VkDriverId (VkPhysicalDeviceDriverProperties); 0: not reported, CPU backend */
    char conformance_version[16];  /* "major.minor.subminor.patch" of the driver's Vulkan conformance; "" if unknown */
    char cpu_model[256];           /* the CPU backend: the host's processor (/proc/cpuinfo); "" for Vulkan */

    /* limits that matter for compute */
    uint64_t device_local_bytes;    /* sum of device-local heaps */
    uint64_t max_allocation_bytes;  /* maxMemoryAllocationSize */
    uint64_t max_storage_buffer_range;
    uint64_t max_uniform_buffer_range;
    uint64_t max_texel_buffer_elements; /* of a uniform texel buffer (NB_TEXEL), in vec4 */
    uint32_t max_push_constants_size;
    uint32_t max_workgroup_invocations;
    uint32_t max_workgroup_size[3];
    uint32_t max_workgroup_count[3];
    uint32_t max_shared_memory_bytes;
    uint64_t min_storage_buffer_offset_alignment;
    int unified_memory;             /* every device-local heap is host-visible */
    /* Loop iterations one shader invocation may run, all its loops counted
     * together, before the driver ends them silently; 0: no such limit known.
     * Mesa's llvmpipe (lavapipe) stops at 65535 (LP_MAX_TGSI_LOOP_ITERATIONS):
     * kernels must be planned under it (docs/operator.md). */
    uint32_t max_loop_iterations;
    /* the CPU backend: its worker threads and the SIMD its kernels use
     * ("AVX-512", "AVX2", "SSE2", "NEON", "portable"); 0 and "" for Vulkan */
    uint32_t threads;
    char simd[16];

    /* optional features */
    int storage_16bit;              /* storageBuffer16BitAccess */
    int float16_arithmetic;         /* shaderFloat16 */
    int float64;                    /* shaderFloat64 */
    uint32_t subgroup_size;
    uint32_t subgroup_min_size, subgroup_max_size; /* 0 when not reported */
    uint32_t subgroup_ops;          /* VkSubgroupFeatureFlags in compute */
    int timestamps;                 /* timestamp queries on the compute queue */
    float timestamp_period_ns;
    uint32_t timestamp_valid_bits;  /* of the compute queue's timestamps; 64 on the CPU backend (CLOCK_MONOTONIC) */
    int cooperative_matrix;         /* VK_KHR_ or VK_NV_cooperative_matrix present */
    int usable;                     /* meets the runtime's needs (Vulkan 1.1, compute queue) */
} nb_device_info;

/* Lists the devices. *count receives the number written (at most cap).
 * *total (optional) receives the number present. */
nb_status nb_devices_list(nb_device_info *out, uint32_t cap, uint32_t *count,
                          uint32_t *total);

/* Index of the device the runtime would choose: NOBLE_DEVICE (an index or a
 * case-insensitive substring of the name) if set, else the first of
 * discrete GPU, integrated GPU, virtual GPU, CPU. */
nb_status nb_device_choose(uint32_t *index);

/* Comma-separated names of subgroup operations in a mask, into buf. */
void nb_subgroup_ops_string(uint32_t ops, char *buf, size_t cap);
const char *nb_device_type_name(nb_device_type t);

/* --------------------------------------------------------------- context */

typedef struct nb_context nb_context;

/* Where FFTs run. VkFFT on the device; or FFTW on the host, between
 * submits, over device memory the host can map. On CPU devices (lavapipe)
 * the host path is the same cores without the shader layer: FFTW runs the
 * transforms of this project about 10x faster there (`noble bench runtime`). */
typedef enum nb_fft_backend {
    NB_FFT_AUTO = 0, /* NOBLE_FFT (auto, vkfft or host) if set; else host on CPU devices whose
                        device memory is host-visible and coherent, VkFFT elsewhere */
    NB_FFT_VKFFT,
    NB_FFT_HOST
} nb_fft_backend;

/* Which implementation of the runtime a context is: Vulkan (GPU kernels
 * compiled from GLSL, on any Vulkan device, lavapipe included), or the
 * native CPU backend (the same kernels as C functions on the host's cores,
 * no Vulkan needed: nb_cpu_kernel_register). */
typedef enum nb_backend {
    NB_BACKEND_AUTO = 0, /* NOBLE_BACKEND (auto, vulkan or cpu) if set; else Vulkan on a GPU (or on the
                            device NOBLE_DEVICE or device_index names), the CPU backend where the only
                            Vulkan device is a CPU device (lavapipe) or there is none */
    NB_BACKEND_VULKAN,
    NB_BACKEND_CPU
} nb_backend;

typedef struct nb_context_options {
    int device_index;      /* -1: choose as nb_device_choose does */
    int validation;        /* -1: from NOBLE_VALIDATE (0, 1 or sync); 0 off; 1 on; 2 on with synchronization */
    const char *cache_dir; /* NULL: NOBLE_CACHE_DIR, else $XDG_CACHE_HOME/noble, else ~/.cache/noble; "" disables */
    uint64_t block_bytes;  /* size of a memory block; 0: 256 MiB (or less where the device limits it) */
    nb_fft_backend fft;    /* NB_FFT_AUTO by default */
    nb_backend backend;    /* NB_BACKEND_AUTO by default */
    uint32_t threads;      /* CPU backend: worker threads; 0: NOBLE_THREADS if set, else the cores */
    /* The GPU configuration (Vulkan contexts): -1 from NOBLE_GPU_CONFIG (0 or 1; unset: 0); 0 off; 1 on:
     * every choice the runtime and the operator make for CPU or unified-memory devices takes the
     * discrete GPU's branch on any device (device buffers not mapped, transfers staged in chunks,
     * VkFFT, storage loads, the GPU's tiles), and NB_BACKEND_AUTO takes Vulkan on a CPU device (lavapipe)
     * too, as on a GPU (still the CPU backend where there is no Vulkan device). For running the
     * GPU paths on lavapipe (docs/architecture.md, "The GPU configuration"). */
    int gpu_config;
    /* The staging buffer of transfers to memory the host does not map, i.e. the chunk size;
     * 0: NOBLE_STAGING_BYTES if set, else 64 MiB. */
    uint64_t staging_bytes;
    /* The largest storage binding, in bytes, at most the device's maxStorageBufferRange and
     * 4 GiB; 0: NOBLE_MAX_STORAGE_RANGE if set, else those. A smaller value makes the context
     * behave as a device with that limit (tests: refusals, the operator's micro-batches). */
    uint64_t max_storage_range;
} nb_context_options;

void nb_context_options_default(nb_context_options *o);
nb_status nb_context_create(const nb_context_options *o, nb_context **out);
void nb_context_destroy(nb_context *ctx);
const nb_device_info *nb_context_device(const nb_context *ctx);
/* The backend the context is (never NB_BACKEND_AUTO), and its name. */
nb_backend nb_context_backend(const nb_context *ctx);
const char *nb_backend_name(nb_backend b);
/* The CPU backend as a device: the host's processor, its threads and SIMD. */
nb_status nb_cpu_device_info(uint32_t threads, nb_device_info *out);
/* The FFT backend the context uses (never NB_FFT_AUTO), and its name. */
nb_fft_backend nb_context_fft_backend(const nb_context *ctx);
const char *nb_fft_backend_name(nb_fft_backend b);
/* The versions of the FFT libraries built in: VkFFT's ("1.2.26"; "" in a
 * build without Vulkan) and FFTW's single-precision library ("fftw-3.3.10"). */
const char *nb_vkfft_version(void);
const char *nb_fftw_version(void);
/* 1 where the context runs in the GPU configuration (nb_context_options.gpu_config;
 * always 0 on the CPU backend), and its staging chunk in bytes (0 where buffers are
 * mapped and transfers are memcpy). */
int nb_context_gpu_config(const nb_context *ctx);
uint64_t nb_context_staging_bytes(const nb_context *ctx);
/* A storage binding is at most this many bytes: the device's maxStorageBufferRange, 4 GiB
 * (NB_MAX_BINDING_BYTES) or nb_context_options.max_storage_range, the least; the context's
 * nb_device_info.max_storage_buffer_range holds the same. */
#define NB_MAX_BINDING_BYTES (4ull << 30)

/* Validation: messages of warning or error severity are counted and the
 * first few kept. nb_context_check() turns any into NB_ERR_VALIDATION. */
uint32_t nb_validation_count(const nb_context *ctx);
const char *nb_validation_message(const nb_context *ctx, uint32_t i);
nb_status nb_context_check(nb_context *ctx);
int nb_context_validation_enabled(const nb_context *ctx);

/* Raw handles for interoperation (plugins, tests). Types are the Vulkan
 * handles (VkInstance, VkPhysicalDevice, VkDevice, VkQueue) as void *. */
void *nb_context_vk_instance(nb_context *ctx);
void *nb_context_vk_device(nb_context *ctx);

/* ---------------------------------------------------------------- memory */

typedef struct nb_buffer nb_buffer;

typedef enum nb_memory_kind {
    NB_MEM_DEVICE = 0, /* for kernels; host access through nb_buffer_upload/download */
    NB_MEM_HOST        /* host-visible, mappable (staging, readback) */
} nb_memory_kind;

typedef struct nb_memory_stats {
    uint32_t blocks;         /* device memory allocations held */
    uint64_t block_bytes;    /* bytes in those allocations */
    uint64_t used_bytes;     /* bytes handed out to live buffers (aligned) */
    uint64_t peak_used_bytes;
    uint32_t buffers;        /* live buffers */
} nb_memory_stats;

/* A buffer is bound whole, and its binding is a whole number of 16-byte
 * vec4 long: past `bytes` up to the next multiple of 16 lies padding that a
 * vec4 kernel may touch and no one else reads. */
nb_status nb_buffer_create(nb_context *ctx, uint64_t bytes, nb_memory_kind kind,
                           nb_buffer **out);
void nb_buffer_destroy(nb_buffer *b);
uint64_t nb_buffer_size(const nb_buffer *b);
/* Copy host data in or out at a byte offset; waits for completion. */
nb_status nb_buffer_upload(nb_buffer *b, uint64_t offset, const void *src, uint64_t bytes);
nb_status nb_buffer_download(nb_buffer *b, uint64_t offset, void *dst, uint64_t bytes);
/* Host pointer of a mappable buffer (NB_MEM_HOST, or any buffer on unified
 * memory outside the GPU configuration); NULL otherwise. Valid until the buffer is destroyed. Only touch
 * it while no submitted work uses the buffer. */
void *nb_buffer_map(nb_buffer *b);
void *nb_buffer_vk_handle(nb_buffer *b); /* VkBuffer */
void nb_memory_stats_get(const nb_context *ctx, nb_memory_stats *s);
/* Frees blocks with no live buffer in them. */
void nb_memory_trim(nb_context *ctx);

/* --------------------------------------------------------------- kernels */

typedef struct nb_kernel nb_kernel;

#define NB_MAX_BINDINGS 16
#define NB_MAX_SPEC 16
#define NB_MAX_DEFINES 32

/* How a kernel uses each storage buffer binding: drives the barriers. */
/* NB_UNIFORM: read through a uniform buffer (small, read-only data read the
 * same by every invocation, such as layer weights: cached and broadcast on
 * GPUs, loaded once per subgroup on CPUs); at most max_uniform_buffer_range
 * bytes.
 * NB_TEXEL: read as vec4 texels through a uniform texel buffer over the whole
 * buffer (format RGBA32F; GLSL `uniform samplerBuffer b`, read with
 * texelFetch(b, i), i counted in vec4; a buffer's last texel is whole, its
 * tail past the buffer's size undefined); at most max_texel_buffer_elements
 * vec4. On lavapipe a texel fetch is one
 * vector gather where a storage-buffer load is a loop over the lanes
 * (docs/benchmarks.md has the measurement).
 * The others bind storage buffers. */
typedef enum nb_access { NB_READ = 1, NB_WRITE = 2, NB_READ_WRITE = 3, NB_UNIFORM = 4, NB_TEXEL = 5 } nb_access;

typedef struct nb_kernel_desc {
    const char *name;       /* an embedded shader (shaders/<name>.comp) */
    const char *source;     /* or: GLSL text given by the caller (then name only labels it) */
    const char *defines[NB_MAX_DEFINES]; /* "NAME" or "NAME=VALUE", NULL-terminated */
    uint32_t n_bindings;    /* storage buffers at set 0, bindings 0..n-1 */
    nb_access access[NB_MAX_BINDINGS];
    uint32_t push_bytes;    /* push-constant block size, multiple of 4 */
    uint32_t n_spec;        /* specialisation constants: ids and 32-bit values */
    uint32_t spec_id[NB_MAX_SPEC];
    uint32_t spec_value[NB_MAX_SPEC];
} nb_kernel_desc;

typedef struct nb_kernel_stats {
    uint32_t compiled;     /* GLSL compiled by glslang */
    uint32_t cache_hits;   /* SPIR-V loaded from the disk cache */
    double compile_ms;     /* time spent in glslang */
    double pipeline_ms;    /* time spent creating pipelines */
} nb_kernel_stats;

nb_status nb_kernel_create(nb_context *ctx, const nb_kernel_desc *d, nb_kernel **out);
void nb_kernel_destroy(nb_kernel *k);
int nb_kernel_from_cache(const nb_kernel *k); /* SPIR-V came from the disk cache */
const char *nb_kernel_name(const nb_kernel *k);
void nb_kernel_stats_get(const nb_context *ctx, nb_kernel_stats *s);
/* The directory compiled kernels are cached in; "" when caching is off. */
const char *nb_cache_dir(const nb_context *ctx);
/* Writes the VkPipelineCache to the cache directory (also done on destroy). */
nb_status nb_pipeline_cache_save(nb_context *ctx);
/* Embedded shader sources: number, and name/source of the i-th. */
uint32_t nb_shader_count(void);
const char *nb_shader_name(uint32_t i);
const char *nb_shader_source(const char *name);

/* ------------------------------------------------------------------- FFT */

typedef struct nb_fft nb_fft;

typedef enum nb_fft_kind {
    NB_FFT_R2C = 0, /* real [batch][n] -> complex [batch][n/2+1], unnormalised, e^{-i} */
    NB_FFT_C2R = 1  /* complex [batch][n/2+1] -> real [batch][n], unnormalised, e^{+i} */
} nb_fft_kind;

typedef enum nb_precision { NB_FP32 = 0, NB_FP64 = 1 } nb_precision;

/* Whether the runtime's FFT is exact at length n (even, prime factors <= 13,
 * 2 <= n <= 2^24). Other lengths come out wrong in VkFFT 1.2.26 or are refused
 * by it, so they are refused here. */
int nb_fft_length_ok(uint64_t n);
/* The nearest length for which nb_fft_length_ok holds (the larger one on a tie). */
uint64_t nb_fft_good_length(uint64_t n);

/* A plan from the context's cache, keyed by (n, batch, kind, precision,
 * layout). Layout: contiguous rows, real row stride n, complex row stride
 * n/2+1. The context owns plans; they live until it is destroyed. */
nb_status nb_fft_plan(nb_context *ctx, uint64_t n, uint64_t batch, nb_fft_kind kind,
                      nb_precision prec, nb_fft **out);
/* As nb_fft_plan, for a caller that uses only the first `bins` complex bins
 * of each row (1 <= bins <= n/2+1; n/2+1 is nb_fft_plan). Such a plan may
 * compute only those bins (R2C: the rest of each output row is left as it
 * was) and read only those (C2R: the rest of each input row is taken as
 * zero, not read). Whether it does: nb_fft_band_limited. The CPU backend
 * does at fp32 for bins <= n/2 (runtime/cpu_fft.c); the other paths compute
 * and read every bin, so a C2R's input past `bins` must hold zeros there. */
nb_status nb_fft_plan_bins(nb_context *ctx, uint64_t n, uint64_t batch, nb_fft_kind kind,
                           nb_precision prec, uint64_t bins, nb_fft **out);
/* 1 where the plan computes (R2C) or reads (C2R) only its bins. */
int nb_fft_band_limited(const nb_fft *plan);
/* As nb_fft_plan_bins, with the complex rows packed: `bins` bins per row
 * (row stride bins, not n/2+1), so the spectrum buffer holds only what the
 * caller uses. Only band-limited plans pack (the CPU backend at fp32, bins
 * <= n/2, a length its transform takes); elsewhere NB_ERR_UNSUPPORTED, and
 * the caller keeps whole rows. */
nb_status nb_fft_plan_packed(nb_context *ctx, uint64_t n, uint64_t batch, nb_fft_kind kind,
                             nb_precision prec, uint64_t bins, nb_fft **out);
int nb_fft_packed(const nb_fft *plan);
uint32_t nb_fft_plans_cached(const nb_context *ctx);

/* --------------------------------------------------------------- recording */

typedef struct nb_cmd nb_cmd;

typedef struct nb_cmd_stats {
    uint32_t ops;        /* dispatches, FFTs, copies and fills recorded */
    uint32_t barriers;   /* pipeline barriers inserted between them */
} nb_cmd_stats;

typedef struct nb_profile_row {
    char label[48];
    uint32_t count;
    double total_ms;
    double min_ms, max_ms;
} nb_profile_row;

/* profile != 0: GPU timestamps around each op, where the device supports them. */
nb_status nb_cmd_begin(nb_context *ctx, int profile, nb_cmd **out);
/* Records a dispatch. buffers[i] binds to binding i; push may be NULL when
 * the kernel has no push constants. label names the op in profiles (NULL:
 * the kernel's name). */
nb_status nb_cmd_dispatch(nb_cmd *c, const nb_kernel *k, const uint32_t groups[3],
                          nb_buffer *const *buffers, const void *push,
                          const char *label);
/* R2C reads real `in`, writes complex `out`; C2R reads complex `in`, writes real `out`. */
nb_status nb_cmd_fft(nb_cmd *c, nb_fft *plan, nb_buffer *in, nb_buffer *out,
                     const char *label);
nb_status nb_cmd_copy(nb_cmd *c, nb_buffer *src, uint64_t src_off, nb_buffer *dst,
                      uint64_t dst_off, uint64_t bytes);
nb_status nb_cmd_fill(nb_cmd *c, nb_buffer *dst, uint64_t off, uint64_t bytes, uint32_t word);
/* Ends, submits, waits for the fence. The recording may then be submitted
 * again with nb_cmd_resubmit, or reset with nb_cmd_reset. */
nb_status nb_cmd_submit(nb_cmd *c);
nb_status nb_cmd_resubmit(nb_cmd *c);
nb_status nb_cmd_reset(nb_cmd *c);
void nb_cmd_stats_get(const nb_cmd *c, nb_cmd_stats *s);
/* Profile of the last submit, one row per label in order of first use. */
nb_status nb_cmd_profile(const nb_cmd *c, const nb_profile_row **rows, uint32_t *n);
/* GPU time from the first to the last timestamp of the last submit, ms; <0 if none. */
double nb_cmd_gpu_ms(const nb_cmd *c);
void nb_cmd_destroy(nb_cmd *c);

/* ----------------------------------------------------------- CPU kernels
 * The CPU backend runs a kernel as a C function registered under the name of
 * the GLSL kernel it stands for (shaders/<name>.comp): the same defines, the
 * same bindings in the same order, the same push constants, the same
 * results. The function does the whole dispatch; `groups` is what the
 * caller dispatched and may be ignored. It may split the work over the
 * context's threads with nb_cpu_parallel; its results must not depend on how
 * tasks are scheduled (a task's output is written by that task alone, and
 * reductions combine per-task parts in a fixed order). Scratch memory comes
 * from nb_cpu_scratch, allocated once and kept, never per call. */
typedef struct nb_cpu_call {
    const nb_kernel *kernel;
    void *buf[NB_MAX_BINDINGS];       /* each binding's memory: 64-byte aligned */
    uint64_t bytes[NB_MAX_BINDINGS];  /* its size, rounded up to whole vec4 (16 bytes) */
    const void *push;                 /* the push constants (the kernel's push_bytes) */
    uint32_t groups[3];
    void *pool;                       /* the backend's threads (for the calls below) */
} nb_cpu_call;

typedef nb_status (*nb_cpu_kernel_fn)(const nb_cpu_call *c);
/* Registers (or replaces) the C implementation of kernel `name` for every
 * CPU context, present and future. Thread-safe. */
nb_status nb_cpu_kernel_register(const char *name, nb_cpu_kernel_fn fn);
/* The value of define `name` of the kernel ("NAME" alone is 1); dflt where absent. */
long nb_cpu_define(const nb_cpu_call *c, const char *name, long dflt);
/* The value of specialisation constant `id` (the workgroup size of the
 * runtime's own kernels is id 0); dflt where it was not given. */
long nb_cpu_spec(const nb_cpu_call *c, uint32_t id, long dflt);
/* Threads of the call's context. */
uint32_t nb_cpu_threads(const nb_cpu_call *c);
/* Runs task(user, i, thread) for every i in [0, n) over the context's threads
 * and returns when all have run; thread < nb_cpu_threads(c). */
void nb_cpu_parallel(const nb_cpu_call *c, uint64_t n, void (*task)(void *user, uint64_t i, uint32_t thread),
                     void *user);
/* Per-thread scratch of at least `bytes`, 64-byte aligned, kept by the context
 * between calls (grown when a call needs more); NULL if out of memory. */
void *nb_cpu_scratch(const nb_cpu_call *c, uint32_t thread, uint64_t bytes);

#ifdef __cplusplus
}
#endif
#endif /* NB_RUNTIME_H */
