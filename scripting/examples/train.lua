-- noble train [--option value ...]: the standard training script (docs/training.md).
-- Each option of noble.train (scripting/lib/noble/train.lua) is --name value.
--
--   noble train --dataset data/pvalb60.h5 --out runs/pvalb
--   noble train --out runs/small --width 16 --blocks 4 --modes 64 --stride 2 --time-limit-s 3600
local train = require("noble.train")
local cli = require("noble.cli")

local usage = [=[
usage: noble train [--dataset FILE] [--out DIR] [--preset noble|small] [--width N] [--blocks N]
                   [--modes N] [--lifting-channels N] [--projection-channels N] [--mlp-channels N]
                   [--stride N] [--length N] [--epochs N] [--batch N] [--max-batch N] [--lr X]
                   [--weight-decay X] [--p 2|4] [--factor X] [--patience N] [--threshold X]
                   [--min-lr X] [--jitter true|false] [--seed N] [--resume true|false]
                   [--time-limit-s S] [--amp-freqs K] [--feat-freqs K] [--voltage-scale MV]
                   [--init CHECKPOINT] [--sag-lambda 25] [--sag-tau MV] [--spike-lambda X]
                   [--spike-threshold MV] [--spike-width MV] [--shape-lambda X] [--select l4|fi]
                   [--progress true|false] [--quiet true|false]
Defaults: the published recipe on data/pvalb60.h5 into runs/noble (docs/training.md).
A run whose --out holds last.h5 resumes from it (--resume false starts over).]=]

train.run(cli.parse("noble train", { ... }, train.options, usage))
