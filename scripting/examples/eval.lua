-- noble eval --checkpoint FILE [...]: the standard evaluation (docs/training.md).
local eval = require("noble.eval")
local cli = require("noble.cli")

local usage = [=[
usage: noble eval --checkpoint FILE [--dataset FILE] [--out DIR] [--batch N] [--plots true|false]
                  [--splits train,validation,test] [--progress true|false] [--quiet true|false]
The dataset and the window default to those the checkpoint was trained with; the report goes to
DIR/report.json (default: the checkpoint's name + "-eval"), with traces.png, fi.png, errors.png.]=]

local opts = cli.parse("noble eval", { ... }, { checkpoint = "string", dataset = "string", out = "string",
  batch = "number", plots = "boolean", splits = "string", progress = "boolean", quiet = "boolean" }, usage)
if not opts.checkpoint then
  io.stderr:write("noble eval: which checkpoint? (--checkpoint FILE)\n", usage, "\n")
  os.exit(2)
end
if opts.splits then
  local list = {}
  for s in opts.splits:gmatch("[^,]+") do
    if s ~= "train" and s ~= "validation" and s ~= "test" then
      io.stderr:write("noble eval: unknown split '", s, "' (train, validation, test)\n")
      os.exit(2)
    end
    list[#list + 1] = s
  end
  opts.splits = list
end
eval.run(opts)
