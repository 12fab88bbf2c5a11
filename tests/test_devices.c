/* Devices: listing, the facts reported, the default choice, and choice by
 * NOBLE_DEVICE (index or name substring), including one that matches none. */
#include "nb_test.h"

int main(void)
{
    nb_device_info d[16];
    uint32_t n = 0, total = 0;
    REQUIRE_OK(nb_devices_list(d, 16, &n, &total));
    CHECK(n >= 1 && n == total, "%u device(s) listed of %u", n, total);
    int found_lvp = -1;
    for (uint32_t i = 0; i < n; i++) {
        printf("%u: %s (%s) vendor %s driver %s %s api %s\n", i, d[i].name, nb_device_type_name(d[i].type),
               d[i].vendor, d[i].driver_name, d[i].driver_info, d[i].api_version_str);
        CHECK(d[i].index == i, "index");
        CHECK(d[i].name[0] != 0, "name");
        CHECK(d[i].api_version >= (1u << 22 | 1u << 12), "API >= 1.1");
        CHECK(d[i].max_workgroup_invocations >= 128, "workgroup invocations %u", d[i].max_workgroup_invocations);
        CHECK(d[i].max_storage_buffer_range >= (1u << 27), "storage range %llu",
              (unsigned long long)d[i].max_storage_buffer_range);
        CHECK(d[i].subgroup_size >= 1, "subgroup size");
        CHECK(d[i].device_local_bytes > 0, "device-local memory");
        if (strstr(d[i].name, "llvmpipe"))
            found_lvp = (int)i;
    }
    /* The harness points the loader at lavapipe: a CPU device, unified memory. */
    CHECK(found_lvp >= 0, "lavapipe is listed");
    if (found_lvp >= 0) {
        nb_device_info *l = &d[found_lvp];
        CHECK(l->type == NB_DEVICE_CPU, "lavapipe is a CPU device");
        CHECK(l->unified_memory, "lavapipe memory is unified");
        CHECK(l->vendor_id == 0x10005, "Mesa vendor id");
        CHECK(strstr(l->driver_info, "Mesa") != NULL, "driver info: %s", l->driver_info);
        CHECK(l->timestamps, "lavapipe has timestamp queries");
    }

    /* Default choice. */
    unsetenv("NOBLE_DEVICE");
    uint32_t pick = 99;
    REQUIRE_OK(nb_device_choose(&pick));
    CHECK(pick < n, "default pick %u", pick);
    for (uint32_t i = 0; i < n; i++) /* nothing of a better type was passed over */
        if (d[i].usable)
            CHECK(d[i].type == NB_DEVICE_OTHER || d[pick].type == NB_DEVICE_DISCRETE ||
                      !(d[i].type == NB_DEVICE_DISCRETE) || i == pick,
                  "a discrete GPU was passed over");

    /* By index and by name substring, case-insensitive. */
    setenv("NOBLE_DEVICE", "0", 1);
    REQUIRE_OK(nb_device_choose(&pick));
    CHECK(pick == 0, "NOBLE_DEVICE=0 gives 0");
    if (found_lvp >= 0) {
        setenv("NOBLE_DEVICE", "LLVMPIPE", 1);
        REQUIRE_OK(nb_device_choose(&pick));
        CHECK(pick == (uint32_t)found_lvp, "NOBLE_DEVICE=LLVMPIPE");
        nb_context *ctx = nbt_context();
        CHECK(strstr(nb_context_device(ctx)->name, "llvmpipe") != NULL, "context on the chosen device");
        /* Listing devices makes another instance while this one lives;
         * destroying this context afterwards must still find its own
         * validation messenger (volk's pointers follow the last instance). */
        uint32_t again = 0;
        REQUIRE_OK(nb_devices_list(d, 16, &again, NULL));
        nbt_finish(ctx);
    }

    /* A device that is not there: a clear error naming what exists. */
    setenv("NOBLE_DEVICE", "no-such-gpu-xyz", 1);
    nb_status s = nb_device_choose(&pick);
    CHECK(s == NB_ERR_NO_DEVICE, "missing device: %s", nb_status_name(s));
    CHECK(strstr(nb_last_error(), "no-such-gpu-xyz") && strstr(nb_last_error(), d[0].name), "message: %s",
          nb_last_error());
    printf("missing device: %s\n", nb_last_error());
    nb_context *ctx = NULL;
    s = nb_context_create(NULL, &ctx);
    CHECK(s == NB_ERR_NO_DEVICE && ctx == NULL, "context on a missing device: %s", nb_status_name(s));
    setenv("NOBLE_DEVICE", "57", 1);
    CHECK(nb_device_choose(&pick) == NB_ERR_NO_DEVICE, "index out of range");
    unsetenv("NOBLE_DEVICE");

    /* By default, where the only Vulkan device is a CPU device (lavapipe),
     * noble takes its native CPU backend; NOBLE_DEVICE naming it takes it. */
    const char *be = getenv("NOBLE_BACKEND");
    char *saved_be = be ? strdup(be) : NULL;
    unsetenv("NOBLE_BACKEND");
    int all_cpu = 1;
    for (uint32_t i = 0; i < n; i++)
        all_cpu &= d[i].type == NB_DEVICE_CPU;
    REQUIRE_OK(nb_context_create(NULL, &ctx));
    CHECK((nb_context_backend(ctx) == NB_BACKEND_CPU) == all_cpu, "default backend %s with %s",
          nb_backend_name(nb_context_backend(ctx)), all_cpu ? "only CPU devices" : "a GPU");
    printf("default backend: %s (%s)\n", nb_backend_name(nb_context_backend(ctx)), nb_context_device(ctx)->name);
    nb_context_destroy(ctx);
    ctx = NULL;
    if (n) {
        setenv("NOBLE_DEVICE", d[0].name, 1);
        REQUIRE_OK(nb_context_create(NULL, &ctx));
        CHECK(nb_context_backend(ctx) == NB_BACKEND_VULKAN, "NOBLE_DEVICE names a Vulkan device: Vulkan");
        nb_context_destroy(ctx);
        ctx = NULL;
        unsetenv("NOBLE_DEVICE");
    }

    /* No driver at all: the loader finds no device. Asked for Vulkan, that is
     * an error; by default the context is the CPU backend. */
    setenv("VK_ICD_FILENAMES", "/nonexistent/icd.json", 1);
    setenv("VK_DRIVER_FILES", "/nonexistent/icd.json", 1);
    nb_context_options o;
    nb_context_options_default(&o);
    o.backend = NB_BACKEND_VULKAN;
    s = nb_context_create(&o, &ctx);
    CHECK(s == NB_ERR_NO_DEVICE || s == NB_ERR_VULKAN, "no driver: %s (%s)", nb_status_name(s), nb_last_error());
    CHECK(ctx == NULL, "no Vulkan context without a device");
    printf("no driver, Vulkan asked for: %s\n", nb_last_error());
    s = nb_context_create(NULL, &ctx);
    CHECK(s == NB_OK && ctx && nb_context_backend(ctx) == NB_BACKEND_CPU,
          "no driver, by default: the CPU backend (%s)", nb_last_error());
    if (ctx)
        printf("no driver, by default: %s\n", nb_context_device(ctx)->name);
    nb_context_destroy(ctx);
    ctx = NULL;
    setenv("NOBLE_BACKEND", "metal", 1);
    s = nb_context_create(NULL, &ctx);
    CHECK(s == NB_ERR_INVALID_ARGUMENT && !ctx && strstr(nb_last_error(), "NOBLE_BACKEND='metal'"),
          "an unknown backend is refused by name: %s", nb_last_error());
    unsetenv("NOBLE_BACKEND");
    if (saved_be)
        setenv("NOBLE_BACKEND", saved_be, 1);
    free(saved_be);

    if (nbt_failures)
        fprintf(stderr, "%d check(s) failed\n", nbt_failures);
    return nbt_failures ? 1 : 0;
}
