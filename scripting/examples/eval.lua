-- noble eval --checkpoint FILE [...]: the standard evaluation (docs/training.md).
local eval = require("noble.eval")
local cli = require("noble.cli")

local usage = [=[
usage: noble eval [--checkpoint FILE] [--dataset FILE] [--out DIR] [--batch N] [--plots true|false]
                  [--splits train,validation,test] [--progress true|false] [--quiet true|false]
The checkpoint defaults to the shipped model (models/pretrained/pvalb-noble.h5; NOBLE_PRETRAINED
names another), the dataset and the window to those the checkpoint was trained with; the report
goes to DIR/report.json (default: the checkpoint's name + "-eval", pretrained-eval for the
shipped model), with traces.png, fi.png, errors.png.]=]

local specs = {}
for k, v in pairs(eval.options) do specs[k] = v end
specs.splits = cli.string -- train,validation,test
specs.stride, specs.length = nil, nil -- the checkpoint's
local opts = cli.parse("noble eval", { ... }, specs, usage)
if opts.splits then
  local list = {}
  for s in opts.splits:gmatch("[^,]+") do
    if s ~= "train" and s ~= "validation" and s ~= "test" then
      cli.usage_error("noble eval: --splits " .. opts.splits .. ": unknown split '" .. s
        .. "' (expected a comma-separated list of train, validation, test)")
    end
    list[#list + 1] = s
  end
  if #list == 0 then cli.usage_error("noble eval: --splits is empty (expected train, validation, test)") end
  opts.splits = list
end
eval.run(opts)
