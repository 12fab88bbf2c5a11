/* commands.h - subcommands of the `noble` program that live in their own
 * files (scripting/cmd_*.c). Each takes the arguments after its name and
 * returns the exit status: 0 success, 1 failure, 2 usage error. */
#ifndef NBC_COMMANDS_H
#define NBC_COMMANDS_H

typedef struct nbc_command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *usage; /* lines for `noble help`, each "  noble ...\n" */
} nbc_command;

int nbc_model(int argc, char **argv); /* cmd_model.c */
int nbc_datagen(int argc, char **argv); /* cmd_datagen.c */
int nbc_run(int argc, char **argv);     /* lua_noble.c */
int nbc_train(int argc, char **argv);   /* lua_noble.c: scripting/examples/train.lua */
int nbc_eval(int argc, char **argv);    /* lua_noble.c: scripting/examples/eval.lua */
int nbc_population(int argc, char **argv);  /* lua_noble.c: scripting/examples/population.lua */
int nbc_variability(int argc, char **argv); /* lua_noble.c: scripting/examples/variability.lua */

/* NULL-terminated; defined in commands.c. */
extern const nbc_command nbc_commands[];
/* All usage lines of nbc_commands, concatenated. */
const char *nbc_commands_usage(void);

#endif
