#!/bin/bash
# Fine-tuning against training from scratch, on real images, for BENCHMARKS.md.
#
# torchvision's ImageNet weights cannot be downloaded here, so the "pretrained" weights are made
# the same way on other data: torchvision's AlexNet trained on Fashion-MNIST's classes 0-4 (an
# RGB image folder, 224x224 after the loader's resize), then passed through PyTorch (loaded
# into torchvision.models.alexnet with load_state_dict(strict=True) and saved as its state
# dict, so the file fine-tuned from is a PyTorch state dict). The task is classes 5-9 with 100
# training images per class; three runs take the same number of steps:
#   frozen  --from the weights, features frozen, a new head (--reinit: the source has 5 classes
#           too, other ones) at 10x the rate
#   all     --from the weights, every layer trains, new head at 10x the rate
#   scratch the same network and recipe from a fresh initialisation (and at 10x the rate)
#
#   bench/finetune_experiment.sh [WORK_DIR]      (about 40 minutes on 2 cores)
set -euo pipefail
cd "$(dirname "$0")/.."
work="${1:-/tmp/finetune-experiment}"
exe=.build/release/alexnet
python=.venv-peers/bin/python
mkdir -p "$work"
[ -d "$work/source" ] || python3 bench/finetune_folder.py --out "$work/source" --classes 0,1,2,3,4 --train 2000 --val 200
[ -d "$work/target" ] || python3 bench/finetune_folder.py --out "$work/target" --classes 5,6,7,8,9 --train 100 --val 200

# Pre-training on the source classes (an ImageNet stand-in): one epoch of 10,000 images.
[ -f "$work/pretrain/best.safetensors" ] || $exe train --preset finetune --data "$work/source" --lr 0.01 --epochs 1 \
    --out "$work/pretrain" --overwrite

# Through PyTorch: our checkpoint -> torchvision's AlexNet -> its state dict.
$python - "$work/pretrain/best.safetensors" "$work/pretrained-torchvision.safetensors" <<'EOF'
import sys
import torchvision
from safetensors.torch import load_file, save_file
tensors = {k: v for k, v in load_file(sys.argv[1]).items() if not k.startswith("optimizer.")}
model = torchvision.models.alexnet(num_classes=5)
model.load_state_dict(tensors, strict=True)
save_file(model.state_dict(), sys.argv[2])
print(f"{sys.argv[2]}: torchvision.models.alexnet state dict, {sum(v.numel() for v in model.state_dict().values()):,} values")
EOF

common=(--preset finetune --data "$work/target" --epochs 10 --batch 32 --lr 0.001 --overwrite)
$exe train "${common[@]}" --from "$work/pretrained-torchvision.safetensors" --reinit classifier.6 --freeze 'features.*' --head-lr 0.01 --out "$work/frozen"
$exe train "${common[@]}" --from "$work/pretrained-torchvision.safetensors" --reinit classifier.6 --head-lr 0.01 --out "$work/all"
$exe train "${common[@]}" --out "$work/scratch"
$exe train "${common[@]}" --lr 0.01 --out "$work/scratch-lr0.01"
for run in frozen all scratch scratch-lr0.01; do
    echo "$run: $(tail -1 "$work/$run/history.csv")"
done
