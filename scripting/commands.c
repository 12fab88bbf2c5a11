/* commands.c - the table of subcommands kept in their own files. */
#include "commands.h"

#include <stdio.h>
#include <string.h>

const nbc_command nbc_commands[] = {
    {NULL, NULL, NULL},
};

const char *nbc_commands_usage(void)
{
    static char buf[4096];
    size_t at = 0;
    buf[0] = 0;
    for (const nbc_command *c = nbc_commands; c->name && at < sizeof buf; c++)
        at += (size_t)snprintf(buf + at, sizeof buf - at, "%s", c->usage);
    return buf;
}
