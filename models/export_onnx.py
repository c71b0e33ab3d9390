"""`python -m models.export_onnx`: the shipped Keras models written as ONNX files for the workers.

Training writes Keras files (`digits.keras`, `strings.keras`); the workers read their ONNX
twins on ONNX Runtime, so a worker never imports TensorFlow. The graph is built here layer by
layer with `onnx.helper`, for exactly the layer types the two networks use (anything else
raises): convolutions run channels-first as ONNX wants, batch norms are folded into the
convolution or dense layer before them, dropout is dropped, and the bidirectional GRU becomes
one ONNX GRU (gates z, r, h in both; Keras' reset_after=True is linear_before_reset=1). Each
file records the sha256 of the Keras file it came from (metadata "source").
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # both are imported when exporting only
    import keras
    import onnx

WEIGHTS = Path(__file__).resolve().parent / "weights"
MODELS = ("digits", "strings", "strings_pages")  # weights/<name>.keras -> weights/<name>.onnx
OPSET = 17  # ONNX operator set: GRU, Softmax on one axis; well inside what onnxruntime runs
IR_VERSION = 8  # the ONNX file format version matching OPSET
INPUT_DIMS = ("N", "H", "W", "C")  # names of the input's dynamic dimensions (N, and W for lines)
OUTPUT_DIMS = ("N", "T", "K")  # of the output's: N, and T (frames) for lines
TO_CHANNELS_FIRST = (0, 3, 1, 2)  # NHWC -> NCHW
TO_CHANNELS_LAST = (0, 2, 3, 1)  # NCHW -> NHWC


class _Graph:
    """Nodes and weights of the ONNX graph being built, with fresh tensor names."""

    def __init__(self) -> None:
        self.nodes: list = []
        self.weights: list = []
        self._count = 0

    def name(self, hint: str) -> str:
        self._count += 1
        return f"{hint}_{self._count}"

    def const(self, hint: str, value: np.ndarray) -> str:
        from onnx import numpy_helper

        name = self.name(hint)
        self.weights.append(numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def op(self, op_type: str, inputs: list[str], hint: str, output: str | None = None,
           **attrs: object) -> str:
        from onnx import helper

        output = output or self.name(hint)
        self.nodes.append(helper.make_node(op_type, inputs, [output], name=self.name(op_type), **attrs))
        return output


def _chain(model: keras.Model) -> list[keras.Layer]:
    """The model's layers after its input, checked to form a single chain."""
    layers = model.layers[1:]
    previous = model.layers[0]
    for layer in layers:
        if layer.input is not previous.output:
            raise NotImplementedError(f"{model.name}: {layer.name} does not follow {previous.name}")
        previous = layer
    return layers


def _same_pads(kernel: tuple[int, int]) -> list[int]:
    """ONNX pads (top, left, bottom, right) of Keras' padding="same" at stride 1."""
    top, left = ((k - 1) // 2 for k in kernel)
    return [top, left, kernel[0] - 1 - top, kernel[1] - 1 - left]


def _conv(g: _Graph, x: str, layer: keras.Layer, norm: keras.Layer | None) -> str:
    """A Conv2D (NCHW here), with the batch norm `norm` after it folded in."""
    from models.network import _folded

    config = layer.get_config()
    if config["strides"] != (1, 1) or config["dilation_rate"] != (1, 1) or config["groups"] != 1:
        raise NotImplementedError(f"{layer.name}: only stride 1, dilation 1, one group")
    kernel, bias = _folded(layer, norm) if norm is not None else (
        np.asarray(layer.kernel), np.asarray(layer.bias) if layer.use_bias else None)
    size = tuple(config["kernel_size"])
    pads = _same_pads(size) if config["padding"] == "same" else [0, 0, 0, 0]
    inputs = [x, g.const("kernel", kernel.transpose(3, 2, 0, 1))]  # HWIO -> OIHW
    if bias is not None:
        inputs.append(g.const("bias", bias))
    return _activation(g, g.op("Conv", inputs, "conv", kernel_shape=list(size), pads=pads), layer)


def _dense(g: _Graph, x: str, layer: keras.Layer, norm: keras.Layer | None) -> str:
    """A Dense layer on the last axis, with the batch norm `norm` after it folded in."""
    from models.network import _folded

    kernel, bias = _folded(layer, norm) if norm is not None else (
        np.asarray(layer.kernel), np.asarray(layer.bias) if layer.use_bias else None)
    y = g.op("MatMul", [x, g.const("kernel", kernel)], "dense")
    if bias is not None:
        y = g.op("Add", [y, g.const("bias", bias)], "dense")
    return _activation(g, y, layer)


def _activation(g: _Graph, x: str, layer: keras.Layer) -> str:
    """A Conv2D's or Dense layer's own activation (linear or relu)."""
    activation = layer.get_config().get("activation", "linear")
    if activation == "linear":
        return x
    if activation == "relu":
        return g.op("Relu", [x], "relu")
    raise NotImplementedError(f"{layer.name}: activation {activation!r}")


def _bidirectional_gru(g: _Graph, x: str, layer: keras.Layer) -> str:
    """(N, T, C) -> (N, T, 2 units): Keras' forward and backward GRUs as one ONNX GRU."""
    cells = (layer.forward_layer, layer.backward_layer)
    for cell in cells:
        c = cell.get_config()
        if not (c["reset_after"] and c["use_bias"] and c["activation"] == "tanh"
                and c["recurrent_activation"] == "sigmoid" and c["return_sequences"]):
            raise NotImplementedError(f"{cell.name}: only reset_after GRUs with bias, tanh, sigmoid")
    if layer.get_config()["merge_mode"] != "concat":
        raise NotImplementedError(f"{layer.name}: only merge_mode='concat'")
    units = cells[0].units
    kernel, recurrent, bias = (np.stack([np.asarray(getattr(c.cell, weight)) for c in cells])
                               for weight in ("kernel", "recurrent_kernel", "bias"))
    w = g.const("gru_w", kernel.transpose(0, 2, 1))  # (2, C, 3u) -> (2, 3u, C); gates z, r, h
    r = g.const("gru_r", recurrent.transpose(0, 2, 1))
    b = g.const("gru_b", bias.reshape(2, 6 * units))  # [input bias; recurrent bias] = [Wb, Rb]
    time_major = g.op("Transpose", [x], "time_major", perm=[1, 0, 2])
    y = g.op("GRU", [time_major, w, r, b], "gru", hidden_size=units, direction="bidirectional",
             linear_before_reset=1)  # (T, 2, N, u)
    y = g.op("Transpose", [y], "batch_major", perm=[2, 0, 1, 3])  # (N, T, 2, u)
    return g.op("Reshape", [y, g.const("shape", np.array([0, 0, -1], np.int64))], "concat")


def build_onnx(model: keras.Model, source: str = "") -> onnx.ModelProto:
    """The ONNX twin of a chain-shaped Keras model of Conv2D, BatchNormalization, ReLU,
    MaxPooling2D, Flatten, Reshape, Dropout, Bidirectional GRU, Dense, Rescaling, Softmax."""
    import onnx
    from keras import layers as kl
    from onnx import TensorProto, helper

    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise NotImplementedError(f"{model.name}: only one input and one output")
    g = _Graph()
    input_name, output_name = model.inputs[0].name, model.output_names[0]
    dims = [INPUT_DIMS[i] if d is None else d for i, d in enumerate(model.input_shape)]
    x, channels_first = input_name, False
    chain = [layer for layer in _chain(model) if not isinstance(layer, kl.Dropout)]
    index = 0
    while index < len(chain):
        layer = chain[index]
        following = chain[index + 1] if index + 1 < len(chain) else None
        norm = following if isinstance(following, kl.BatchNormalization) else None
        index += 2 if norm is not None and isinstance(layer, (kl.Conv2D, kl.Dense)) else 1
        spatial = isinstance(layer, (kl.Conv2D, kl.MaxPooling2D, kl.ReLU))
        if spatial and not channels_first and len(layer.input.shape) == 4:
            x, channels_first = g.op("Transpose", [x], "nchw", perm=list(TO_CHANNELS_FIRST)), True
        elif not spatial and channels_first:
            x, channels_first = g.op("Transpose", [x], "nhwc", perm=list(TO_CHANNELS_LAST)), False
        if isinstance(layer, kl.Conv2D):
            x = _conv(g, x, layer, norm)
        elif isinstance(layer, kl.Dense):
            x = _dense(g, x, layer, norm)
        elif isinstance(layer, kl.ReLU):
            c = layer.get_config()
            if c["negative_slope"] or c["max_value"] is not None or c["threshold"]:
                raise NotImplementedError(f"{layer.name}: only a plain ReLU")
            x = g.op("Relu", [x], "relu")
        elif isinstance(layer, kl.MaxPooling2D):
            c = layer.get_config()
            if c["padding"] != "valid":
                raise NotImplementedError(f"{layer.name}: only padding='valid'")
            x = g.op("MaxPool", [x], "pool", kernel_shape=list(c["pool_size"]), strides=list(c["strides"]))
        elif isinstance(layer, kl.Flatten):
            x = g.op("Flatten", [x], "flatten", axis=1)
        elif isinstance(layer, kl.Reshape):
            shape = np.array([0, *layer.get_config()["target_shape"]], np.int64)  # 0: keep N
            x = g.op("Reshape", [x, g.const("shape", shape)], "reshape")
        elif isinstance(layer, kl.Bidirectional) and isinstance(layer.forward_layer, kl.GRU):
            x = _bidirectional_gru(g, x, layer)
        elif isinstance(layer, kl.Rescaling):
            c = layer.get_config()
            x = g.op("Mul", [x, g.const("scale", np.array(c["scale"], np.float32))], "rescale")
            if c["offset"]:
                x = g.op("Add", [x, g.const("offset", np.array(c["offset"], np.float32))], "rescale")
        elif isinstance(layer, kl.Softmax) and layer.get_config()["axis"] in (-1, [-1]):
            x = g.op("Softmax", [x], "softmax", axis=-1)
        else:
            raise NotImplementedError(f"{model.name}: no ONNX conversion for {layer.name} "
                                      f"({type(layer).__name__})")
    g.nodes.append(helper.make_node("Identity", [x], [output_name], name="output"))
    out_dims = [OUTPUT_DIMS[i] if d is None else d for i, d in enumerate(model.output_shape)]
    graph = helper.make_graph(
        g.nodes, model.name,
        [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, dims)],
        [helper.make_tensor_value_info(output_name, TensorProto.FLOAT, out_dims)], g.weights)
    onnx_model = helper.make_model(graph, producer_name="models.export_onnx",
                                   opset_imports=[helper.make_opsetid("", OPSET)], ir_version=IR_VERSION)
    if source:
        helper.set_model_props(onnx_model, {"source": source})
    onnx.checker.check_model(onnx_model, full_check=True)
    return onnx_model


def export(keras_path: Path, onnx_path: Path) -> Path:
    """Write `keras_path`'s ONNX twin to `onnx_path`; its "source" metadata names the Keras file."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import onnx

    from models.inference import file_sha256

    model = keras.models.load_model(keras_path, compile=False)
    proto = build_onnx(model, source=f"{keras_path.name}@{file_sha256(keras_path)}")
    onnx_path.parent.mkdir(parents=True, exist_ok=True)
    temporary = onnx_path.with_suffix(".onnx.tmp")
    onnx.save_model(proto, temporary)
    temporary.replace(onnx_path)  # a reader never sees half a file
    return onnx_path


def main(argv: list[str] | None = None) -> list[Path]:
    parser = argparse.ArgumentParser(prog="python -m models.export_onnx", description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="*", metavar="MODEL",
                        help=f"which of {', '.join(MODELS)} to export (default: all)")
    parser.add_argument("--weights-dir", type=Path, default=WEIGHTS)
    args = parser.parse_args(argv)
    unknown = set(args.models) - set(MODELS)
    if unknown:
        parser.error(f"unknown model(s) {', '.join(sorted(unknown))} (known: {', '.join(MODELS)})")
    written = []
    for name in args.models or MODELS:
        path = export(args.weights_dir / f"{name}.keras", args.weights_dir / f"{name}.onnx")
        print(f"wrote {path} ({path.stat().st_size / 1024:.0f} KiB)")
        written.append(path)
    return written


if __name__ == "__main__":
    main()
