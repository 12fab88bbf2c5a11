/* The validation layer's messages reach the error path: an invalid Vulkan
 * call made on purpose through the raw handle is counted, kept, and turns
 * nb_context_check into NB_ERR_VALIDATION. Without this test, "any
 * validation message fails" could be silently untrue. */
#define VK_NO_PROTOTYPES
#include <volk.h>

#include "nb_test.h"

int main(void)
{
    nb_context *ctx = nbt_context();
    CHECK(nb_context_validation_enabled(ctx), "validation is on");
    CHECK(nb_validation_count(ctx) == 0, "a clean start");
    CHECK_OK(nb_context_check(ctx));

    VkDevice dev = (VkDevice)nb_context_vk_device(ctx);
    VkBufferCreateInfo bi = {.sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO,
                             .size = 0, /* invalid: VUID-VkBufferCreateInfo-size-00912 */
                             .usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT};
    VkBuffer b = VK_NULL_HANDLE;
    VkResult r = vkCreateBuffer(dev, &bi, NULL, &b);
    if (r == VK_SUCCESS && b)
        vkDestroyBuffer(dev, b, NULL);
    CHECK(nb_validation_count(ctx) >= 1, "the invalid call was reported");
    printf("caught: %.200s\n", nb_validation_message(ctx, 0));
    CHECK(strstr(nb_validation_message(ctx, 0), "00912") != NULL || strstr(nb_validation_message(ctx, 0), "size"),
          "the message names the rule: %s", nb_validation_message(ctx, 0));
    nb_status s = nb_context_check(ctx);
    CHECK(s == NB_ERR_VALIDATION, "nb_context_check: %s", nb_status_name(s));
    CHECK(strstr(nb_last_error(), "validation") != NULL, "message: %s", nb_last_error());
    nb_context_destroy(ctx);
    if (nbt_failures)
        fprintf(stderr, "%d check(s) failed\n", nbt_failures);
    else
        printf("all checks passed\n");
    return nbt_failures ? 1 : 0;
}
