/* Recording: 1000 dependent dispatches in one submit give the right answer;
 * barriers appear exactly where an op touches what an earlier one wrote (or
 * overwrites what it read); GPU timestamps fill the profile table; a
 * recording can be submitted again and reset. */
#include "nb_test.h"

static nb_kernel *add_kernel(nb_context *ctx)
{
    nb_kernel_desc d = {.name = "add_scalar", .n_bindings = 1, .access = {NB_READ_WRITE}, .push_bytes = 8,
                        .n_spec = 1, .spec_id = {0}, .spec_value = {64}};
    nb_kernel *k;
    REQUIRE_OK(nb_kernel_create(ctx, &d, &k));
    return k;
}

/* A buffer bound as one storage buffer past the storage range is refused
 * with a message that names the kernel, the binding and the limit, before
 * anything reaches Vulkan; one at the limit runs. The limit is lowered to
 * 1 MiB (nb_context_options.max_storage_range, the same check that holds
 * the device's maxStorageBufferRange and 4 GiB) so no test allocates 4 GiB. */
static void storage_range_limit(void)
{
    nb_context_options o;
    nb_context_options_default(&o);
    o.max_storage_range = 1u << 20;
    nb_context *ctx;
    REQUIRE_OK(nb_context_create(&o, &ctx));
    CHECK(nb_context_device(ctx)->max_storage_buffer_range == 1u << 20, "the lowered range: %llu",
          (unsigned long long)nb_context_device(ctx)->max_storage_buffer_range);
    nb_kernel *add = add_kernel(ctx);
    nb_buffer *at, *over;
    REQUIRE_OK(nb_buffer_create(ctx, 1u << 20, NB_MEM_DEVICE, &at));
    REQUIRE_OK(nb_buffer_create(ctx, (1u << 20) + 16, NB_MEM_DEVICE, &over));
    struct {
        uint32_t n;
        float v;
    } push = {(1u << 20) / 4, 1.0f};
    uint32_t groups[3] = {(1u << 20) / 4 / 64, 1, 1};
    nb_cmd *c;
    REQUIRE_OK(nb_cmd_begin(ctx, 0, &c));
    CHECK_OK(nb_cmd_fill(c, at, 0, 1u << 20, 0));
    CHECK_OK(nb_cmd_dispatch(c, add, groups, &at, &push, NULL));
    nb_status s = nb_cmd_dispatch(c, add, groups, &over, &push, NULL);
    CHECK(s == NB_ERR_UNSUPPORTED, "a binding past the range: got %s", nb_status_name(s));
    CHECK(strstr(nb_last_error(), "add_scalar") && strstr(nb_last_error(), "storage buffer range"),
          "the refusal names the kernel and the limit: %s", nb_last_error());
    printf("refused as it should be: %s\n", nb_last_error());
    CHECK_OK(nb_cmd_submit(c));
    float v[4];
    CHECK_OK(nb_buffer_download(at, (1u << 20) - 16, v, sizeof v));
    CHECK(v[3] == 1.0f, "the binding at the limit ran: %g", (double)v[3]);
    nb_cmd_destroy(c);
    nb_buffer_destroy(at);
    nb_buffer_destroy(over);
    nb_kernel_destroy(add);
    uint32_t n = nb_validation_count(ctx);
    CHECK(n == 0, "%u validation message(s) with the lowered range; first: %s", n, nb_validation_message(ctx, 0));
    nb_context_destroy(ctx);
}

int main(void)
{
    nb_context *ctx = nbt_context();
    /* barriers are the Vulkan backend's; the CPU backend runs ops in order */
    const int vk = nb_context_backend(ctx) == NB_BACKEND_VULKAN;
    nb_kernel *add = add_kernel(ctx);
    nb_kernel_desc sd = {.name = "saxpy", .n_bindings = 2, .access = {NB_READ, NB_READ_WRITE}, .push_bytes = 8,
                         .n_spec = 1, .spec_id = {0}, .spec_value = {64}};
    nb_kernel *saxpy;
    REQUIRE_OK(nb_kernel_create(ctx, &sd, &saxpy));

    enum { N = 1000, LEN = 4096 };
    struct {
        uint32_t n;
        float v;
    } push;
    uint32_t groups[3] = {LEN / 64, 1, 1};

    /* 1. A chain: x += (i+1) for i < 1000, each reading the last one's result. */
    nb_buffer *x;
    REQUIRE_OK(nb_buffer_create(ctx, LEN * 4, NB_MEM_DEVICE, &x));
    nb_cmd *c;
    REQUIRE_OK(nb_cmd_begin(ctx, 1, &c));
    CHECK_OK(nb_cmd_fill(c, x, 0, LEN * 4, 0)); /* 0.0f */
    for (int i = 0; i < N; i++) {
        push.n = LEN;
        push.v = (float)(i + 1);
        CHECK_OK(nb_cmd_dispatch(c, add, groups, &x, &push, NULL));
    }
    nb_cmd_stats st;
    nb_cmd_stats_get(c, &st);
    CHECK(st.ops == N + 1, "ops %u", st.ops);
    CHECK(!vk || st.barriers == N, "each dispatch depends on the previous op: %u barriers", st.barriers);
    CHECK_OK(nb_cmd_submit(c));
    float *h = malloc(LEN * 4);
    CHECK_OK(nb_buffer_download(x, 0, h, LEN * 4));
    const float want = (float)N * (N + 1) / 2; /* 500500, exact in fp32 */
    int bad = 0;
    for (int i = 0; i < LEN; i++)
        bad += h[i] != want;
    CHECK(bad == 0, "%d of %d elements differ from %g (first %g)", bad, LEN, (double)want, (double)h[0]);

    const nb_profile_row *rows;
    uint32_t nrows;
    if (nb_context_device(ctx)->timestamps) {
        CHECK_OK(nb_cmd_profile(c, &rows, &nrows));
        CHECK(nrows == 2, "two labels (fill, add_scalar), got %u", nrows);
        for (uint32_t i = 0; i < nrows; i++)
            printf("profile: %-12s count %4u total %8.3f ms min %.4f max %.4f\n", rows[i].label, rows[i].count,
                   rows[i].total_ms, rows[i].min_ms, rows[i].max_ms);
        CHECK(nrows == 2 && strcmp(rows[1].label, "add_scalar") == 0 && rows[1].count == N, "add_scalar row");
        CHECK(nb_cmd_gpu_ms(c) > 0, "GPU time %.3f", nb_cmd_gpu_ms(c));
    }

    /* 2. The same recording again: one more 500500 on top. */
    CHECK_OK(nb_cmd_resubmit(c));
    CHECK_OK(nb_buffer_download(x, 0, h, LEN * 4));
    CHECK(h[0] == 0.0f + want && h[LEN - 1] == want, "resubmit refills then adds: %g", (double)h[0]);

    /* 3. Independent ops need no barrier: 100 dispatches on 100 buffers. */
    CHECK_OK(nb_cmd_reset(c));
    nb_buffer *many[100];
    for (int i = 0; i < 100; i++)
        REQUIRE_OK(nb_buffer_create(ctx, 256, NB_MEM_DEVICE, &many[i]));
    for (int i = 0; i < 100; i++)
        CHECK_OK(nb_cmd_fill(c, many[i], 0, 256, 0));
    nb_cmd_stats_get(c, &st);
    CHECK(!vk || st.barriers == 0, "100 independent fills: %u barriers", st.barriers);
    uint32_t g1[3] = {1, 1, 1};
    for (int i = 0; i < 100; i++) {
        push.n = 64;
        push.v = (float)i;
        CHECK_OK(nb_cmd_dispatch(c, add, g1, &many[i], &push, NULL));
    }
    nb_cmd_stats_get(c, &st);
    CHECK(!vk || st.barriers == 1, "the adds read the fills: exactly one barrier before them, got %u", st.barriers);
    /* Read-after-read: two saxpys reading the same x, writing different y. */
    nb_buffer *b1[2] = {many[0], many[1]}, *b2[2] = {many[0], many[2]};
    push.n = 64;
    push.v = 2.0f;
    CHECK_OK(nb_cmd_dispatch(c, saxpy, g1, b1, &push, NULL));
    nb_cmd_stats_get(c, &st);
    uint32_t before = st.barriers;
    CHECK(!vk || before == 2, "saxpy reads many[0] written by an add: a barrier (%u)", before);
    CHECK_OK(nb_cmd_dispatch(c, saxpy, g1, b2, &push, NULL));
    nb_cmd_stats_get(c, &st);
    CHECK(!vk || st.barriers == before, "read-after-read needs no barrier");
    /* Write-after-read: overwriting x that a saxpy since the barrier read. */
    CHECK_OK(nb_cmd_fill(c, many[0], 0, 256, 0));
    nb_cmd_stats_get(c, &st);
    CHECK(!vk || st.barriers == before + 1, "write-after-read needs a barrier");
    CHECK_OK(nb_cmd_submit(c));
    float v[64];
    CHECK_OK(nb_buffer_download(many[1], 0, v, sizeof v));
    CHECK(v[5] == 2.0f * 0.0f + 1.0f, "many[1] = 2*0 + 1 = 1, got %g", (double)v[5]);
    CHECK_OK(nb_buffer_download(many[2], 0, v, sizeof v));
    CHECK(v[63] == 2.0f, "many[2] = 2*0 + 2 = 2, got %g", (double)v[63]);
    CHECK_OK(nb_buffer_download(many[0], 0, v, sizeof v));
    CHECK(v[0] == 0.0f, "many[0] refilled with 0");

    /* 4. Misuse is refused with a message. */
    CHECK(nb_cmd_dispatch(c, add, groups, &x, &push, NULL) == NB_ERR_INVALID_ARGUMENT, "record after submit");
    CHECK_OK(nb_cmd_reset(c));
    uint32_t zero[3] = {0, 1, 1};
    CHECK(nb_cmd_dispatch(c, add, zero, &x, &push, NULL) == NB_ERR_INVALID_ARGUMENT, "zero groups");
    CHECK(nb_cmd_dispatch(c, add, groups, &x, NULL, NULL) == NB_ERR_INVALID_ARGUMENT, "missing push constants");
    nb_buffer *nul = NULL;
    CHECK(nb_cmd_dispatch(c, add, groups, &nul, &push, NULL) == NB_ERR_INVALID_ARGUMENT, "NULL buffer");
    CHECK(nb_cmd_copy(c, x, 0, x, 8, 16) == NB_ERR_INVALID_ARGUMENT, "overlapping copy");
    CHECK(nb_cmd_fill(c, x, 2, 8, 0) == NB_ERR_INVALID_ARGUMENT, "unaligned fill");
    nb_cmd_destroy(c);

    for (int i = 0; i < 100; i++)
        nb_buffer_destroy(many[i]);
    nb_buffer_destroy(x);
    free(h);
    nb_kernel_destroy(add);
    nb_kernel_destroy(saxpy);

    /* 5. A storage binding is at most the device's range and 4 GiB (Vulkan's;
     * the CPU backend binds no buffers). */
    CHECK(!vk || nb_context_device(ctx)->max_storage_buffer_range <= NB_MAX_BINDING_BYTES,
          "a context's storage range %llu is over 4 GiB", (unsigned long long)nb_context_device(ctx)->max_storage_buffer_range);
    if (vk)
        storage_range_limit();
    return nbt_finish(ctx);
}
