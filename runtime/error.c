/* error.c - the per-thread error message and status names. */
#include "nb_internal.h"

#include <string.h>
#include <time.h>

static _Thread_local char g_msg[2048];

const char *nb_last_error(void) { return g_msg; }

void nb__clear_error(void) { g_msg[0] = 0; }

nb_status nb_error(nb_status s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g_msg, sizeof g_msg, fmt, ap);
    va_end(ap);
    return s;
}

const char *nb_status_name(nb_status s)
{
    switch (s) {
    case NB_OK: return "ok";
    case NB_ERR_INVALID_ARGUMENT: return "invalid argument";
    case NB_ERR_NO_DEVICE: return "no device";
    case NB_ERR_VULKAN: return "Vulkan error";
    case NB_ERR_OUT_OF_MEMORY: return "out of memory";
    case NB_ERR_COMPILE: return "compile error";
    case NB_ERR_UNSUPPORTED: return "unsupported";
    case NB_ERR_IO: return "I/O error";
    case NB_ERR_VALIDATION: return "validation error";
    case NB_ERR_DEVICE_LOST: return "device lost";
    }
    return "unknown status";
}

double nb__now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}
