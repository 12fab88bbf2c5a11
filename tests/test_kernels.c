/* Kernels compiled from GLSL at run time: saxpy and a reduction against a
 * double-precision CPU reference, texel bindings, defines and specialisation constants, the
 * SPIR-V disk cache, and compile errors that name kernel and line. */
#include "nb_test.h"

#include <time.h>
#include <unistd.h>

static nb_kernel *saxpy_kernel(nb_context *ctx, uint32_t wg)
{
    nb_kernel_desc d = {.name = "saxpy", .n_bindings = 2, .access = {NB_READ, NB_READ_WRITE}, .push_bytes = 8,
                        .n_spec = 1, .spec_id = {0}, .spec_value = {wg}};
    nb_kernel *k = NULL;
    REQUIRE_OK(nb_kernel_create(ctx, &d, &k));
    return k;
}

static void test_saxpy(nb_context *ctx, uint32_t n, uint32_t wg)
{
    nb_kernel *k = saxpy_kernel(ctx, wg);
    float *x = malloc(n * sizeof *x), *y = malloc(n * sizeof *y), *out = malloc(n * sizeof *out);
    uint64_t seed = n;
    for (uint32_t i = 0; i < n; i++) {
        x[i] = (float)nbt_rand(&seed);
        y[i] = (float)nbt_rand(&seed) * 100.0f;
    }
    nb_buffer *bx, *by;
    REQUIRE_OK(nb_buffer_create(ctx, n * 4ull, NB_MEM_DEVICE, &bx));
    REQUIRE_OK(nb_buffer_create(ctx, n * 4ull + 64, NB_MEM_DEVICE, &by)); /* a tail that must stay untouched */
    float sentinel[16];
    for (int i = 0; i < 16; i++)
        sentinel[i] = 1234.5f;
    CHECK_OK(nb_buffer_upload(bx, 0, x, n * 4ull));
    CHECK_OK(nb_buffer_upload(by, 0, y, n * 4ull));
    CHECK_OK(nb_buffer_upload(by, n * 4ull, sentinel, 64));
    struct {
        uint32_t n;
        float a;
    } push = {n, -2.5f};
    nb_cmd *c;
    REQUIRE_OK(nb_cmd_begin(ctx, 0, &c));
    nb_buffer *bufs[2] = {bx, by};
    uint32_t groups[3] = {(n + wg - 1) / wg, 1, 1};
    CHECK_OK(nb_cmd_dispatch(c, k, groups, bufs, &push, NULL));
    CHECK_OK(nb_cmd_submit(c));
    nb_cmd_destroy(c);
    CHECK_OK(nb_buffer_download(by, 0, out, n * 4ull));
    double maxrel = 0;
    for (uint32_t i = 0; i < n; i++) {
        double ref = -2.5 * (double)x[i] + (double)y[i];
        double scale = fabs(2.5 * (double)x[i]) + fabs((double)y[i]) + 1e-30;
        double e = fabs((double)out[i] - ref) / scale;
        if (e > maxrel)
            maxrel = e;
    }
    /* fma() may be a multiply and an add on some drivers (lavapipe): two
     * roundings, each at most 2^-24 of |a x| + |y|. */
    CHECK(maxrel <= 1.2e-7, "saxpy n=%u wg=%u: max relative error %.3g", n, wg, maxrel);
    float tail[16];
    CHECK_OK(nb_buffer_download(by, n * 4ull, tail, 64));
    CHECK(memcmp(tail, sentinel, 64) == 0, "saxpy wrote past n");
    nb_buffer_destroy(bx);
    nb_buffer_destroy(by);
    nb_kernel_destroy(k);
    free(x);
    free(y);
    free(out);
}

/* wg: the workgroup size (the WG define: shared memory of wg floats, a tree of log2 wg steps) */
static void test_reduction(nb_context *ctx, uint32_t n, uint32_t wg)
{
    char wgdef[16];
    snprintf(wgdef, sizeof wgdef, "WG=%u", wg);
    nb_kernel_desc d = {.name = "reduce_sum", .defines = {wgdef}, .n_bindings = 2,
                        .access = {NB_READ, NB_WRITE}, .push_bytes = 8};
    nb_kernel *k;
    REQUIRE_OK(nb_kernel_create(ctx, &d, &k));
    float *x = malloc(n * sizeof *x);
    uint64_t seed = 42 + n;
    double ref = 0;
    for (uint32_t i = 0; i < n; i++) {
        x[i] = (float)(nbt_rand(&seed) + 0.25);
        ref += x[i];
    }
    const uint32_t per = 16384, groups1 = (n + per - 1) / per;
    nb_buffer *bx, *bp, *bt;
    REQUIRE_OK(nb_buffer_create(ctx, n * 4ull, NB_MEM_DEVICE, &bx));
    REQUIRE_OK(nb_buffer_create(ctx, groups1 * 4ull, NB_MEM_DEVICE, &bp));
    REQUIRE_OK(nb_buffer_create(ctx, 4, NB_MEM_DEVICE, &bt));
    CHECK_OK(nb_buffer_upload(bx, 0, x, n * 4ull));
    nb_cmd *c;
    REQUIRE_OK(nb_cmd_begin(ctx, 0, &c));
    struct {
        uint32_t n, per;
    } p1 = {n, per}, p2 = {groups1, groups1};
    nb_buffer *b1[2] = {bx, bp}, *b2[2] = {bp, bt};
    uint32_t g1[3] = {groups1, 1, 1};
    CHECK_OK(nb_cmd_dispatch(c, k, g1, b1, &p1, "reduce pass 1"));
    CHECK_OK(nb_cmd_dispatch(c, k, nbt_one, b2, &p2, "reduce pass 2"));
    nb_cmd_stats st;
    nb_cmd_stats_get(c, &st);
    CHECK(nb_context_backend(ctx) != NB_BACKEND_VULKAN || st.barriers == 1, "the second pass reads what the first wrote: 1 barrier, got %u", st.barriers);
    CHECK_OK(nb_cmd_submit(c));
    nb_cmd_destroy(c);
    float got = 0;
    CHECK_OK(nb_buffer_download(bt, 0, &got, 4));
    double rel = fabs((double)got - ref) / fabs(ref);
    /* Compensated per-thread sums and a tree: error near fp32 rounding of the result. */
    CHECK(rel < 2e-6, "sum of %u: got %.9g, want %.9g (rel %.3g)", n, (double)got, ref, rel);
    printf("reduce_sum n=%u, WG %u: relative error %.3g\n", n, wg, rel);
    nb_buffer_destroy(bx);
    nb_buffer_destroy(bp);
    nb_buffer_destroy(bt);
    nb_kernel_destroy(k);
    free(x);
}

static const char *BAD_SRC = "#version 450\n"
                             "layout(local_size_x = 64) in;\n"
                             "layout(std430, binding = 0) buffer B { float b[]; };\n"
                             "void main()\n"
                             "{\n"
                             "    b[gl_GlobalInvocationID.x] = undeclared_thing * 2.0;\n"
                             "}\n";

static void test_errors(nb_context *ctx)
{
    nb_kernel *k = NULL;
    nb_kernel_desc d = {.name = "broken_kernel", .source = BAD_SRC, .n_bindings = 1, .access = {NB_READ_WRITE}};
    nb_status s = nb_kernel_create(ctx, &d, &k);
    CHECK(s == NB_ERR_COMPILE, "a bad shader gives a compile error, got %s", nb_status_name(s));
    CHECK(k == NULL, "no kernel on failure");
    const char *m = nb_last_error();
    printf("compile error message:\n%s\n", m);
    CHECK(strstr(m, "broken_kernel") != NULL, "message names the kernel: %s", m);
    CHECK(strstr(m, "line 6") != NULL, "message names line 6: %s", m);
    CHECK(strstr(m, "undeclared_thing") != NULL, "message names the identifier: %s", m);

    /* Defines are injected after #version, and lines still count from the file. */
    const char *def_src = "#version 450\n"
                          "layout(local_size_x = 1) in;\n"
                          "layout(std430, binding = 0) buffer B { float b[]; };\n"
                          "void main() { b[0] = VALUE; }\n"
                          "#if BREAK\n"
                          "syntax error here\n"
                          "#endif\n";
    nb_kernel_desc d2 = {.name = "define_kernel", .source = def_src, .defines = {"VALUE=3.0", "BREAK=1"},
                         .n_bindings = 1, .access = {NB_WRITE}};
    s = nb_kernel_create(ctx, &d2, &k);
    CHECK(s == NB_ERR_COMPILE && strstr(nb_last_error(), "line 6") != NULL, "define error line: %s",
          nb_last_error());
    d2.defines[1] = "BREAK=0";
    CHECK_OK(nb_kernel_create(ctx, &d2, &k));
    if (k) {
        nb_buffer *b;
        REQUIRE_OK(nb_buffer_create(ctx, 4, NB_MEM_DEVICE, &b));
        nb_cmd *c;
        REQUIRE_OK(nb_cmd_begin(ctx, 0, &c));
        CHECK_OK(nb_cmd_dispatch(c, k, nbt_one, &b, NULL, NULL));
        CHECK_OK(nb_cmd_submit(c));
        nb_cmd_destroy(c);
        float v = 0;
        CHECK_OK(nb_buffer_download(b, 0, &v, 4));
        CHECK(v == 3.0f, "define VALUE=3.0 gave %g", (double)v);
        nb_buffer_destroy(b);
        nb_kernel_destroy(k);
    }

    d.name = "no_such_shader";
    d.source = NULL;
    s = nb_kernel_create(ctx, &d, &k);
    CHECK(s == NB_ERR_INVALID_ARGUMENT && strstr(nb_last_error(), "no_such_shader"), "unknown shader: %s",
          nb_last_error());
    nb_kernel_desc d3 = {.name = "saxpy", .n_bindings = 2, .access = {NB_READ, NB_READ_WRITE}, .push_bytes = 6};
    s = nb_kernel_create(ctx, &d3, &k);
    CHECK(s == NB_ERR_INVALID_ARGUMENT, "push size not a multiple of 4: %s", nb_status_name(s));
}

/* NB_TEXEL: a buffer read as vec4 texels, right after a dispatch that wrote
 * it (the read must wait for the write); a buffer whose size is not a whole
 * number of texels still reads its last floats. */
static void test_texel(nb_context *ctx)
{
    const char *src = "#version 450\n"
                      "layout(local_size_x = 64) in;\n"
                      "layout(binding = 0) uniform samplerBuffer t;\n"
                      "layout(std430, binding = 1) writeonly buffer O { vec4 o[]; };\n"
                      "layout(push_constant) uniform P { uint n; } p;\n"
                      "void main() { uint i = gl_GlobalInvocationID.x;\n"
                      "  if (i < p.n) o[i] = texelFetch(t, int(i)) * 2.0 + vec4(0, 1, 2, 3); }\n";
    nb_kernel_desc d = {.name = "texel_probe", .source = src, .n_bindings = 2, .access = {NB_TEXEL, NB_WRITE},
                        .push_bytes = 4};
    nb_kernel *k = NULL, *ks = saxpy_kernel(ctx, 64);
    REQUIRE_OK(nb_kernel_create(ctx, &d, &k));
    const uint32_t n = 1000; /* vec4 */
    float *x = malloc(n * 16), *y = malloc(n * 16), *out = malloc(n * 16);
    uint64_t seed = 99;
    for (uint32_t i = 0; i < 4 * n; i++) {
        x[i] = (float)nbt_rand(&seed);
        y[i] = (float)nbt_rand(&seed);
    }
    nb_buffer *bx, *by, *bo, *tiny;
    REQUIRE_OK(nb_buffer_create(ctx, n * 16ull, NB_MEM_DEVICE, &bx));
    REQUIRE_OK(nb_buffer_create(ctx, n * 16ull + 8, NB_MEM_DEVICE, &by)); /* a partial texel past what is read */
    REQUIRE_OK(nb_buffer_create(ctx, n * 16ull, NB_MEM_DEVICE, &bo));
    REQUIRE_OK(nb_buffer_create(ctx, 8, NB_MEM_DEVICE, &tiny));
    CHECK_OK(nb_buffer_upload(bx, 0, x, n * 16ull));
    CHECK_OK(nb_buffer_upload(by, 0, y, n * 16ull));
    struct {
        uint32_t n;
        float a;
    } sp = {4 * n, 3.0f};
    nb_cmd *c;
    REQUIRE_OK(nb_cmd_begin(ctx, 0, &c));
    nb_buffer *sb[2] = {bx, by}, *tb[2] = {by, bo};
    uint32_t gs[3] = {(4 * n + 63) / 64, 1, 1}, gt[3] = {(n + 63) / 64, 1, 1};
    CHECK_OK(nb_cmd_dispatch(c, ks, gs, sb, &sp, NULL)); /* y = 3 x + y */
    CHECK_OK(nb_cmd_dispatch(c, k, gt, tb, &n, NULL));    /* o = 2 y + (0, 1, 2, 3) */
    nb_cmd_stats st;
    nb_cmd_stats_get(c, &st);
    CHECK(st.barriers == 1, "the texel read of what saxpy wrote: 1 barrier, got %u", st.barriers);
    CHECK_OK(nb_cmd_submit(c));
    nb_cmd_destroy(c);
    CHECK_OK(nb_buffer_download(bo, 0, out, n * 16ull));
    double maxrel = 0;
    for (uint32_t i = 0; i < 4 * n; i++) {
        double ref = 2.0 * (3.0 * (double)x[i] + (double)y[i]) + (double)(i % 4);
        double e = fabs((double)out[i] - ref) / (6.0 * fabs((double)x[i]) + 2.0 * fabs((double)y[i]) + 4.0);
        if (e > maxrel)
            maxrel = e;
    }
    CHECK(maxrel <= 2.4e-7, "texel reads after a write: max relative error %.3g", maxrel);

    const float two[2] = {1.5f, -2.5f};
    const uint32_t one = 1;
    CHECK_OK(nb_buffer_upload(tiny, 0, two, 8));
    REQUIRE_OK(nb_cmd_begin(ctx, 0, &c));
    nb_buffer *small[2] = {tiny, bo};
    CHECK_OK(nb_cmd_dispatch(c, k, nbt_one, small, &one, NULL));
    CHECK_OK(nb_cmd_submit(c));
    nb_cmd_destroy(c);
    CHECK_OK(nb_buffer_download(bo, 0, out, 8));
    CHECK(out[0] == 3.0f && out[1] == -4.0f, "an 8-byte buffer read as a texel: %g %g (want 3 -4)",
          (double)out[0], (double)out[1]);
    nb_buffer *all[] = {bx, by, bo, tiny};
    for (int i = 0; i < 4; i++)
        nb_buffer_destroy(all[i]);
    nb_kernel_destroy(k);
    nb_kernel_destroy(ks);
    free(x);
    free(y);
    free(out);
}

static void test_cache(nb_context *ctx)
{
    /* A source no other test uses, made unique per run, so the first
     * compile must be a miss; the second, from a new context, a hit. */
    char src[512];
    snprintf(src, sizeof src,
             "#version 450\n// unique %p %ld\nlayout(local_size_x = 1) in;\n"
             "layout(std430, binding = 0) buffer B { float b[]; };\nvoid main() { b[0] = 7.0; }\n",
             (void *)&src, (long)nb_last_error());
    char uniq[64];
    snprintf(uniq, sizeof uniq, "cache_probe_%d", rand());
    nb_kernel_desc d = {.name = "cache_probe", .source = src, .defines = {uniq}, .n_bindings = 1,
                        .access = {NB_WRITE}};
    nb_kernel_stats s0, s1;
    nb_kernel_stats_get(ctx, &s0);
    nb_kernel *k;
    REQUIRE_OK(nb_kernel_create(ctx, &d, &k));
    CHECK(!nb_kernel_from_cache(k), "first compile of a new source cannot be a cache hit");
    nb_kernel_destroy(k);
    nb_kernel_stats_get(ctx, &s1);
    CHECK(s1.compiled == s0.compiled + 1, "compiled count");

    nb_context *ctx2 = nbt_context();
    REQUIRE_OK(nb_kernel_create(ctx2, &d, &k));
    CHECK(nb_kernel_from_cache(k), "the second compile is a disk cache hit");
    nb_kernel_stats st2;
    nb_kernel_stats_get(ctx2, &st2);
    CHECK(st2.cache_hits == 1 && st2.compiled == 0, "ctx2: %u hits, %u compiles", st2.cache_hits, st2.compiled);
    nb_kernel_destroy(k);
    /* A different define is a different program: a miss again. */
    d.defines[1] = "OTHER=1";
    REQUIRE_OK(nb_kernel_create(ctx2, &d, &k));
    CHECK(!nb_kernel_from_cache(k), "a changed define must not hit the cache");
    nb_kernel_destroy(k);
    CHECK(nb_validation_count(ctx2) == 0, "validation messages in the second context");
    nb_context_destroy(ctx2);
}

/* No kernel assumes a subgroup size: none uses subgroup operations (the
 * GL_KHR_shader_subgroup extensions or gl_Subgroup* built-ins), so a device's
 * subgroup size (8 on lavapipe, 32 on NVIDIA, 32 or 64 on AMD, 8 to 32 on
 * Intel) changes no result. Forcing a size needs subgroup size control with
 * a range; where the device's range is one size (lavapipe: 8 to 8) it
 * cannot be forced, and the test says so. */
static void subgroups(nb_context *ctx)
{
    for (uint32_t i = 0; i < nb_shader_count(); i++) {
        const char *src = nb_shader_source(nb_shader_name(i));
        CHECK(src && !strstr(src, "GL_KHR_shader_subgroup") && !strstr(src, "gl_Subgroup") &&
                  !strstr(src, "subgroup"),
              "kernel '%s' uses subgroup operations: test it at subgroup sizes 8, 16, 32 and 64",
              nb_shader_name(i));
    }
    const nb_device_info *d = nb_context_device(ctx);
    if (nb_context_backend(ctx) != NB_BACKEND_VULKAN)
        printf("subgroups: the CPU backend has none; no kernel uses subgroup operations\n");
    else if (d->subgroup_min_size && d->subgroup_min_size < d->subgroup_max_size)
        printf("subgroups: size %u, %u to %u with subgroup size control; no kernel uses subgroup operations\n",
               d->subgroup_size, d->subgroup_min_size, d->subgroup_max_size);
    else
        printf("subgroups: size %u, which cannot be forced to 16, 32 or 64 on this device (range %u to %u); no "
               "kernel uses subgroup operations, so none depends on it\n",
               d->subgroup_size, d->subgroup_min_size, d->subgroup_max_size);
}

int main(void)
{
    srand((unsigned)time(NULL) ^ (unsigned)getpid());
    nb_context *ctx = nbt_context();
#ifdef NOBLE_HAVE_VULKAN
    CHECK(nb_shader_count() >= 5, "embedded shaders: %u", nb_shader_count());
    CHECK(nb_shader_source("saxpy") != NULL, "saxpy is embedded");
#else /* NOBLE_VULKAN=OFF: no GLSL is embedded */
    CHECK(nb_shader_count() == 0 && nb_shader_source("saxpy") == NULL, "no shaders without Vulkan");
#endif
    test_saxpy(ctx, 1, 64);
    test_saxpy(ctx, 1000, 64);
    test_saxpy(ctx, 1u << 20, 256);
    test_saxpy(ctx, 12345, 32); /* the spec constant changes the workgroup size */
    test_reduction(ctx, 1, 128);
    test_reduction(ctx, 100000, 128);
    test_reduction(ctx, 10000000, 128);
    /* the workgroup sizes of Intel (8 to 32), NVIDIA (32) and AMD (64, 32), and larger */
    static const uint32_t wgs[] = {8, 16, 32, 64, 256, 1024};
    for (size_t i = 0; i < sizeof wgs / sizeof *wgs; i++)
        if (nb_context_backend(ctx) != NB_BACKEND_VULKAN || wgs[i] <= nb_context_device(ctx)->max_workgroup_invocations)
            test_reduction(ctx, 100003, wgs[i]);
    subgroups(ctx);
    if (nb_context_backend(ctx) == NB_BACKEND_VULKAN) { /* GLSL, texel views and the SPIR-V cache */
        test_errors(ctx);
        test_texel(ctx);
        test_cache(ctx);
    } else {
        nb_kernel *k = NULL;
        nb_kernel_desc d = {.name = "no_such_kernel", .n_bindings = 1, .access = {NB_READ}};
        CHECK(nb_kernel_create(ctx, &d, &k) == NB_ERR_UNSUPPORTED && !k && strstr(nb_last_error(), "no_such_kernel"),
              "an unregistered kernel is refused by name: %s", nb_last_error());
        d.name = "saxpy";
        d.source = "#version 450\nvoid main() {}\n";
        CHECK(nb_kernel_create(ctx, &d, &k) == NB_ERR_UNSUPPORTED && !k, "GLSL text is refused on the CPU backend");
    }
    return nbt_finish(ctx);
}
