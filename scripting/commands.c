/* commands.c - the table of subcommands kept in their own files. */
#include "commands.h"

#include <stdio.h>
#include <string.h>

const nbc_command nbc_commands[] = {
    {"model", nbc_model,
     "  noble model info [--preset P [--length N] | --checkpoint FILE] [--json]\n"
     "                                  the operator's configuration and parameters\n"
     "  noble model init [--preset P] [--length N] [--seed S] --out FILE\n"
     "                                  a freshly initialised checkpoint\n"
     "  noble model run --checkpoint FILE --input FILE [--dataset x | --current NAME --codes NAME] --output FILE\n"
     "                  [--batch B]       the checkpoint on HDF5 arrays: the operator's input (batch, channels,\n"
     "                                  length), or NOBLE's current (batch, length) pA and codes (batch, 3);\n"
     "                                  y in mV when the checkpoint has an embedding\n"
     "  noble model export --checkpoint FILE --out FILE\n"
     "                                  an inference copy: no optimiser moments\n"},
    {"datagen", nbc_datagen,
     "  noble datagen --out FILE [--cell pvalb|ballstick|SPEC.json] [--models 60] [--amplitudes -110:270:20]\n"
     "                [--seed 1] [--jobs N] [--threshold-offsets 0,10,20,30,40,50] [--test N] [--validation N]\n"
     "                [--families N] [--max-candidates N]     (ranges: docs/dataset.md)\n"
     "                                  NEURON ground truth: a hall of fame of models, Long Square steps, HDF5\n"},
    {"run", nbc_run,
     "  noble run SCRIPT.lua [ARGS]     run a Lua 5.4 script with the noble module (docs/lua-api.md)\n"},
    {"train", nbc_train,
     "  noble train [--dataset FILE] [--out DIR] [--epochs N] [--width N] ... (noble train --help)\n"
     "                                  train NOBLE (the published recipe by default; resumes a run in DIR)\n"},
    {"eval", nbc_eval,
     "  noble eval --checkpoint FILE [--dataset FILE] [--out DIR] (noble eval --help)\n"
     "                                  errors, features, f-I curves: report.json and PNG plots\n"},
    {"population", nbc_population,
     "  noble population --checkpoint FILE --out POP.h5 --stimuli A1,A2,.. (--sample N | --points .. | --path ..)\n"
     "                                  synthetic neurons in the embedding, streamed to HDF5 (noble population --help)\n"},
    {"variability", nbc_variability,
     "  noble variability --checkpoint FILE --dataset FILE --amplitude PA [--out DIR]\n"
     "                                  the ensemble's spread against NEURON's: JSON and PNG\n"},
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
