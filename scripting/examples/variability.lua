-- noble variability: the spread of noble's and NEURON's responses to one stimulus (docs/population.md).
local pop = require("noble.population")
local cli = require("noble.cli")

local usage = [=[
usage: noble variability --checkpoint FILE --dataset FILE --amplitude PA [--out DIR]
                         [--population N [--seed S]] [--batch 64] [--progress true|false]
Runs the HoF models' embeddings (or N neurons sampled in the hull) at one step amplitude and
compares median, inter-quartile range and features (KS statistic) with NEURON's traces of the
dataset at that amplitude: DIR/variability.json and DIR/variability.png.]=]

local opts = cli.parse("noble variability", { ... }, { checkpoint = "string", dataset = "string",
  amplitude = "number", out = "string", population = "number", seed = "number", batch = "number",
  progress = "boolean", quiet = "boolean" }, usage)
if not opts.checkpoint or not opts.dataset or not opts.amplitude then
  io.stderr:write("noble variability: --checkpoint, --dataset and --amplitude are needed\n", usage, "\n")
  os.exit(2)
end
pop.variability(opts)
