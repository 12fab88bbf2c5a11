-- noble variability: the spread of noble's and NEURON's responses to one stimulus (docs/population.md).
local pop = require("noble.population")
local cli = require("noble.cli")

local usage = [=[
usage: noble variability [--checkpoint FILE] --dataset FILE --amplitude PA [--out DIR]
                         [--population N [--seed S]] [--batch 64] [--progress true|false]
The checkpoint defaults to the shipped model (models/pretrained/pvalb-noble.h5; NOBLE_PRETRAINED
names another). Runs the HoF models' embeddings (or N neurons sampled in the hull) at one step amplitude and
compares median, inter-quartile range and features (KS statistic) with NEURON's traces of the
dataset at that amplitude: DIR/variability.json and DIR/variability.png.]=]

if require("noble").mpi.size() > 1 then -- docs/mpi.md: not across ranks yet
  cli.usage_error(string.format("noble variability: runs in one process only for now, not across %d MPI ranks (run it "
    .. "without mpirun or with -np 1; docs/mpi.md)", require("noble").mpi.size()))
end
local opts = cli.parse("noble variability", { ... }, pop.variability_options, usage)
if not opts.dataset or not opts.amplitude then
  cli.usage_error("noble variability: --dataset and --amplitude are needed (noble variability --help)")
end
pop.variability(opts)
