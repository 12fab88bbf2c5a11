/* cpu_kernels.c - registers the operator's C kernels with the runtime's CPU
 * backend, once per process. */
#include "cpu_kernels.h"
#include "nm_models.h"

#include <pthread.h>

static pthread_once_t once = PTHREAD_ONCE_INIT;
static nb_status status;

static void register_all(void)
{
    status = nm__cpu_register_pointwise();
    if (!status)
        status = nm__cpu_register_grad();
}

nb_status nm_cpu_kernels_register(void)
{
    pthread_once(&once, register_all);
    return status;
}
