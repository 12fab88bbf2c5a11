/* context.c - Vulkan loading, instance, device enumeration, choice and creation. */
#include "nb_internal.h"

#include <ctype.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static const char *VALIDATION_LAYER = "VK_LAYER_KHRONOS_validation";

/* ------------------------------------------------------------------ loader */

static pthread_once_t g_volk_once = PTHREAD_ONCE_INIT;
static VkResult g_volk_result = VK_ERROR_INITIALIZATION_FAILED;

static void volk_init_once(void) { g_volk_result = volkInitialize(); }

static nb_status load_vulkan(void)
{
    pthread_once(&g_volk_once, volk_init_once);
    if (g_volk_result != VK_SUCCESS)
        return nb__fail(NB_ERR_NO_DEVICE,
                        "the Vulkan loader (libvulkan.so.1) could not be loaded: "
                        "install libvulkan1 and a driver (mesa-vulkan-drivers for the CPU)");
    return NB_OK;
}

const char *nb__vk_result_name(VkResult r)
{
    switch (r) {
    case VK_SUCCESS: return "VK_SUCCESS";
    case VK_NOT_READY: return "VK_NOT_READY";
    case VK_TIMEOUT: return "VK_TIMEOUT";
    case VK_INCOMPLETE: return "VK_INCOMPLETE";
    case VK_ERROR_OUT_OF_HOST_MEMORY: return "VK_ERROR_OUT_OF_HOST_MEMORY";
    case VK_ERROR_OUT_OF_DEVICE_MEMORY: return "VK_ERROR_OUT_OF_DEVICE_MEMORY";
    case VK_ERROR_INITIALIZATION_FAILED: return "VK_ERROR_INITIALIZATION_FAILED";
    case VK_ERROR_DEVICE_LOST: return "VK_ERROR_DEVICE_LOST";
    case VK_ERROR_MEMORY_MAP_FAILED: return "VK_ERROR_MEMORY_MAP_FAILED";
    case VK_ERROR_LAYER_NOT_PRESENT: return "VK_ERROR_LAYER_NOT_PRESENT";
    case VK_ERROR_EXTENSION_NOT_PRESENT: return "VK_ERROR_EXTENSION_NOT_PRESENT";
    case VK_ERROR_FEATURE_NOT_PRESENT: return "VK_ERROR_FEATURE_NOT_PRESENT";
    case VK_ERROR_INCOMPATIBLE_DRIVER: return "VK_ERROR_INCOMPATIBLE_DRIVER";
    case VK_ERROR_TOO_MANY_OBJECTS: return "VK_ERROR_TOO_MANY_OBJECTS";
    case VK_ERROR_FORMAT_NOT_SUPPORTED: return "VK_ERROR_FORMAT_NOT_SUPPORTED";
    case VK_ERROR_FRAGMENTED_POOL: return "VK_ERROR_FRAGMENTED_POOL";
    case VK_ERROR_OUT_OF_POOL_MEMORY: return "VK_ERROR_OUT_OF_POOL_MEMORY";
    case VK_ERROR_INVALID_SHADER_NV: return "VK_ERROR_INVALID_SHADER_NV";
    default: return "VkResult (unknown)";
    }
}

nb_status nb__vkfail(VkResult r, const char *what)
{
    nb_status s = NB_ERR_VULKAN;
    if (r == VK_ERROR_OUT_OF_DEVICE_MEMORY || r == VK_ERROR_OUT_OF_HOST_MEMORY)
        s = NB_ERR_OUT_OF_MEMORY;
    else if (r == VK_ERROR_DEVICE_LOST)
        s = NB_ERR_DEVICE_LOST;
    return nb__fail(s, "%s failed: %s (%d)", what, nb__vk_result_name(r), (int)r);
}

static int has_layer(const char *name)
{
    uint32_t n = 0;
    if (vkEnumerateInstanceLayerProperties(&n, NULL) != VK_SUCCESS || n == 0)
        return 0;
    VkLayerProperties *p = calloc(n, sizeof *p);
    if (!p)
        return 0;
    int found = 0;
    if (vkEnumerateInstanceLayerProperties(&n, p) == VK_SUCCESS)
        for (uint32_t i = 0; i < n; i++)
            if (strcmp(p[i].layerName, name) == 0)
                found = 1;
    free(p);
    return found;
}

/* An instance extension of the loader (layer NULL) or of a layer. */
static int has_ext_of(const char *layer, const char *name)
{
    uint32_t n = 0;
    if (vkEnumerateInstanceExtensionProperties(layer, &n, NULL) != VK_SUCCESS || n == 0)
        return 0;
    VkExtensionProperties *p = calloc(n, sizeof *p);
    if (!p)
        return 0;
    int found = 0;
    if (vkEnumerateInstanceExtensionProperties(layer, &n, p) == VK_SUCCESS)
        for (uint32_t i = 0; i < n; i++)
            if (strcmp(p[i].extensionName, name) == 0)
                found = 1;
    free(p);
    return found;
}

static int has_instance_ext(const char *name) { return has_ext_of(NULL, name); }

static int has_device_ext(VkPhysicalDevice pd, const char *name)
{
    uint32_t n = 0;
    if (vkEnumerateDeviceExtensionProperties(pd, NULL, &n, NULL) != VK_SUCCESS || n == 0)
        return 0;
    VkExtensionProperties *p = calloc(n, sizeof *p);
    if (!p)
        return 0;
    int found = 0;
    if (vkEnumerateDeviceExtensionProperties(pd, NULL, &n, p) == VK_SUCCESS)
        for (uint32_t i = 0; i < n; i++)
            if (strcmp(p[i].extensionName, name) == 0)
                found = 1;
    free(p);
    return found;
}

/* ---------------------------------------------------------------- messages */

static VKAPI_ATTR VkBool32 VKAPI_CALL on_validation(
    VkDebugUtilsMessageSeverityFlagBitsEXT sev, VkDebugUtilsMessageTypeFlagsEXT type,
    const VkDebugUtilsMessengerCallbackDataEXT *data, void *user)
{
    nb_context *ctx = user;
    /* The loader's general chatter is not a validation finding. */
    if ((type & VK_DEBUG_UTILS_MESSAGE_TYPE_GENERAL_BIT_EXT) &&
        !(sev & VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT))
        return VK_FALSE;
    uint32_t i = ctx->validation_count++;
    if (i < NB_MAX_VALIDATION_KEPT && data && data->pMessage) {
        size_t n = strlen(data->pMessage);
        const char *sv = (sev & VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT) ? "error" : "warning";
        char *m = malloc(n + 32);
        if (m) {
            snprintf(m, n + 32, "[%s] %s", sv, data->pMessage);
            ctx->validation_msgs[i] = m;
        }
    }
    return VK_FALSE;
}

/* ---------------------------------------------------------------- instance */

static nb_status make_instance(int validation, nb_context *ctx, VkInstance *out)
{
    uint32_t api = VK_API_VERSION_1_1;
    if (vkEnumerateInstanceVersion) {
        uint32_t v = 0;
        if (vkEnumerateInstanceVersion(&v) == VK_SUCCESS && v >= VK_API_VERSION_1_1)
            api = v >= VK_API_VERSION_1_3 ? VK_API_VERSION_1_3 : v;
    }
    if (api < VK_API_VERSION_1_1)
        return nb__fail(NB_ERR_NO_DEVICE, "the Vulkan loader is older than 1.1");

    VkApplicationInfo app = {.sType = VK_STRUCTURE_TYPE_APPLICATION_INFO,
                             .pApplicationName = "noble",
                             .applicationVersion = VK_MAKE_VERSION(NB_VERSION_MAJOR, NB_VERSION_MINOR, NB_VERSION_PATCH),
                             .pEngineName = "noble",
                             .apiVersion = api};
    const char *exts[4];
    uint32_t next = 0;
    const char *layers[1];
    uint32_t nlayers = 0;
    VkInstanceCreateFlags flags = 0;
    if (has_instance_ext("VK_KHR_portability_enumeration")) {
        exts[next++] = "VK_KHR_portability_enumeration";
        flags |= 0x00000001; /* VK_INSTANCE_CREATE_ENUMERATE_PORTABILITY_BIT_KHR */
    }
    VkDebugUtilsMessengerCreateInfoEXT dbg = {
        .sType = VK_STRUCTURE_TYPE_DEBUG_UTILS_MESSENGER_CREATE_INFO_EXT,
        .messageSeverity = VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT |
                           VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT,
        .messageType = VK_DEBUG_UTILS_MESSAGE_TYPE_GENERAL_BIT_EXT |
                       VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT,
        .pfnUserCallback = on_validation,
        .pUserData = ctx};
    if (validation) {
        if (!has_layer(VALIDATION_LAYER))
            return nb__fail(NB_ERR_UNSUPPORTED,
                            "NOBLE_VALIDATE is set but %s is not installed "
                            "(Debian: apt-get install vulkan-validationlayers)", VALIDATION_LAYER);
        if (!has_instance_ext(VK_EXT_DEBUG_UTILS_EXTENSION_NAME))
            return nb__fail(NB_ERR_UNSUPPORTED, "validation needs %s, which the loader lacks",
                            VK_EXT_DEBUG_UTILS_EXTENSION_NAME);
        layers[nlayers++] = VALIDATION_LAYER;
        exts[next++] = VK_EXT_DEBUG_UTILS_EXTENSION_NAME;
    }
    if (validation > 1) {
        if (!has_ext_of(VALIDATION_LAYER, VK_EXT_VALIDATION_FEATURES_EXTENSION_NAME))
            return nb__fail(NB_ERR_UNSUPPORTED, "NOBLE_VALIDATE=sync needs %s, which %s lacks",
                            VK_EXT_VALIDATION_FEATURES_EXTENSION_NAME, VALIDATION_LAYER);
        exts[next++] = VK_EXT_VALIDATION_FEATURES_EXTENSION_NAME;
    }
    /* Level 2 adds synchronization validation: a missing barrier is a finding. */
    VkValidationFeatureEnableEXT vfe[1] = {VK_VALIDATION_FEATURE_ENABLE_SYNCHRONIZATION_VALIDATION_EXT};
    VkValidationFeaturesEXT vf = {.sType = VK_STRUCTURE_TYPE_VALIDATION_FEATURES_EXT,
                                  .enabledValidationFeatureCount = 1,
                                  .pEnabledValidationFeatures = vfe,
                                  .pNext = &dbg};
    VkInstanceCreateInfo ci = {.sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO,
                               .pNext = validation > 1 ? (const void *)&vf : validation ? (const void *)&dbg : NULL,
                               .flags = flags,
                               .pApplicationInfo = &app,
                               .enabledLayerCount = nlayers,
                               .ppEnabledLayerNames = layers,
                               .enabledExtensionCount = next,
                               .ppEnabledExtensionNames = exts};
    VkResult r = vkCreateInstance(&ci, NULL, out);
    if (r != VK_SUCCESS)
        return nb__vkfail(r, "vkCreateInstance");
    volkLoadInstance(*out); /* device functions too, through the loader: works for any number of devices */
    if (validation && ctx) {
        ctx->destroy_messenger =
            (PFN_vkDestroyDebugUtilsMessengerEXT)vkGetInstanceProcAddr(*out, "vkDestroyDebugUtilsMessengerEXT");
        r = vkCreateDebugUtilsMessengerEXT(*out, &dbg, NULL, &ctx->messenger);
        if (r != VK_SUCCESS) {
            vkDestroyInstance(*out, NULL);
            *out = VK_NULL_HANDLE;
            return nb__vkfail(r, "vkCreateDebugUtilsMessengerEXT");
        }
    }
    return NB_OK;
}

/* ------------------------------------------------------------- device info */

static const char *vendor_name(uint32_t id)
{
    switch (id) {
    case 0x1002: return "AMD";
    case 0x1010: return "ImgTec";
    case 0x10DE: return "NVIDIA";
    case 0x13B5: return "ARM";
    case 0x5143: return "Qualcomm";
    case 0x8086: return "Intel";
    case 0x106B: return "Apple";
    case 0x10005: return "Mesa";
    default: return "unknown";
    }
}

static void driver_version_string(uint32_t vendor, uint32_t v, char *buf, size_t cap)
{
    if (vendor == 0x10DE) /* NVIDIA: 10.8.8.6 bits */
        snprintf(buf, cap, "%u.%u.%u.%u", (v >> 22) & 0x3ff, (v >> 14) & 0xff, (v >> 6) & 0xff, v & 0x3f);
    else if (vendor == 0x8086) /* Intel on Windows: 18.14 bits */
        snprintf(buf, cap, "%u.%u", v >> 14, v & 0x3fff);
    else
        snprintf(buf, cap, "%u.%u.%u", VK_API_VERSION_MAJOR(v), VK_API_VERSION_MINOR(v),
                 VK_API_VERSION_PATCH(v));
}

static nb_device_type map_type(VkPhysicalDeviceType t)
{
    switch (t) {
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: return NB_DEVICE_DISCRETE;
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: return NB_DEVICE_INTEGRATED;
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU: return NB_DEVICE_VIRTUAL;
    case VK_PHYSICAL_DEVICE_TYPE_CPU: return NB_DEVICE_CPU;
    default: return NB_DEVICE_OTHER;
    }
}

static int compute_queue_family(VkPhysicalDevice pd, uint32_t *family, uint32_t *ts_bits)
{
    uint32_t n = 0;
    vkGetPhysicalDeviceQueueFamilyProperties(pd, &n, NULL);
    VkQueueFamilyProperties *q = calloc(n ? n : 1, sizeof *q);
    if (!q)
        return 0;
    vkGetPhysicalDeviceQueueFamilyProperties(pd, &n, q);
    int found = 0;
    /* Prefer a family with compute; among those, one with timestamps. */
    for (int pass = 0; pass < 2 && !found; pass++)
        for (uint32_t i = 0; i < n && !found; i++)
            if ((q[i].queueFlags & VK_QUEUE_COMPUTE_BIT) && (pass == 1 || q[i].timestampValidBits > 0)) {
                *family = i;
                *ts_bits = q[i].timestampValidBits;
                found = 1;
            }
    free(q);
    return found;
}

static void describe(VkPhysicalDevice pd, uint32_t index, nb_device_info *d)
{
    memset(d, 0, sizeof *d);
    d->index = index;
    VkPhysicalDeviceProperties base;
    vkGetPhysicalDeviceProperties(pd, &base);
    uint32_t api = base.apiVersion;

    VkPhysicalDeviceDriverProperties drv = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_DRIVER_PROPERTIES};
    VkPhysicalDeviceSubgroupProperties sg = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_PROPERTIES};
    VkPhysicalDeviceSubgroupSizeControlProperties sgc = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_SIZE_CONTROL_PROPERTIES};
    VkPhysicalDeviceMaintenance3Properties m3 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MAINTENANCE_3_PROPERTIES};
    VkPhysicalDeviceProperties2 p2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2};
    int have_drv = api >= VK_API_VERSION_1_2 || has_device_ext(pd, "VK_KHR_driver_properties");
    int have_sgc = api >= VK_API_VERSION_1_3 || has_device_ext(pd, "VK_EXT_subgroup_size_control");
    void **tail = &p2.pNext;
    if (api >= VK_API_VERSION_1_1) {
        *tail = &sg;
        tail = &sg.pNext;
        *tail = &m3;
        tail = &m3.pNext;
        if (have_drv) {
            *tail = &drv;
            tail = &drv.pNext;
        }
        if (have_sgc) {
            *tail = &sgc;
            tail = &sgc.pNext;
        }
        vkGetPhysicalDeviceProperties2(pd, &p2);
    } else {
        p2.properties = base;
    }
    const VkPhysicalDeviceProperties *p = &p2.properties;
    const VkPhysicalDeviceLimits *L = &p->limits;

    snprintf(d->name, sizeof d->name, "%s", p->deviceName);
    d->type = map_type(p->deviceType);
    d->vendor_id = p->vendorID;
    d->device_id = p->deviceID;
    snprintf(d->vendor, sizeof d->vendor, "%s", vendor_name(p->vendorID));
    d->driver_version = p->driverVersion;
    driver_version_string(p->vendorID, p->driverVersion, d->driver_version_str, sizeof d->driver_version_str);
    d->api_version = api;
    snprintf(d->api_version_str, sizeof d->api_version_str, "%u.%u.%u", VK_API_VERSION_MAJOR(api),
             VK_API_VERSION_MINOR(api), VK_API_VERSION_PATCH(api));
    if (have_drv && api >= VK_API_VERSION_1_1) {
        snprintf(d->driver_name, sizeof d->driver_name, "%s", drv.driverName);
        snprintf(d->driver_info, sizeof d->driver_info, "%s", drv.driverInfo);
        d->driver_id = (uint32_t)drv.driverID;
        snprintf(d->conformance_version, sizeof d->conformance_version, "%u.%u.%u.%u", drv.conformanceVersion.major,
                 drv.conformanceVersion.minor, drv.conformanceVersion.subminor, drv.conformanceVersion.patch);
        /* gallivm's loop limiter (lp_bld_limits.h), one counter per invocation */
        if (drv.driverID == VK_DRIVER_ID_MESA_LLVMPIPE)
            d->max_loop_iterations = 65535;
    }
    if (strncmp(d->name, "llvmpipe", 8) == 0) /* also where driver properties are missing */
        d->max_loop_iterations = 65535;
    memcpy(d->device_uuid, p->pipelineCacheUUID, 16);
    if (api >= VK_API_VERSION_1_1) {
        VkPhysicalDeviceIDProperties idp = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_ID_PROPERTIES};
        VkPhysicalDeviceProperties2 q2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2, .pNext = &idp};
        vkGetPhysicalDeviceProperties2(pd, &q2);
        memcpy(d->device_uuid, idp.deviceUUID, 16);
        d->max_allocation_bytes = m3.maxMemoryAllocationSize;
        d->subgroup_size = sg.subgroupSize;
        d->subgroup_ops = (sg.supportedStages & VK_SHADER_STAGE_COMPUTE_BIT) ? sg.supportedOperations : 0;
        if (have_sgc) {
            d->subgroup_min_size = sgc.minSubgroupSize;
            d->subgroup_max_size = sgc.maxSubgroupSize;
        }
    }
    d->max_storage_buffer_range = L->maxStorageBufferRange;
    d->max_uniform_buffer_range = L->maxUniformBufferRange;
    d->max_texel_buffer_elements = L->maxTexelBufferElements;
    d->max_push_constants_size = L->maxPushConstantsSize;
    d->max_workgroup_invocations = L->maxComputeWorkGroupInvocations;
    for (int i = 0; i < 3; i++) {
        d->max_workgroup_size[i] = L->maxComputeWorkGroupSize[i];
        d->max_workgroup_count[i] = L->maxComputeWorkGroupCount[i];
    }
    d->max_shared_memory_bytes = L->maxComputeSharedMemorySize;
    d->min_storage_buffer_offset_alignment = L->minStorageBufferOffsetAlignment;
    d->timestamp_period_ns = L->timestampPeriod;

    VkPhysicalDeviceMemoryProperties mp;
    vkGetPhysicalDeviceMemoryProperties(pd, &mp);
    int unified = 1, any_local = 0;
    for (uint32_t h = 0; h < mp.memoryHeapCount; h++) {
        if (!(mp.memoryHeaps[h].flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT))
            continue;
        any_local = 1;
        d->device_local_bytes += mp.memoryHeaps[h].size;
        int visible = 0;
        for (uint32_t t = 0; t < mp.memoryTypeCount; t++)
            if (mp.memoryTypes[t].heapIndex == h &&
                (mp.memoryTypes[t].propertyFlags & VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT) &&
                (mp.memoryTypes[t].propertyFlags & VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT))
                visible = 1;
        if (!visible)
            unified = 0;
    }
    /* A small host-visible window into VRAM (BAR) is not unified memory. */
    if (d->type == NB_DEVICE_DISCRETE)
        unified = 0;
    d->unified_memory = any_local && unified;
    if (d->max_allocation_bytes == 0)
        d->max_allocation_bytes = d->device_local_bytes;

    if (api >= VK_API_VERSION_1_1) {
        VkPhysicalDevice16BitStorageFeatures s16 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_16BIT_STORAGE_FEATURES};
        VkPhysicalDeviceShaderFloat16Int8Features f16 = {
            .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_FLOAT16_INT8_FEATURES};
        VkPhysicalDeviceFeatures2 f2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2, .pNext = &s16};
        if (api >= VK_API_VERSION_1_2 || has_device_ext(pd, "VK_KHR_shader_float16_int8"))
            s16.pNext = &f16;
        vkGetPhysicalDeviceFeatures2(pd, &f2);
        d->storage_16bit = s16.storageBuffer16BitAccess != 0;
        d->float16_arithmetic = f16.shaderFloat16 != 0;
        d->float64 = f2.features.shaderFloat64 != 0;
    }
    d->cooperative_matrix = has_device_ext(pd, "VK_KHR_cooperative_matrix") ||
                            has_device_ext(pd, "VK_NV_cooperative_matrix");
    uint32_t fam = 0, ts = 0;
    int has_compute = compute_queue_family(pd, &fam, &ts);
    d->timestamp_valid_bits = has_compute ? ts : 0;
    d->timestamps = has_compute && ts > 0 && L->timestampPeriod > 0 &&
                    (L->timestampComputeAndGraphics || ts > 0);
    d->usable = has_compute && api >= VK_API_VERSION_1_1;
}

static nb_status enumerate(VkInstance inst, VkPhysicalDevice **pds, uint32_t *n)
{
    *pds = NULL;
    *n = 0;
    VkResult r = vkEnumeratePhysicalDevices(inst, n, NULL);
    if (r != VK_SUCCESS)
        return nb__vkfail(r, "vkEnumeratePhysicalDevices");
    if (*n == 0)
        return NB_OK;
    *pds = calloc(*n, sizeof **pds);
    if (!*pds)
        return nb__fail(NB_ERR_OUT_OF_MEMORY, "out of host memory listing devices");
    r = vkEnumeratePhysicalDevices(inst, n, *pds);
    if (r != VK_SUCCESS && r != VK_INCOMPLETE) {
        free(*pds);
        *pds = NULL;
        return nb__vkfail(r, "vkEnumeratePhysicalDevices");
    }
    return NB_OK;
}

static int type_rank(nb_device_type t)
{
    switch (t) {
    case NB_DEVICE_DISCRETE: return 0;
    case NB_DEVICE_INTEGRATED: return 1;
    case NB_DEVICE_VIRTUAL: return 2;
    case NB_DEVICE_CPU: return 3;
    default: return 4;
    }
}

static int contains_nocase(const char *hay, const char *needle)
{
    size_t n = strlen(needle);
    if (n == 0)
        return 0;
    for (; *hay; hay++) {
        size_t i = 0;
        while (i < n && hay[i] && tolower((unsigned char)hay[i]) == tolower((unsigned char)needle[i]))
            i++;
        if (i == n)
            return 1;
    }
    return 0;
}

/* Picks from described devices; reads NOBLE_DEVICE. */
static nb_status choose(const nb_device_info *d, uint32_t n, uint32_t *index)
{
    if (n == 0)
        return nb__fail(NB_ERR_NO_DEVICE,
                        "no Vulkan device found: install a GPU driver, or mesa-vulkan-drivers "
                        "for the CPU device (lavapipe)");
    const char *want = getenv("NOBLE_DEVICE");
    if (want && *want) {
        char *end = NULL;
        unsigned long v = strtoul(want, &end, 10);
        int numeric = end && *end == 0 && isdigit((unsigned char)want[0]);
        char names[1024];
        size_t at = 0;
        names[0] = 0;
        for (uint32_t i = 0; i < n && at < sizeof names; i++)
            at += (size_t)snprintf(names + at, sizeof names - at, "%s%u: %s", i ? "; " : "", i, d[i].name);
        for (uint32_t i = 0; i < n; i++) {
            if ((numeric && v == i) || (!numeric && contains_nocase(d[i].name, want))) {
                if (!d[i].usable)
                    return nb__fail(NB_ERR_NO_DEVICE,
                                    "NOBLE_DEVICE='%s' selects '%s', which lacks Vulkan 1.1 compute", want,
                                    d[i].name);
                *index = i;
                return NB_OK;
            }
        }
        return nb__fail(NB_ERR_NO_DEVICE, "NOBLE_DEVICE='%s' matches none of the %u Vulkan device(s): %s",
                        want, n, names);
    }
    int best = -1;
    for (uint32_t i = 0; i < n; i++)
        if (d[i].usable && (best < 0 || type_rank(d[i].type) < type_rank(d[best].type)))
            best = (int)i;
    if (best < 0)
        return nb__fail(NB_ERR_NO_DEVICE, "none of the %u Vulkan device(s) offers Vulkan 1.1 compute", n);
    *index = (uint32_t)best;
    return NB_OK;
}

nb_status nb_devices_list(nb_device_info *out, uint32_t cap, uint32_t *count, uint32_t *total)
{
    nb_status s = load_vulkan();
    if (s)
        return s;
    VkInstance inst;
    if ((s = make_instance(0, NULL, &inst)))
        return s;
    VkPhysicalDevice *pds;
    uint32_t n;
    if ((s = enumerate(inst, &pds, &n))) {
        vkDestroyInstance(inst, NULL);
        return s;
    }
    uint32_t k = n < cap ? n : cap;
    for (uint32_t i = 0; i < k; i++)
        describe(pds[i], i, &out[i]);
    if (count)
        *count = k;
    if (total)
        *total = n;
    free(pds);
    vkDestroyInstance(inst, NULL);
    return NB_OK;
}

nb_status nb_device_choose(uint32_t *index)
{
    nb_device_info d[16];
    uint32_t n = 0;
    nb_status s = nb_devices_list(d, 16, &n, NULL);
    if (s)
        return s;
    return choose(d, n, index);
}

/* ---------------------------------------------------------------- context */

static int env_validation(void)
{
    const char *v = getenv("NOBLE_VALIDATE");
    return !v || !*v || strcmp(v, "0") == 0 ? 0 : strcmp(v, "sync") == 0 ? 2 : 1;
}

static nb_status make_device(nb_context *ctx)
{
    const nb_device_info *d = &ctx->info;
    uint32_t ts = 0;
    if (!compute_queue_family(ctx->phys, &ctx->queue_family, &ts))
        return nb__fail(NB_ERR_NO_DEVICE, "'%s' has no compute queue", d->name);
    float prio = 1.0f;
    VkDeviceQueueCreateInfo q = {.sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO,
                                 .queueFamilyIndex = ctx->queue_family,
                                 .queueCount = 1,
                                 .pQueuePriorities = &prio};
    VkPhysicalDeviceFeatures2 f2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2};
    VkPhysicalDeviceFeatures2 have = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2};
    vkGetPhysicalDeviceFeatures2(ctx->phys, &have);
    f2.features.shaderFloat64 = have.features.shaderFloat64;
    f2.features.shaderInt64 = have.features.shaderInt64;
    f2.features.shaderInt16 = have.features.shaderInt16;
    VkPhysicalDevice16BitStorageFeatures s16 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_16BIT_STORAGE_FEATURES};
    VkPhysicalDeviceShaderFloat16Int8Features f16 = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_FLOAT16_INT8_FEATURES};
    f2.pNext = &s16;
    s16.storageBuffer16BitAccess = d->storage_16bit;
    const char *exts[2];
    uint32_t next = 0;
    if (d->float16_arithmetic) {
        f16.shaderFloat16 = VK_TRUE;
        s16.pNext = &f16;
        if (d->api_version < VK_API_VERSION_1_2)
            exts[next++] = "VK_KHR_shader_float16_int8";
    }
    if (has_device_ext(ctx->phys, "VK_KHR_portability_subset"))
        exts[next++] = "VK_KHR_portability_subset";
    VkDeviceCreateInfo ci = {.sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO,
                             .pNext = &f2,
                             .queueCreateInfoCount = 1,
                             .pQueueCreateInfos = &q,
                             .enabledExtensionCount = next,
                             .ppEnabledExtensionNames = exts};
    VkResult r = vkCreateDevice(ctx->phys, &ci, NULL, &ctx->device);
    if (r != VK_SUCCESS)
        return nb__vkfail(r, "vkCreateDevice");
    vkGetDeviceQueue(ctx->device, ctx->queue_family, 0, &ctx->queue);
    VkCommandPoolCreateInfo pci = {.sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO,
                                   .flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT,
                                   .queueFamilyIndex = ctx->queue_family};
    if ((r = vkCreateCommandPool(ctx->device, &pci, NULL, &ctx->pool)) != VK_SUCCESS)
        return nb__vkfail(r, "vkCreateCommandPool");
    VkFenceCreateInfo fci = {.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
    if ((r = vkCreateFence(ctx->device, &fci, NULL, &ctx->fence)) != VK_SUCCESS)
        return nb__vkfail(r, "vkCreateFence");
    vkGetPhysicalDeviceMemoryProperties(ctx->phys, &ctx->memprops);
    return NB_OK;
}

/* A Vulkan context for api.c's nb_context_create; *out stays NULL (and the
 * status NB_OK) where AUTO should take the CPU backend instead. */
nb_status nb__vk_context_create(const nb_context_options *opt, nb_backend want, nb_context **out)
{
    nb_status s = load_vulkan();
    if (s)
        return want == NB_BACKEND_AUTO ? NB_OK : s; /* no Vulkan loader: the CPU backend */
    nb_context *ctx = calloc(1, sizeof *ctx);
    if (!ctx)
        return nb__fail(NB_ERR_OUT_OF_MEMORY, "out of host memory creating a context");
    ctx->backend = NB_BACKEND_VULKAN;
    ctx->validation = opt->validation < 0 ? env_validation() : opt->validation;
    if ((s = make_instance(ctx->validation, ctx, &ctx->instance)))
        goto fail;

    VkPhysicalDevice *pds;
    uint32_t n;
    if ((s = enumerate(ctx->instance, &pds, &n)))
        goto fail;
    nb_device_info *infos = calloc(n ? n : 1, sizeof *infos);
    if (!infos) {
        free(pds);
        s = nb__fail(NB_ERR_OUT_OF_MEMORY, "out of host memory listing devices");
        goto fail;
    }
    for (uint32_t i = 0; i < n; i++)
        describe(pds[i], i, &infos[i]);
    uint32_t pick = 0;
    if (opt->device_index >= 0) {
        if ((uint32_t)opt->device_index >= n || !infos[opt->device_index].usable)
            s = nb__fail(NB_ERR_NO_DEVICE, "device index %d does not exist or lacks Vulkan 1.1 compute (%u device(s))",
                         opt->device_index, n);
        else
            pick = (uint32_t)opt->device_index;
    } else {
        s = choose(infos, n, &pick);
    }
    /* AUTO on a machine whose only Vulkan device runs on the CPU (lavapipe):
     * the native CPU backend, the same cores without the shader layer */
    int cpu_only = s == NB_OK && want == NB_BACKEND_AUTO && opt->device_index < 0 && opt->gpu_config != 1 &&
                   !(getenv("NOBLE_DEVICE") && *getenv("NOBLE_DEVICE")) && infos[pick].type == NB_DEVICE_CPU;
    if (s == NB_OK) {
        ctx->phys = pds[pick];
        ctx->info = infos[pick];
    }
    free(infos);
    free(pds);
    if (cpu_only) {
        nb_context_destroy(ctx);
        return NB_OK;
    }
    if (s)
        goto fail;
    if ((s = make_device(ctx)))
        goto fail;
    {
        uint64_t block = opt->block_bytes;
        if (block == 0)
            block = 256ull << 20;
        if (block > ctx->info.max_allocation_bytes)
            block = ctx->info.max_allocation_bytes;
        ctx->mem.block_bytes = block;
        ctx->mem.staging_bytes = opt->staging_bytes ? opt->staging_bytes : 64ull << 20;
    }
    /* The largest storage binding: the device's, 4 GiB, or less where asked. */
    ctx->gpu_config = opt->gpu_config == 1;
    if (ctx->info.max_storage_buffer_range > NB_MAX_BINDING_BYTES)
        ctx->info.max_storage_buffer_range = NB_MAX_BINDING_BYTES;
    if (opt->max_storage_range && opt->max_storage_range < ctx->info.max_storage_buffer_range)
        ctx->info.max_storage_buffer_range = opt->max_storage_range;
    if ((s = nb__memory_init(ctx)))
        goto fail;
    if ((s = nb__choose_fft(ctx, opt->fft)))
        goto fail;
    if ((s = nb__kernels_init(ctx, opt->cache_dir)))
        goto fail;
    *out = ctx;
    return NB_OK;
fail:
    /* AUTO without a usable Vulkan device (no driver, no device): the CPU backend */
    if (want == NB_BACKEND_AUTO && !ctx->device && (s == NB_ERR_NO_DEVICE || s == NB_ERR_VULKAN) &&
        opt->device_index < 0 && !getenv("NOBLE_DEVICE")) {
        nb_context_destroy(ctx);
        return NB_OK;
    }
    nb_context_destroy(ctx);
    return s;
}

/* The Vulkan half of nb_context_destroy (api.c), which frees ctx. */
void nb__vk_context_destroy(nb_context *ctx)
{
    if (ctx->device) {
        vkDeviceWaitIdle(ctx->device);
        nb__fft_destroy_all(ctx);
        nb__kernels_destroy(ctx);
        nb__memory_destroy(ctx);
        if (ctx->fence)
            vkDestroyFence(ctx->device, ctx->fence, NULL);
        if (ctx->pool)
            vkDestroyCommandPool(ctx->device, ctx->pool, NULL);
        vkDestroyDevice(ctx->device, NULL);
    }
    if (ctx->messenger && ctx->destroy_messenger)
        ctx->destroy_messenger(ctx->instance, ctx->messenger, NULL);
    if (ctx->instance)
        vkDestroyInstance(ctx->instance, NULL);
}

void *nb_context_vk_instance(nb_context *ctx) { return (void *)ctx->instance; }
void *nb_context_vk_device(nb_context *ctx) { return (void *)ctx->device; }

/* ------------------------------------------------------- one-shot commands */

nb_status nb__oneshot_begin(nb_context *ctx, VkCommandBuffer *cb)
{
    VkCommandBufferAllocateInfo ai = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
                                      .commandPool = ctx->pool,
                                      .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
                                      .commandBufferCount = 1};
    VkResult r = vkAllocateCommandBuffers(ctx->device, &ai, cb);
    if (r != VK_SUCCESS)
        return nb__vkfail(r, "vkAllocateCommandBuffers");
    VkCommandBufferBeginInfo bi = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO,
                                   .flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT};
    if ((r = vkBeginCommandBuffer(*cb, &bi)) != VK_SUCCESS) {
        vkFreeCommandBuffers(ctx->device, ctx->pool, 1, cb);
        return nb__vkfail(r, "vkBeginCommandBuffer");
    }
    return NB_OK;
}

nb_status nb__oneshot_end(nb_context *ctx, VkCommandBuffer cb)
{
    VkResult r = vkEndCommandBuffer(cb);
    if (r == VK_SUCCESS) {
        VkSubmitInfo si = {.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO, .commandBufferCount = 1, .pCommandBuffers = &cb};
        r = vkQueueSubmit(ctx->queue, 1, &si, ctx->fence);
        if (r == VK_SUCCESS) {
            r = vkWaitForFences(ctx->device, 1, &ctx->fence, VK_TRUE, UINT64_MAX);
            vkResetFences(ctx->device, 1, &ctx->fence);
        }
    }
    vkFreeCommandBuffers(ctx->device, ctx->pool, 1, &cb);
    return r == VK_SUCCESS ? NB_OK : nb__vkfail(r, "one-shot submit");
}
