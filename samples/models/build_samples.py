"""Write the builder models as .onnx files.

    python samples/models/build_samples.py            # the small samples, into this folder
    python samples/models/build_samples.py --full DIR # full-size models with shape-only weights

The small samples (seeded random weights, batch 1) are committed beside this script; a test
checks they are what this script writes. The full-size models (AlexNet, VGG-16, ResNet-50,
DenseNet-121, MobileNetV2, BERT-base, GPT-2 medium) are written with ``weights="shape"``: same
structure and tensor shapes, weights as ConstantOfShape, a few hundred KB each, for
``imcc stats`` against the seed paper's Table I.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from imcc.models import build
from isa.objfile import atomic_write

SMALL = {
    "mlp": dict(),
    "lenet": dict(),
    "resnet_basic_block": dict(),
    "resnet_bottleneck_block": dict(),
    "depthwise_separable": dict(),
    "dense_block": dict(growth=8, bn_size=2),
    "encoder_layer": dict(seq=16, hidden=32, ffn=64),
    "tiny_bert": ("bert-base", dict(seq=16, layers=2, hidden=32, heads=4, ffn=64, vocab=100,
                                    max_pos=32)),
    "tiny_gpt2": ("gpt2", dict(seq=16, layers=2, hidden=32, heads=4, ffn=64, vocab=100,
                               max_pos=32)),
}
FULL = ("alexnet", "vgg16", "resnet50", "densenet121", "mobilenet_v2", "bert-base",
        "gpt2-medium")


def small_models():
    """(file stem, model) for every committed sample."""
    for stem, spec in SMALL.items():
        name, kw = spec if isinstance(spec, tuple) else (stem, spec)
        yield stem, build(name, seed=0, **kw)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--full", type=Path, metavar="DIR",
                    help="write the full-size shape-only models into DIR instead")
    args = ap.parse_args()
    if args.full:
        args.full.mkdir(parents=True, exist_ok=True)
        for name in FULL:
            out = args.full / f"{name}.onnx"
            atomic_write(out, build(name, weights="shape").SerializeToString())
            print(out)
        return
    here = Path(__file__).resolve().parent
    for stem, model in small_models():
        out = here / f"{stem}.onnx"
        atomic_write(out, model.SerializeToString())
        print(out)


if __name__ == "__main__":
    main()
