"""GridSample, AffineGrid and Col2Im (imcc/passes/composite_sample.py) compiled for the ideal
chip and run on the reference machine, against onnx's reference evaluator (grids that reach
past the image, several folds of reflection, every mode, padding mode and alignment; blocks
with strides, dilations and pads) and against PyTorch's ``grid_sample`` and ``fold``."""

import numpy as np
import pytest

from tests.compiler.helpers import check, helper, make_model, reference, run_compiled

F = np.float32
R = np.random.default_rng(5)


def _model(x_shape, grid_shape, opset=20, **attrs):
    node = helper.make_node("GridSample", ["x", "grid"], ["y"], **attrs)
    out = [x_shape[0], x_shape[1], *grid_shape[1:-1]]
    return make_model([node], [("x", F, x_shape), ("grid", F, grid_shape)], [("y", F, out)],
                      opset=opset)


def _grid(shape, reach):
    g = R.uniform(-reach, reach, shape).astype(F)
    g.flat[::7] = np.round(g.flat[::7] * 4) / 4  # exact halves and quarters: ties of rounding
    return g


@pytest.mark.parametrize("mode", ["nearest", "linear", "cubic"])
@pytest.mark.parametrize("padding", ["zeros", "border", "reflection"])
@pytest.mark.parametrize("align", [0, 1])
def test_grid_sample_2d(mode, padding, align, tmp_path):
    x = R.standard_normal((2, 3, 5, 6)).astype(F)
    grid = _grid((2, 4, 7, 2), 3.5)  # up to 3.5: reflection folds more than once
    m = _model(x.shape, grid.shape, mode=mode, padding_mode=padding, align_corners=align)
    check(m, {"x": x, "grid": grid}, tmp_path, tol=1e-5)


@pytest.mark.parametrize("mode", ["nearest", "linear", "cubic"])
@pytest.mark.parametrize("padding", ["zeros", "reflection"])
def test_grid_sample_3d_and_1d(mode, padding, tmp_path):
    x = R.standard_normal((1, 2, 3, 4, 5)).astype(F)
    grid = _grid((1, 2, 3, 4, 3), 1.4)
    m = _model(x.shape, grid.shape, mode=mode, padding_mode=padding, align_corners=1)
    check(m, {"x": x, "grid": grid}, tmp_path, tol=1e-5)
    x1 = R.standard_normal((2, 2, 6)).astype(F)
    grid1 = _grid((2, 5, 1), 1.8)
    m1 = _model(x1.shape, grid1.shape, mode=mode, padding_mode=padding)
    check(m1, {"x": x1, "grid": grid1}, tmp_path, tol=1e-5)


@pytest.mark.parametrize("mode", ["bilinear", "bicubic", "nearest"])
def test_grid_sample_opset16_names(mode, tmp_path):
    """Opset 16's ``bilinear`` and ``bicubic`` are opset 20's ``linear`` and ``cubic``: the
    same values (and the reference evaluator's opset-16 kernel agrees)."""
    x = R.standard_normal((1, 2, 4, 4)).astype(F)
    grid = _grid((1, 3, 3, 2), 1.2)
    m16 = _model(x.shape, grid.shape, opset=16, mode=mode, padding_mode="border")
    got, _ = run_compiled(m16, {"x": x, "grid": grid}, tmp_path)
    new = {"bilinear": "linear", "bicubic": "cubic"}.get(mode, mode)
    m20 = _model(x.shape, grid.shape, mode=new, padding_mode="border")
    np.testing.assert_allclose(got[0], reference(m20, {"x": x, "grid": grid})[0],
                               rtol=1e-5, atol=1e-6)


def test_grid_sample_on_borders_and_corners(tmp_path):
    """A coordinate exactly on each border and the image's corners."""
    x = R.standard_normal((1, 1, 3, 3)).astype(F)
    pts = np.array([-1, -0.5, 0, 0.5, 1, -1 - 1 / 3, 1 + 1 / 3], F)
    grid = np.stack(np.meshgrid(pts, pts), -1)[None].astype(F)
    for align in (0, 1):
        for padding in ("zeros", "border", "reflection"):
            m = _model(x.shape, grid.shape, mode="linear", padding_mode=padding,
                       align_corners=align)
            check(m, {"x": x, "grid": grid}, tmp_path, tol=1e-6)


@pytest.mark.parametrize("dynamo", [False, True])
def test_pytorch_spatial_transformer_export(dynamo, tmp_path):
    """A spatial transformer (affine grid from a Linear, then ``F.grid_sample``) exported by
    both of PyTorch's exporters, against PyTorch's own output."""
    torch = pytest.importorskip("torch")
    import imcc

    class STN(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.loc = torch.nn.Linear(2 * 6 * 6, 6)

        def forward(self, x):
            theta = self.loc(x.flatten(1)).view(-1, 2, 3)
            b, c, h, w = x.shape
            ys, xs = torch.linspace(-1, 1, h), torch.linspace(-1, 1, w)
            base = torch.stack([xs.expand(h, w), ys[:, None].expand(h, w), torch.ones(h, w)], -1)
            grid = (base.view(1, h * w, 3) @ theta.transpose(1, 2)).view(b, h, w, 2)
            return torch.nn.functional.grid_sample(x, grid, mode="bilinear",
                                                   padding_mode="reflection",
                                                   align_corners=False)

    torch.manual_seed(0)
    model = STN().eval()
    x = torch.randn(2, 2, 6, 6)
    path = tmp_path / "stn.onnx"
    with torch.no_grad():
        if dynamo:
            torch.onnx.export(model, (x,), dynamo=True).save(path)
        else:
            torch.onnx.export(model, (x,), path, dynamo=False, opset_version=17)
        want = model(x).numpy()
    prog = imcc.compile(path, "ideal")
    got = next(iter(prog.run(x.numpy()).values()))
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("size", [(2, 3, 4, 5), (2, 1, 1, 3), (2, 2, 3, 4, 2)])
@pytest.mark.parametrize("align", [0, 1])
def test_affine_grid_then_grid_sample(size, align, tmp_path):
    """AffineGrid with a constant size (pixel centres or corners, an axis of one pixel) and the
    grid it makes sampling an image, against the reference evaluator."""
    r = len(size) - 2
    theta = R.standard_normal((size[0], r, r + 1)).astype(F)
    x = R.standard_normal(size).astype(F)
    nodes = [helper.make_node("AffineGrid", ["theta", "size"], ["grid"], align_corners=align),
             helper.make_node("GridSample", ["x", "grid"], ["y"], align_corners=align,
                              padding_mode="border")]
    m = make_model(nodes, [("theta", F, theta.shape), ("x", F, size)],
                   [("grid", F, None), ("y", F, None)],
                   inits={"size": np.array(size, np.int64)}, opset=20)
    check(m, {"theta": theta, "x": x}, tmp_path, tol=1e-5)


def test_affine_grid_with_a_runtime_size_names_the_input_to_bind(tmp_path):
    """A size fed at run time is refused with the input to bind (``--const``); bound, the
    backend runs it."""
    import imcc
    from imcc.backend import ImccBackend

    node = helper.make_node("AffineGrid", ["theta", "size"], ["grid"])
    m = make_model([node], [("theta", F, (1, 2, 3)), ("size", np.int64, (4,))],
                   [("grid", F, (1, 3, 5, 2))], opset=20)
    with pytest.raises(imcc.Error, match="size"):
        imcc.compile(m.SerializeToString(), "ideal")
    theta = R.standard_normal((1, 2, 3)).astype(F)
    size = np.array([1, 1, 3, 5], np.int64)
    got = ImccBackend.prepare(m).run([theta, size])[0]
    np.testing.assert_allclose(got, reference(m, {"theta": theta, "size": size})[0],
                               rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("image,block,attrs", [
    ((5, 6), (2, 3), {}),
    ((6, 7), (3, 2), {"strides": [2, 3], "dilations": [1, 2], "pads": [1, 0, 2, 1]}),
    ((9,), (3,), {"strides": [2], "pads": [1, 1]}),
    ((4, 3, 5), (2, 1, 3), {"dilations": [2, 1, 1], "pads": [0, 1, 1, 1, 0, 0]}),
])
def test_col2im(image, block, attrs, tmp_path):
    r = len(image)
    st, dl = attrs.get("strides", [1] * r), attrs.get("dilations", [1] * r)
    pd = attrs.get("pads", [0] * 2 * r)
    blocks = [(image[i] + pd[i] + pd[i + r] - dl[i] * (block[i] - 1) - 1) // st[i] + 1
              for i in range(r)]
    x = R.standard_normal((2, 3 * int(np.prod(block)), int(np.prod(blocks)))).astype(F)
    node = helper.make_node("Col2Im", ["x", "image", "block"], ["y"], **attrs)
    m = make_model([node], [("x", F, x.shape)], [("y", F, [2, 3, *image])],
                   inits={"image": np.array(image, np.int64),
                          "block": np.array(block, np.int64)})
    check(m, {"x": x}, tmp_path, tol=1e-5)


def test_col2im_against_pytorch_fold(tmp_path):
    """``torch.nn.functional.fold`` is Col2Im: an oracle of its own."""
    torch = pytest.importorskip("torch")
    x = R.standard_normal((1, 2 * 6, 3 * 2)).astype(F)  # 3 x 2 blocks
    node = helper.make_node("Col2Im", ["x", "image", "block"], ["y"], strides=[2, 1],
                            dilations=[1, 2], pads=[1, 0, 1, 0])
    m = make_model([node], [("x", F, x.shape)], [("y", F, [1, 2, 5, 6])],
                   inits={"image": np.array([5, 6], np.int64),
                          "block": np.array([2, 3], np.int64)})
    want = torch.nn.functional.fold(torch.from_numpy(x), (5, 6), (2, 3), dilation=(1, 2),
                                    padding=(1, 0), stride=(2, 1)).numpy()
    got, _ = run_compiled(m, {"x": x}, tmp_path)
    np.testing.assert_allclose(got[0], want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("group,offset_group,attrs,with_mask", [
    (1, 1, {}, False),
    (2, 2, {"strides": [2, 1], "pads": [1, 1, 1, 0], "dilations": [1, 2]}, True),
    (1, 2, {"pads": [1, 1, 1, 1]}, True),
])
def test_deform_conv(group, offset_group, attrs, with_mask, tmp_path):
    """Offsets that move taps between pixels and off the image, against onnx's reference
    evaluator; the weights' products are IMC operations."""
    x = R.standard_normal((2, 4, 5, 6)).astype(F)
    w = R.standard_normal((6, 4 // group, 2, 3)).astype(F)
    b = R.standard_normal(6).astype(F)
    st, dl = attrs.get("strides", [1, 1]), attrs.get("dilations", [1, 1])
    pd = attrs.get("pads", [0, 0, 0, 0])
    oh = (5 + pd[0] + pd[2] - dl[0] * 1 - 1) // st[0] + 1
    ow = (6 + pd[1] + pd[3] - dl[1] * 2 - 1) // st[1] + 1
    off = (R.standard_normal((2, offset_group * 6 * 2, oh, ow)) * 1.5).astype(F)
    ins, inputs, feeds = ["x", "w", "off", "b"], [("x", F, x.shape), ("off", F, off.shape)], \
        {"x": x, "off": off}
    if with_mask:
        ins.append("mask")
        inputs.append(("mask", F, (2, offset_group * 6, oh, ow)))
        feeds["mask"] = R.uniform(0, 1, (2, offset_group * 6, oh, ow)).astype(F)
    node = helper.make_node("DeformConv", ins, ["y"], group=group, offset_group=offset_group,
                            kernel_shape=[2, 3], **attrs)
    m = make_model([node], inputs, [("y", F, (2, 6, oh, ow))], inits={"w": w, "b": b},
                   opset=19)
    res = check(m, feeds, tmp_path, tol=1e-5)
    assert res.report["partition"]["imc"] >= 1


@pytest.mark.parametrize("mode", ["avg", "max"])
@pytest.mark.parametrize("coords,opset", [("half_pixel", 16), ("output_half_pixel", 16),
                                          (None, 10)])  # opset 10: no half-pixel offset
def test_roi_align(mode, coords, opset, tmp_path):
    """ROIs inside, across and past the image's edges, small and inverted (forced 1 x 1
    without the half-pixel offset), against onnx's reference evaluator; opset 10 (before the
    half-pixel offset was the default) against onnxruntime, whose RoiAlign-10 has none (the
    reference evaluator applies opset 16's default to it)."""
    x = R.standard_normal((2, 3, 6, 7)).astype(F)
    rois = np.array([[0.5, 1.0, 4.0, 5.5], [-2.0, -1.0, 3.0, 2.0], [5.0, 4.0, 9.0, 8.0],
                     [2.0, 2.0, 2.2, 2.1], [3.0, 3.0, 1.0, 1.0]], F)
    idx = np.array([0, 1, 1, 0, 1], np.int64)
    attrs = dict(mode=mode, output_height=3, output_width=2, sampling_ratio=2,
                 spatial_scale=0.9)
    if coords:
        attrs["coordinate_transformation_mode"] = coords
    node = helper.make_node("RoiAlign", ["x", "rois", "idx"], ["y"], **attrs)
    m = make_model([node], [("x", F, x.shape), ("rois", F, rois.shape),
                            ("idx", np.int64, idx.shape)], [("y", F, (5, 3, 3, 2))],
                   opset=opset)
    feeds = {"x": x, "rois": rois, "idx": idx}
    if opset >= 16:
        check(m, feeds, tmp_path, tol=1e-5)
        return
    import onnxruntime as ort

    want = ort.InferenceSession(m.SerializeToString(),
                                providers=["CPUExecutionProvider"]).run(None, feeds)[0]
    got, _ = run_compiled(m, feeds, tmp_path)
    np.testing.assert_allclose(got[0], want, rtol=1e-5, atol=1e-5)
    attrs["coordinate_transformation_mode"] = "output_half_pixel"  # the same at opset 16
    m16 = make_model([helper.make_node("RoiAlign", ["x", "rois", "idx"], ["y"], **attrs)],
                     [("x", F, x.shape), ("rois", F, rois.shape), ("idx", np.int64, idx.shape)],
                     [("y", F, (5, 3, 3, 2))], opset=16)
    np.testing.assert_allclose(got[0], reference(m16, feeds)[0], rtol=1e-5, atol=1e-5)


def test_roi_align_with_an_adaptive_grid_is_refused_with_the_fix(tmp_path):
    import imcc

    node = helper.make_node("RoiAlign", ["x", "rois", "idx"], ["y"], output_height=2,
                            output_width=2)
    m = make_model([node], [("x", F, (1, 1, 4, 4)), ("rois", F, (1, 4)),
                            ("idx", np.int64, (1,))], [("y", F, (1, 1, 2, 2))], opset=16)
    with pytest.raises(imcc.Error, match="sampling_ratio of 1 or more"):
        imcc.compile(m.SerializeToString(), "ideal")
