# Script mode: cmake -DIN=/usr/include/vkFFT.h -DOUT=<dir>/vkFFT_noble.h -P vkfft_patch.cmake
#
# Debian's VkFFT 1.2.26 header does not build as it is (../shared/PLATFORM.md):
#  1. `VkCommandBuffer commandBuffer = {};` is an empty scalar initialiser,
#     an error in C; it becomes `= 0`.
#  2. Its positional glslang_resource_t initialiser predates the fields
#     glslang 12 added, so the limits block ends up zero and glslang rejects
#     every generated shader; it uses glslang_default_resource() instead.
#  3. Its descriptor ranges for the data buffers are computed from the
#     wrong size in some C2R plans (the complex size on the real output
#     buffer: VUID-VkDescriptorBufferInfo-range-00342 under validation, at
#     n = 1024 and 4096 for example). noble binds one whole buffer per
#     binding, offset 0, so these ranges become VK_WHOLE_SIZE.
# The copy is made at build time from the installed header; nothing of
# upstream VkFFT is kept in this repository. Each replacement is counted,
# so a different VkFFT version fails the build loudly instead of silently.
file(READ "${IN}" text)

string(REGEX MATCHALL "VkCommandBuffer commandBuffer = \\{\\};" hits1 "${text}")
list(LENGTH hits1 n1)
string(REPLACE "VkCommandBuffer commandBuffer = {};" "VkCommandBuffer commandBuffer = 0;" text "${text}")

string(REGEX MATCHALL "&default_resource," hits2 "${text}")
list(LENGTH hits2 n2)
string(REPLACE "&default_resource," "glslang_default_resource()," text "${text}")

set(r_out "descriptorBufferInfo.range = (axis->specializationConstants.outputBufferBlockSize * storageComplexSize);")
set(r_in "descriptorBufferInfo.range = (axis->specializationConstants.inputBufferBlockSize * storageComplexSize);")
string(REGEX MATCHALL "descriptorBufferInfo\\.range = \\(axis->specializationConstants\\.(in|out)putBufferBlockSize \\* storageComplexSize\\);" hits3 "${text}")
list(LENGTH hits3 n3)
string(REPLACE "${r_out}" "descriptorBufferInfo.range = VK_WHOLE_SIZE;" text "${text}")
string(REPLACE "${r_in}" "descriptorBufferInfo.range = VK_WHOLE_SIZE;" text "${text}")

string(REPLACE "#include <glslang/Include/glslang_c_interface.h>"
  "#include <glslang/Include/glslang_c_interface.h>\n#include <glslang/Public/resource_limits_c.h>"
  text "${text}")

if(NOT n1 EQUAL 3 OR NOT n2 EQUAL 2 OR NOT n3 EQUAL 15)
  message(FATAL_ERROR "vkfft_patch: expected 3 command-buffer, 2 resource and 15 range fixes in ${IN}, "
                      "found ${n1}, ${n2} and ${n3}: this is not the VkFFT 1.2.26 the runtime was written for")
endif()
file(WRITE "${OUT}.tmp" "/* Generated from ${IN} by runtime/vkfft_patch.cmake. Do not edit. */\n${text}")
file(RENAME "${OUT}.tmp" "${OUT}")
