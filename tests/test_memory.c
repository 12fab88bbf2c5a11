/* Buffers: round trips from 1 byte to 256 MiB at odd offsets, suballocation
 * from shared blocks, impossible and invalid requests failing cleanly. */
#include "nb_test.h"

#include <stdint.h>

static void round_trip(nb_context *ctx, uint64_t bytes, nb_memory_kind kind, uint64_t seed)
{
    nb_buffer *b = NULL;
    nb_status s = nb_buffer_create(ctx, bytes, kind, &b);
    CHECK(s == NB_OK, "create %llu bytes: %s", (unsigned long long)bytes, nb_last_error());
    if (s)
        return;
    CHECK(nb_buffer_size(b) == bytes, "size");
    unsigned char *src = malloc(bytes), *dst = malloc(bytes);
    uint64_t x = seed;
    for (uint64_t i = 0; i < bytes; i++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        src[i] = (unsigned char)(x >> 56);
    }
    memset(dst, 0xA5, bytes);
    CHECK_OK(nb_buffer_upload(b, 0, src, bytes));
    CHECK_OK(nb_buffer_download(b, 0, dst, bytes));
    CHECK(memcmp(src, dst, bytes) == 0, "round trip of %llu bytes differs", (unsigned long long)bytes);
    if (bytes > 16) { /* partial, at an odd offset */
        uint64_t off = bytes / 3 | 1, n = bytes / 2 - 1;
        memset(dst, 0, bytes);
        CHECK_OK(nb_buffer_download(b, off, dst, n));
        CHECK(memcmp(src + off, dst, n) == 0, "partial download at %llu", (unsigned long long)off);
        for (uint64_t i = 0; i < n; i++)
            src[off + i] ^= 0xFF;
        CHECK_OK(nb_buffer_upload(b, off, src + off, n));
        CHECK_OK(nb_buffer_download(b, 0, dst, bytes));
        CHECK(memcmp(src, dst, bytes) == 0, "partial upload at %llu", (unsigned long long)off);
    }
    free(src);
    free(dst);
    nb_buffer_destroy(b);
}

/* The GPU configuration's transfers on any device: device buffers are not
 * mapped, uploads and downloads go through a staging buffer of 1000 bytes
 * reused chunk after chunk (odd, so chunks end at odd offsets too), host
 * buffers stay mapped, the FFT is VkFFT and the host FFT is refused. */
static void staged_chunks(void)
{
    nb_context_options o;
    nb_context_options_default(&o);
    o.gpu_config = 1;
    o.staging_bytes = 1000;
    nb_context *ctx;
    REQUIRE_OK(nb_context_create(&o, &ctx));
    CHECK(nb_context_gpu_config(ctx) == 1, "the GPU configuration is on");
    CHECK(nb_context_staging_bytes(ctx) == 1000, "staging chunk %llu", (unsigned long long)nb_context_staging_bytes(ctx));
    CHECK(nb_context_fft_backend(ctx) == NB_FFT_VKFFT, "the GPU configuration's FFT is VkFFT");
    nb_buffer *d, *h;
    REQUIRE_OK(nb_buffer_create(ctx, 4096, NB_MEM_DEVICE, &d));
    REQUIRE_OK(nb_buffer_create(ctx, 4096, NB_MEM_HOST, &h));
    CHECK(nb_buffer_map(d) == NULL, "a device buffer is not mapped in the GPU configuration");
    CHECK(nb_buffer_map(h) != NULL, "a host buffer is mapped");
    nb_buffer_destroy(d);
    nb_buffer_destroy(h);
    static const uint64_t sizes[] = {1, 999, 1000, 1001, 4096, 65537, (1u << 20) + 7};
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++)
        round_trip(ctx, sizes[i], NB_MEM_DEVICE, 1000 + i);
    uint32_t n = nb_validation_count(ctx);
    CHECK(n == 0, "%u validation message(s) in the GPU configuration; first: %s", n, nb_validation_message(ctx, 0));
    nb_context_destroy(ctx);
    /* The host FFT needs memory the host maps: refused in the GPU configuration. */
    o.fft = NB_FFT_HOST;
    nb_status s = nb_context_create(&o, &ctx);
    CHECK(s == NB_ERR_UNSUPPORTED && strstr(nb_last_error(), "GPU configuration"), "host FFT refused: %s %s",
          nb_status_name(s), nb_last_error());
    if (!s)
        nb_context_destroy(ctx);
    /* auto takes Vulkan in the GPU configuration, as on a GPU, even where the
     * only device is a CPU device (where it would take the CPU backend) */
    o.fft = NB_FFT_AUTO;
    o.backend = NB_BACKEND_AUTO;
    char *keep = getenv("NOBLE_BACKEND") ? strdup(getenv("NOBLE_BACKEND")) : NULL;
    unsetenv("NOBLE_BACKEND");
    s = nb_context_create(&o, &ctx);
    CHECK(s == NB_OK && nb_context_backend(ctx) == NB_BACKEND_VULKAN && nb_context_gpu_config(ctx),
          "auto in the GPU configuration: Vulkan (%s)", s ? nb_last_error() : nb_backend_name(nb_context_backend(ctx)));
    if (!s)
        nb_context_destroy(ctx);
    if (keep) {
        setenv("NOBLE_BACKEND", keep, 1);
        free(keep);
    }
    printf("staged transfers in chunks of 1000 bytes: checked\n");
}

int main(void)
{
    nb_context *ctx = nbt_context();

    static const uint64_t sizes[] = {1, 3, 4, 255, 4096, 65537, 1u << 20, (3u << 20) + 7, 64u << 20, 256u << 20};
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++)
        round_trip(ctx, sizes[i], NB_MEM_DEVICE, i + 1);
    round_trip(ctx, 12345, NB_MEM_HOST, 99);
    round_trip(ctx, 100u << 20, NB_MEM_HOST, 98); /* more than the staging buffer */

    if (nb_context_backend(ctx) == NB_BACKEND_VULKAN)
        staged_chunks();
    else
        printf("the GPU configuration is Vulkan's: its staged transfers are not checked on the CPU backend\n");

    /* Many small buffers share blocks instead of one allocation each. */
    nb_memory_stats st0, st1;
    nb_memory_trim(ctx);
    nb_memory_stats_get(ctx, &st0);
    enum { N = 300 };
    nb_buffer *bufs[N];
    for (int i = 0; i < N; i++)
        CHECK_OK(nb_buffer_create(ctx, 1000 + 37 * (uint64_t)i, NB_MEM_DEVICE, &bufs[i]));
    nb_memory_stats_get(ctx, &st1);
    CHECK(st1.buffers == st0.buffers + N, "live buffers %u", st1.buffers);
    CHECK(st1.blocks <= st0.blocks + 1, "%u buffers took %u new blocks", N, st1.blocks - st0.blocks);
    /* Buffers do not overlap: each keeps its own contents. */
    for (int i = 0; i < N; i++) {
        uint32_t v = 0xC0DE0000u + (uint32_t)i;
        CHECK_OK(nb_buffer_upload(bufs[i], 0, &v, 4));
        CHECK_OK(nb_buffer_upload(bufs[i], nb_buffer_size(bufs[i]) - 4, &v, 4));
    }
    for (int i = 0; i < N; i++) {
        uint32_t a = 0, b = 0;
        CHECK_OK(nb_buffer_download(bufs[i], 0, &a, 4));
        CHECK_OK(nb_buffer_download(bufs[i], nb_buffer_size(bufs[i]) - 4, &b, 4));
        CHECK(a == 0xC0DE0000u + (uint32_t)i && b == a, "buffer %d overwritten", i);
    }
    for (int i = 0; i < N; i += 2) /* free every other one, then refill the holes */
        nb_buffer_destroy(bufs[i]);
    for (int i = 0; i < N; i += 2)
        CHECK_OK(nb_buffer_create(ctx, 900, NB_MEM_DEVICE, &bufs[i]));
    nb_memory_stats st2;
    nb_memory_stats_get(ctx, &st2);
    CHECK(st2.blocks == st1.blocks, "freed space not reused: %u -> %u blocks", st1.blocks, st2.blocks);
    for (int i = 0; i < N; i++)
        nb_buffer_destroy(bufs[i]);
    nb_memory_trim(ctx);
    nb_memory_stats_get(ctx, &st2);
    CHECK(st2.buffers == st0.buffers, "buffers leaked: %u", st2.buffers - st0.buffers);

    /* An impossible allocation fails with a clear error, and the context
     * keeps working afterwards. */
    nb_buffer *huge = NULL;
    nb_status s = nb_buffer_create(ctx, 1ull << 50, NB_MEM_DEVICE, &huge);
    CHECK(s == NB_ERR_OUT_OF_MEMORY, "1 PiB: got %s", nb_status_name(s));
    CHECK(huge == NULL, "no buffer on failure");
    CHECK(strstr(nb_last_error(), "cannot allocate") != NULL, "message: %s", nb_last_error());
    printf("1 PiB request: %s\n", nb_last_error());
    /* Within the limits of one allocation but beyond the device's heap. */
    uint64_t heap = nb_context_device(ctx)->device_local_bytes;
    s = nb_buffer_create(ctx, heap + (1ull << 30), NB_MEM_DEVICE, &huge);
    CHECK(s == NB_ERR_OUT_OF_MEMORY, "heap + 1 GiB: got %s", nb_status_name(s));

    s = nb_buffer_create(ctx, 0, NB_MEM_DEVICE, &huge);
    CHECK(s == NB_ERR_INVALID_ARGUMENT, "0 bytes: got %s", nb_status_name(s));
    round_trip(ctx, 4096, NB_MEM_DEVICE, 7);

    /* Out-of-range transfers are refused, not performed. */
    nb_buffer *b = NULL;
    REQUIRE_OK(nb_buffer_create(ctx, 64, NB_MEM_DEVICE, &b));
    char tmp[128] = {0};
    CHECK(nb_buffer_upload(b, 32, tmp, 64) == NB_ERR_INVALID_ARGUMENT, "upload past the end");
    CHECK(nb_buffer_download(b, 65, tmp, 0) == NB_ERR_INVALID_ARGUMENT, "offset past the end");
    CHECK(nb_buffer_upload(b, 0, NULL, 4) == NB_ERR_INVALID_ARGUMENT, "NULL source");
    nb_buffer_destroy(b);

    return nbt_finish(ctx);
}
