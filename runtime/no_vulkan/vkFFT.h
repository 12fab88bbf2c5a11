/* Searched first in a NOBLE_VULKAN=OFF build (CMakeLists.txt): no project
 * file may include a Vulkan, volk, glslang or VkFFT header there. */
#error "NOBLE_VULKAN=OFF, yet vkFFT.h was included: guard the code with NOBLE_HAVE_VULKAN"
