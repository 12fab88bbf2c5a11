/* vkfft_glue.c - the one file that includes VkFFT (a copy of Debian's
 * vkFFT.h 1.2.26, repaired at build time: see runtime/vkfft_patch.cmake). */
#include "nb_internal.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* VkFFT prints its diagnostics with printf; library code must not print,
 * so they are captured and handed to the caller with the error. */
static _Thread_local char g_vkfft_log[1024];
static _Thread_local size_t g_vkfft_log_n;

static int vkfft_printf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = 0;
    if (g_vkfft_log_n < sizeof g_vkfft_log - 1) {
        n = vsnprintf(g_vkfft_log + g_vkfft_log_n, sizeof g_vkfft_log - g_vkfft_log_n, fmt, ap);
        if (n > 0)
            g_vkfft_log_n += (size_t)n;
        if (g_vkfft_log_n >= sizeof g_vkfft_log)
            g_vkfft_log_n = sizeof g_vkfft_log - 1;
    }
    va_end(ap);
    return n;
}

#define VKFFT_BACKEND 0
#define printf(...) vkfft_printf(__VA_ARGS__)
#include "vkFFT_noble.h"
#undef printf

struct nb_vkfft {
    VkFFTApplication app;
    VkFFTConfiguration cfg;
    VkPhysicalDevice phys;
    VkDevice device;
    VkQueue queue;
    VkCommandPool pool;
    VkFence fence;
    VkBuffer real_buf, complex_buf;
    uint64_t real_bytes, complex_bytes;
};

int nb__vkfft_create(const nb_vkfft_params *p, nb_vkfft **out, char *msg, size_t cap)
{
    *out = NULL;
    msg[0] = 0;
    nb_vkfft *f = calloc(1, sizeof *f);
    if (!f)
        return VKFFT_ERROR_MALLOC_FAILED;
    f->phys = p->phys;
    f->device = p->device;
    f->queue = p->queue;
    f->pool = p->pool;
    f->fence = p->fence;
    f->real_buf = p->real_buf;
    f->complex_buf = p->complex_buf;
    f->real_bytes = p->real_bytes;
    f->complex_bytes = p->complex_bytes;

    VkFFTConfiguration *c = &f->cfg;
    c->FFTdim = 1;
    c->size[0] = p->n;
    c->numberBatches = p->batch;
    c->performR2C = 1;
    c->isInputFormatted = 1; /* the real rows are not padded */
    c->inputBufferStride[0] = p->n;
    c->inverseReturnToInputBuffer = 1;
    c->doublePrecision = p->fp64 ? 1 : 0;
    c->makeForwardPlanOnly = p->inverse ? 0 : 1;
    c->makeInversePlanOnly = p->inverse ? 1 : 0;
    c->isCompilerInitialized = 1; /* the runtime owns glslang's process state */
    c->physicalDevice = &f->phys;
    c->device = &f->device;
    c->queue = &f->queue;
    c->commandPool = &f->pool;
    c->fence = &f->fence;
    c->buffer = &f->complex_buf;
    c->bufferSize = &f->complex_bytes;
    c->inputBuffer = &f->real_buf;
    c->inputBufferSize = &f->real_bytes;
    if (p->load) {
        c->loadApplicationFromString = 1;
        c->loadApplicationString = (void *)p->load;
    } else if (p->save) {
        c->saveApplicationToString = 1;
    }
    g_vkfft_log_n = 0;
    g_vkfft_log[0] = 0;
    VkFFTResult r = initializeVkFFT(&f->app, *c);
    if (r != VKFFT_SUCCESS) {
        /* The log can hold the whole generated shader; keep its end. */
        size_t n = g_vkfft_log_n;
        const char *tail = n > cap - 1 ? g_vkfft_log + n - (cap - 1) : g_vkfft_log;
        snprintf(msg, cap, "%s", tail);
        deleteVkFFT(&f->app);
        free(f);
        return (int)r;
    }
    *out = f;
    return 0;
}

int nb__vkfft_append(nb_vkfft *f, VkCommandBuffer cmd, VkBuffer real_buf, VkBuffer complex_buf, int inverse)
{
    /* Always the buffers the application was made with: VkFFT would rewrite
     * its descriptor sets otherwise, which breaks recorded work. */
    (void)real_buf;
    (void)complex_buf;
    VkFFTLaunchParams lp;
    memset(&lp, 0, sizeof lp);
    lp.commandBuffer = &cmd;
    return (int)VkFFTAppend(&f->app, inverse ? 1 : -1, &lp);
}

const void *nb__vkfft_saved(const nb_vkfft *f, uint64_t *bytes)
{
    *bytes = f->app.applicationStringSize;
    return f->app.saveApplicationString;
}

void nb__vkfft_destroy(nb_vkfft *f)
{
    if (!f)
        return;
    deleteVkFFT(&f->app);
    free(f);
}

const char *nb__vkfft_error_name(int code)
{
    switch (code) {
    case VKFFT_SUCCESS: return "success";
    case VKFFT_ERROR_MALLOC_FAILED: return "malloc failed";
    case VKFFT_ERROR_INSUFFICIENT_CODE_BUFFER: return "insufficient code buffer";
    case VKFFT_ERROR_UNSUPPORTED_RADIX: return "unsupported radix";
    case VKFFT_ERROR_UNSUPPORTED_FFT_LENGTH: return "unsupported FFT length";
    case VKFFT_ERROR_UNSUPPORTED_FFT_LENGTH_R2C: return "unsupported R2C length";
    case VKFFT_ERROR_FAILED_TO_ALLOCATE_MEMORY: return "failed to allocate memory";
    case VKFFT_ERROR_FAILED_SHADER_PREPROCESS: return "shader preprocess failed";
    case VKFFT_ERROR_FAILED_SHADER_PARSE: return "shader parse failed";
    case VKFFT_ERROR_FAILED_SHADER_LINK: return "shader link failed";
    case VKFFT_ERROR_FAILED_SPIRV_GENERATE: return "SPIR-V generation failed";
    case VKFFT_ERROR_FAILED_TO_CREATE_PIPELINE: return "pipeline creation failed";
    case VKFFT_ERROR_FAILED_TO_SUBMIT_QUEUE: return "queue submit failed";
    case VKFFT_ERROR_FAILED_TO_WAIT_FOR_FENCES: return "fence wait failed";
    default: return "VkFFT error";
    }
}

const char *nb_vkfft_version(void)
{
    static _Thread_local char v[16]; /* VkFFTGetVersion(): X.XX.XX as one number, 10226 for 1.2.26 */
    const int n = VkFFTGetVersion();
    snprintf(v, sizeof v, "%d.%d.%d", n / 10000, n / 100 % 100, n % 100);
    return v;
}
