"""Export the seven Table I models with PyTorch, so imcc also reads real exporter output.

A development script, not part of imcc (which never needs torch): it defines the models in plain
PyTorch with the layers and sizes of torchvision's ``alexnet``, ``vgg16``, ``resnet50``,
``mobilenet_v2``, ``densenet121`` and of Hugging Face's BERT-base (with a padding mask input) and
GPT-2 medium (causal mask buffer, tied LM head), seeds their weights, and exports them with
``torch.onnx.export``: the TorchScript exporter (``--exporter torchscript``, opset 17: Shape /
Gather / Unsqueeze / Concat shape chains, Erf GELU, masks with Expand / Where) or the dynamo
exporter (``--exporter dynamo``, opset 18). The builders in ``imcc.models`` write the same
architectures with ``onnx.helper``; these files exercise the exporters' own patterns.

Set-up (a separate environment)::

    python3 -m venv /tmp/venv-torch
    /tmp/venv-torch/bin/pip install torch==2.13.0 onnx onnxscript

Run::

    /tmp/venv-torch/bin/python samples/models/export_torch.py OUT_DIR [--size small|full]
        [--exporter torchscript|dynamo] [--models resnet50,bert-base]

Each model goes to ``OUT_DIR/<name>/model.onnx`` (initializers in ``model.data`` beside it).
Then, e.g., ``imcc compile OUT_DIR/resnet50/model.onnx --chip ideal`` with a chip large enough
(see ``imcc.models.suite``), and ``imcc run ... --compare OUT_DIR/resnet50/model.onnx``.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import onnx
import torch
from torch import nn
from torch.nn import functional as F

# ---- CNNs (torchvision's layer structure) ----------------------------------------------------


class AlexNet(nn.Module):
    def __init__(self, width: float = 1.0, hidden: int = 4096, classes: int = 1000):
        super().__init__()
        c = [max(1, round(v * width)) for v in (64, 192, 384, 256, 256)]
        self.features = nn.Sequential(
            nn.Conv2d(3, c[0], 11, 4, 2), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2),
            nn.Conv2d(c[0], c[1], 5, padding=2), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2),
            nn.Conv2d(c[1], c[2], 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(c[2], c[3], 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(c[3], c[4], 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2))
        self.avgpool = nn.AdaptiveAvgPool2d((6, 6))
        self.classifier = nn.Sequential(
            nn.Dropout(0.5), nn.Linear(c[4] * 36, hidden), nn.ReLU(inplace=True),
            nn.Dropout(0.5), nn.Linear(hidden, hidden), nn.ReLU(inplace=True),
            nn.Linear(hidden, classes))

    def forward(self, x):
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))


class VGG16(nn.Module):
    CFG = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M",
           512, 512, 512, "M")

    def __init__(self, width: float = 1.0, hidden: int = 4096, classes: int = 1000):
        super().__init__()
        layers, cin = [], 3
        for v in self.CFG:
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                c = max(1, round(v * width))
                layers += [nn.Conv2d(cin, c, 3, padding=1), nn.ReLU(inplace=True)]
                cin = c
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
        self.classifier = nn.Sequential(
            nn.Linear(cin * 49, hidden), nn.ReLU(True), nn.Dropout(),
            nn.Linear(hidden, hidden), nn.ReLU(True), nn.Dropout(), nn.Linear(hidden, classes))

    def forward(self, x):
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))


class Bottleneck(nn.Module):
    def __init__(self, cin: int, width: int, stride: int):
        super().__init__()
        cout = 4 * width
        self.conv1, self.bn1 = nn.Conv2d(cin, width, 1, bias=False), nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3, self.bn3 = nn.Conv2d(width, cout, 1, bias=False), nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                            nn.BatchNorm2d(cout))

    def forward(self, x):
        h = F.relu(self.bn1(self.conv1(x)))
        h = F.relu(self.bn2(self.conv2(h)))
        h = self.bn3(self.conv3(h))
        return F.relu(h + (x if self.downsample is None else self.downsample(x)))


class ResNet50(nn.Module):
    def __init__(self, width: int = 64, depths=(3, 4, 6, 3), classes: int = 1000):
        super().__init__()
        self.conv1 = nn.Conv2d(3, width, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        blocks, cin = [], width
        for stage, n in enumerate(depths):
            w = width * 2**stage
            for i in range(n):
                blocks.append(Bottleneck(cin, w, 2 if i == 0 and stage > 0 else 1))
                cin = 4 * w
        self.layers = nn.Sequential(*blocks)
        self.fc = nn.Linear(cin, classes)

    def forward(self, x):
        h = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 3, 2, 1)
        h = F.adaptive_avg_pool2d(self.layers(h), 1)
        return self.fc(torch.flatten(h, 1))


def _divisible(v: float, d: int = 8) -> int:
    n = max(d, int(v + d / 2) // d * d)
    return n + d if n < 0.9 * v else n


class InvertedResidual(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int, expand: int):
        super().__init__()
        hidden = cin * expand
        layers = []
        if expand != 1:
            layers += [nn.Conv2d(cin, hidden, 1, bias=False), nn.BatchNorm2d(hidden),
                       nn.ReLU6(True)]
        layers += [nn.Conv2d(hidden, hidden, 3, stride, 1, groups=hidden, bias=False),
                   nn.BatchNorm2d(hidden), nn.ReLU6(True),
                   nn.Conv2d(hidden, cout, 1, bias=False), nn.BatchNorm2d(cout)]
        self.conv = nn.Sequential(*layers)
        self.residual = stride == 1 and cin == cout

    def forward(self, x):
        return x + self.conv(x) if self.residual else self.conv(x)


class MobileNetV2(nn.Module):
    SETTINGS = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
                (6, 160, 3, 2), (6, 320, 1, 1))

    def __init__(self, width: float = 1.0, classes: int = 1000):
        super().__init__()
        cin, last = _divisible(32 * width), _divisible(1280 * max(1.0, width))
        layers = [nn.Conv2d(3, cin, 3, 2, 1, bias=False), nn.BatchNorm2d(cin), nn.ReLU6(True)]
        for t, c, n, s in self.SETTINGS:
            cout = _divisible(c * width)
            for i in range(n):
                layers.append(InvertedResidual(cin, cout, s if i == 0 else 1, t))
                cin = cout
        layers += [nn.Conv2d(cin, last, 1, bias=False), nn.BatchNorm2d(last), nn.ReLU6(True)]
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(last, classes))

    def forward(self, x):
        return self.classifier(torch.flatten(F.adaptive_avg_pool2d(self.features(x), 1), 1))


class DenseLayer(nn.Module):
    def __init__(self, cin: int, growth: int, bn_size: int):
        super().__init__()
        self.norm1, self.conv1 = nn.BatchNorm2d(cin), nn.Conv2d(cin, bn_size * growth, 1,
                                                                bias=False)
        self.norm2 = nn.BatchNorm2d(bn_size * growth)
        self.conv2 = nn.Conv2d(bn_size * growth, growth, 3, padding=1, bias=False)

    def forward(self, feats):
        h = self.conv1(F.relu(self.norm1(torch.cat(feats, 1))))
        return self.conv2(F.relu(self.norm2(h)))


class DenseNet121(nn.Module):
    def __init__(self, growth: int = 32, blocks=(6, 12, 24, 16), init: int = 64,
                 bn_size: int = 4, classes: int = 1000):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, init, 7, 2, 3, bias=False), nn.BatchNorm2d(init),
                                  nn.ReLU(True), nn.MaxPool2d(3, 2, 1))
        self.blocks, self.transitions = nn.ModuleList(), nn.ModuleList()
        c = init
        for i, n in enumerate(blocks):
            self.blocks.append(nn.ModuleList(DenseLayer(c + k * growth, growth, bn_size)
                                             for k in range(n)))
            c += n * growth
            if i != len(blocks) - 1:
                self.transitions.append(nn.Sequential(
                    nn.BatchNorm2d(c), nn.ReLU(True), nn.Conv2d(c, c // 2, 1, bias=False),
                    nn.AvgPool2d(2, 2)))
                c //= 2
        self.norm = nn.BatchNorm2d(c)
        self.classifier = nn.Linear(c, classes)

    def forward(self, x):
        h = self.stem(x)
        for i, block in enumerate(self.blocks):
            feats = [h]
            for layer in block:
                feats.append(layer(feats))
            h = torch.cat(feats, 1)
            if i < len(self.transitions):
                h = self.transitions[i](h)
        h = F.adaptive_avg_pool2d(F.relu(self.norm(h)), 1)
        return self.classifier(torch.flatten(h, 1))


# ---- transformers (Hugging Face's layer structure) -------------------------------------------


class Attention(nn.Module):
    def __init__(self, d: int, heads: int, fused: bool):
        super().__init__()
        self.heads, self.fused = heads, fused
        if fused:
            self.c_attn, self.c_proj = nn.Linear(d, 3 * d), nn.Linear(d, d)
        else:
            self.query, self.key, self.value = (nn.Linear(d, d) for _ in range(3))
            self.dense = nn.Linear(d, d)

    def _heads(self, t):
        b, n, d = t.shape
        return t.view(b, n, self.heads, d // self.heads).transpose(1, 2)

    def forward(self, x, mask):
        if self.fused:
            q, k, v = self.c_attn(x).split(x.shape[-1], dim=2)
        else:
            q, k, v = self.query(x), self.key(x), self.value(x)
        q, k, v = self._heads(q), self._heads(k), self._heads(v)
        s = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])
        s = torch.where(mask, s, torch.finfo(s.dtype).min) if mask.dtype == torch.bool \
            else s + mask
        ctx = (s.softmax(-1) @ v).transpose(1, 2).reshape(x.shape)
        return (self.c_proj if self.fused else self.dense)(ctx)


class BertLayer(nn.Module):
    def __init__(self, d: int, heads: int, ffn: int):
        super().__init__()
        self.attention = Attention(d, heads, fused=False)
        self.ln1, self.ln2 = nn.LayerNorm(d, eps=1e-12), nn.LayerNorm(d, eps=1e-12)
        self.intermediate, self.output = nn.Linear(d, ffn), nn.Linear(ffn, d)

    def forward(self, x, mask):
        h = self.ln1(x + self.attention(x, mask))
        return self.ln2(h + self.output(F.gelu(self.intermediate(h))))


class Bert(nn.Module):
    def __init__(self, layers=12, hidden=768, heads=12, ffn=3072, vocab=30522, max_pos=512):
        super().__init__()
        self.word, self.position = nn.Embedding(vocab, hidden), nn.Embedding(max_pos, hidden)
        self.token_type = nn.Embedding(2, hidden)
        self.register_buffer("position_ids", torch.arange(max_pos).unsqueeze(0),
                             persistent=False)
        self.ln = nn.LayerNorm(hidden, eps=1e-12)
        self.layers = nn.ModuleList(BertLayer(hidden, heads, ffn) for _ in range(layers))
        self.pooler = nn.Linear(hidden, hidden)

    def forward(self, input_ids, attention_mask):
        n = input_ids.shape[1]
        h = self.word(input_ids) + self.token_type(torch.zeros_like(input_ids)) \
            + self.position(self.position_ids[:, :n])
        h = self.ln(h)
        mask = (1.0 - attention_mask[:, None, None, :].to(h.dtype)) * -10000.0
        for layer in self.layers:
            h = layer(h, mask)
        return h, torch.tanh(self.pooler(h[:, 0]))


class GPT2Block(nn.Module):
    def __init__(self, d: int, heads: int):
        super().__init__()
        self.ln_1, self.ln_2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.attn = Attention(d, heads, fused=True)
        self.c_fc, self.c_proj = nn.Linear(d, 4 * d), nn.Linear(4 * d, d)

    def forward(self, x, mask):
        h = x + self.attn(self.ln_1(x), mask)
        return h + self.c_proj(F.gelu(self.c_fc(self.ln_2(h)), approximate="tanh"))


class GPT2(nn.Module):
    def __init__(self, layers=24, hidden=1024, heads=16, vocab=50257, max_pos=1024):
        super().__init__()
        self.wte, self.wpe = nn.Embedding(vocab, hidden), nn.Embedding(max_pos, hidden)
        self.h = nn.ModuleList(GPT2Block(hidden, heads) for _ in range(layers))
        self.ln_f = nn.LayerNorm(hidden)
        self.register_buffer("bias", torch.tril(torch.ones(max_pos, max_pos, dtype=torch.bool))
                             .view(1, 1, max_pos, max_pos), persistent=False)

    def forward(self, input_ids):
        n = input_ids.shape[1]
        h = self.wte(input_ids) + self.wpe(torch.arange(n).unsqueeze(0))
        mask = self.bias[:, :, :n, :n]
        for block in self.h:
            h = block(h, mask)
        return self.ln_f(h) @ self.wte.weight.T


# ---- export ---------------------------------------------------------------------------------

SMALL_T = dict(layers=2, hidden=32, heads=4, vocab=50, max_pos=16)
MODELS = {
    # name: (constructor, full-size knobs, small knobs, input kind)
    "alexnet": (AlexNet, {}, dict(width=0.125, hidden=32, classes=10), "image"),
    "vgg16": (VGG16, {}, dict(width=0.0625, hidden=32, classes=10), "image"),
    "resnet50": (ResNet50, {}, dict(width=8, depths=(1, 2, 1, 1), classes=10), "image"),
    "mobilenet_v2": (MobileNetV2, {}, dict(width=0.25, classes=10), "image"),
    "densenet121": (DenseNet121, {}, dict(growth=4, blocks=(2, 3, 2, 2), init=8, classes=10),
                    "image"),
    "bert-base": (Bert, {}, dict(SMALL_T, ffn=64), "bert"),
    "gpt2-medium": (GPT2, {}, SMALL_T, "gpt2"),
}


def _inputs(kind: str, size: str):
    g = torch.Generator().manual_seed(0)
    if kind == "image":
        # 224 x 224 at both sizes: the exporter maps adaptive pooling to 6x6 (AlexNet) or 7x7
        # (VGG) only when the feature map is a multiple of it
        return (torch.randn(1, 3, 224, 224, generator=g),), ["input"], ["logits"]
    seq = 128 if size == "full" else 8
    ids = torch.randint(0, 50, (1, seq), generator=g)
    if kind == "bert":
        mask = torch.ones(1, seq, dtype=torch.int64)
        mask[:, seq - seq // 4:] = 0
        return (ids, mask), ["input_ids", "attention_mask"], ["last_hidden_state",
                                                              "pooler_output"]
    return (ids,), ["input_ids"], ["logits"]


def export(name: str, out: Path, size: str, exporter: str) -> Path:
    make, full, small, kind = MODELS[name]
    torch.manual_seed(0)
    model = make(**(full if size == "full" else small)).eval()
    for m in model.modules():  # give BatchNorm statistics that are not the identity
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    args, in_names, out_names = _inputs(kind, size)
    folder = out / name
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "model.onnx"
    with torch.no_grad():
        if exporter == "dynamo":
            prog = torch.onnx.export(model, args, input_names=in_names, output_names=out_names,
                                     opset_version=18, dynamo=True)
            prog.save(str(path), external_data=True)
        else:
            torch.onnx.export(model, args, str(path), input_names=in_names,
                              output_names=out_names, opset_version=17, dynamo=False,
                              dynamic_axes={n: {0: "batch"} for n in in_names + out_names})
            proto = onnx.load(str(path))
            onnx.save(proto, str(path), save_as_external_data=True, location="model.data")
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--size", choices=("small", "full"), default="small")
    ap.add_argument("--exporter", choices=("torchscript", "dynamo"), default="torchscript")
    ap.add_argument("--models", default=",".join(MODELS))
    args = ap.parse_args()
    for name in args.models.split(","):
        print(f"{name}: {export(name, args.out, args.size, args.exporter)}")


if __name__ == "__main__":
    main()
