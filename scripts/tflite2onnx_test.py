#!/usr/bin/python3
"""Tests of tflite2onnx.py on small TFLite models built here, for what MobileFaceNet does not use.

MobileFaceNet itself (its exact bytes and embeddings) is tested by vision's TestConverterMatchesMirror.
Run: python3 -B -m unittest discover -s scripts -p '*_test.py' (make test-scripts).
"""

import os
import sys
import unittest

import flatbuffers
import numpy as np

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tflite2onnx as conv  # noqa: E402

TANH, MAX_POOL_2D, INT8 = 4, 17, 9
# BuiltinOptions union types (schema.fbs): the options table each operator carries.
CONV_OPTIONS, DEPTHWISE_OPTIONS, ADD_OPTIONS, MUL_OPTIONS, SUB_OPTIONS = 1, 2, 11, 21, 28


def tensor(name, shape, data=None, kind=conv.TENSOR_FLOAT32, scale=None):
    """A tensor description for build(): data (a float array) makes it constant."""
    return {"name": name, "shape": shape, "data": data, "kind": kind, "scale": scale}


def op(code, inputs, outputs, options_type=0, options=()):
    """An operator description for build(): options are (field id, int32 or int8 flags, value)."""
    return {"code": code, "inputs": inputs, "outputs": outputs, "type": options_type, "options": options}


def build(tensors, ops, inputs, outputs):
    """A TFLite flatbuffer (schema.fbs field ids, as the converter reads them) of one subgraph."""
    b = flatbuffers.Builder(1024)

    def table(fields):
        b.StartObject(8)
        for field, kind, value in fields:
            if kind == "offset":
                b.PrependUOffsetTRelativeSlot(field, value, 0)
            elif kind == "i32":
                b.PrependInt32Slot(field, value, -1)
            elif kind == "u32":
                b.PrependUint32Slot(field, value, 0xFFFFFFFF)
            else:
                b.PrependInt8Slot(field, value, -1)
        return b.EndObject()

    def tables(offsets):
        b.StartVector(4, len(offsets), 4)
        for o in reversed(offsets):
            b.PrependUOffsetTRelative(o)
        return b.EndVector()

    def ints(values):
        return b.CreateNumpyVector(np.array(values, "<i4"))

    buffers = [table([])]
    tensor_offsets = []
    for t in tensors:
        buffer = 0
        if t["data"] is not None:
            buffers.append(table([(0, "offset", b.CreateByteVector(np.asarray(t["data"], "<f4").tobytes()))]))
            buffer = len(buffers) - 1
        fields = [(0, "offset", ints(t["shape"])), (1, "i8", t["kind"]), (2, "u32", buffer),
                  (3, "offset", b.CreateString(t["name"]))]
        if t["scale"] is not None:
            fields.append((4, "offset", table([(2, "offset", b.CreateNumpyVector(np.array([t["scale"]], "<f4")))])))
        tensor_offsets.append(table(fields))
    codes = sorted({o["code"] for o in ops})
    op_offsets = []
    for o in ops:
        fields = [(0, "u32", codes.index(o["code"])), (1, "offset", ints(o["inputs"])), (2, "offset", ints(o["outputs"]))]
        if o["type"]:
            fields += [(3, "i8", o["type"]), (4, "offset", table(list(o["options"])))]
        op_offsets.append(table(fields))
    subgraph = table([(0, "offset", tables(tensor_offsets)), (1, "offset", ints(inputs)), (2, "offset", ints(outputs)),
                      (3, "offset", tables(op_offsets))])
    code_offsets = [table([(0, "i8", min(c, 127)), (3, "i32", c)]) for c in codes]
    model = table([(0, "u32", 3), (1, "offset", tables(code_offsets)), (2, "offset", tables([subgraph])),
                   (4, "offset", tables(buffers))])
    b.Finish(model, file_identifier=b"TFL3")
    return bytes(b.Output())


RNG = np.random.default_rng(1)
CONV_W = RNG.standard_normal((3, 3, 3, 2)).astype("<f4")  # OHWI: 3 outputs, 3x3, 2 inputs
DW_W = RNG.standard_normal((1, 3, 3, 3)).astype("<f4")  # 1HWC
SLOPE = np.array([0.1, 0.2, 0.3], "<f4")


def conv_options(padding, stride, act, depthwise=False):
    """Conv2DOptions / DepthwiseConv2DOptions fields (depthwise adds depth_multiplier as field 3)."""
    fields = [(0, "i8", padding), (1, "i32", stride), (2, "i32", stride)]
    if depthwise:
        return fields + [(3, "i32", 1), (4, "i8", act)]
    return fields + [(3, "i8", act)]


def small_net(conv_act=conv.ACT_RELU6, dw_act=conv.ACT_RELU, quantized=False, conv_code=conv.CONV_2D):
    """input [2,5,5,2] -> CONV_2D 3x3/2 SAME -> DEPTHWISE_CONV_2D 3x3 VALID -> PRELU -> RESHAPE [2,3]."""
    tensors = [
        tensor("input", [2, 5, 5, 2]),
        tensor("conv/weights", [3, 3, 3, 2], CONV_W, scale=0.5 if quantized else None),
        tensor("conv/bias", [3], np.arange(3)),
        tensor("conv/out", [2, 3, 3, 3]),
        tensor("dw/weights", [1, 3, 3, 3], DW_W),
        tensor("dw/bias", [3], np.zeros(3)),
        tensor("dw/out", [2, 1, 1, 3]),
        tensor("prelu/alpha", [1, 1, 3], SLOPE),
        tensor("prelu/out", [2, 1, 1, 3]),
        tensor("embeddings", [2, 3]),
    ]
    ops = [
        op(conv_code, [0, 1, 2], [3], CONV_OPTIONS, conv_options(conv.PADDING_SAME, 2, conv_act)),
        op(conv.DEPTHWISE_CONV_2D, [3, 4, 5], [6], DEPTHWISE_OPTIONS,
           conv_options(conv.PADDING_VALID, 1, dw_act, depthwise=True)),
        op(conv.PRELU, [6, 7], [8]),
        op(conv.RESHAPE, [8], [9]),
    ]
    return build(tensors, ops, [0], [9])


def tf_prelu_net(extra_use=False):
    """input [1,2,2,3] -> relu(x) + c*(x - abs(x)); with extra_use, abs(x) is also a graph output."""
    tensors = [tensor("x", [1, 2, 2, 3]), tensor("relu", [1, 2, 2, 3]), tensor("abs", [1, 2, 2, 3]),
               tensor("sub", [1, 2, 2, 3]), tensor("c", [3], SLOPE / 2), tensor("mul", [1, 2, 2, 3]),
               tensor("add", [1, 2, 2, 3])]
    ops = [op(conv.RELU, [0], [1]), op(conv.ABS, [0], [2]), op(conv.SUB, [0, 2], [3], SUB_OPTIONS),
           op(conv.MUL, [4, 3], [5], MUL_OPTIONS), op(conv.ADD, [1, 5], [6], ADD_OPTIONS)]
    return build(tensors, ops, [0], [6, 2] if extra_use else [6])


def initializers(model):
    return {i.name: conv.numpy_helper.to_array(i) for i in model.graph.initializer}


class ConvertTest(unittest.TestCase):
    def test_layers(self):
        model = conv.convert(small_net())
        nodes = model.graph.node
        self.assertEqual([n.op_type for n in nodes], ["Conv", "Clip", "Conv", "Relu", "PRelu", "Transpose", "Flatten"])
        attrs = {n.name: {a.name: conv.helper.get_attribute_value(a) for a in n.attribute} for n in nodes}
        # SAME, 5 -> 3 with stride 2 and kernel 3: 2 pixels of padding, one on each side.
        self.assertEqual(attrs["conv/out_preact"]["pads"], [1, 1, 1, 1])
        self.assertEqual(attrs["conv/out_preact"]["group"], 1)
        self.assertEqual(attrs["dw/out_preact"]["pads"], [0, 0, 0, 0])
        self.assertEqual(attrs["dw/out_preact"]["group"], 3)
        init = initializers(model)
        np.testing.assert_array_equal(init["conv/out_W"], CONV_W.transpose(0, 3, 1, 2))
        np.testing.assert_array_equal(init["dw/out_W"], DW_W.transpose(3, 0, 1, 2))
        self.assertEqual((init["conv/out_min"].shape, init["conv/out_min"], init["conv/out_max"]), ((), 0, 6))
        np.testing.assert_array_equal(init["prelu/out_slope"], SLOPE.reshape(3, 1, 1))
        dims = lambda v: [d.dim_value for d in v.type.tensor_type.shape.dim]  # noqa: E731
        self.assertEqual(dims(model.graph.input[0]), [1, 2, 5, 5])
        self.assertEqual(dims(model.graph.output[0]), [1, 3])
        self.assertEqual((model.ir_version, model.opset_import[0].version, model.producer_name),
                         (conv.IR_VERSION, conv.OPSET, conv.PRODUCER))

    def test_deterministic(self):
        data = small_net()
        self.assertEqual(conv.convert(data).SerializeToString(), conv.convert(data).SerializeToString())

    def test_tf_prelu_folded(self):
        model = conv.convert(tf_prelu_net())
        self.assertEqual([(n.op_type, n.name) for n in model.graph.node], [("PRelu", "add")])
        np.testing.assert_array_equal(initializers(model)["add_slope"], SLOPE.reshape(3, 1, 1))

    def test_tf_prelu_kept_when_shared(self):
        model = conv.convert(tf_prelu_net(extra_use=True))
        self.assertEqual([n.op_type for n in model.graph.node], ["Relu", "Abs", "Sub", "Mul", "Add"])
        np.testing.assert_array_equal(initializers(model)["c"], (SLOPE / 2).reshape(3, 1, 1))

    def test_refused(self):
        quantized = build([tensor("x", [1, 2, 2, 3], kind=INT8), tensor("y", [1, 2, 2, 3], kind=INT8)],
                          [op(conv.RELU, [0], [1])], [0], [1])
        no_bias = build([tensor("x", [1, 4, 4, 2]), tensor("w", [3, 3, 3, 2], CONV_W), tensor("y", [1, 4, 4, 3])],
                        [op(conv.CONV_2D, [0, 1, -1], [2], CONV_OPTIONS, conv_options(conv.PADDING_SAME, 1, 0))],
                        [0], [2])
        cases = {
            "quantized weights": (small_net(quantized=True), "tensor 'conv/weights' is quantized"),
            "int8 tensors": (quantized, "tensor 'x' has type 9"),
            "fused TANH": (small_net(conv_act=TANH), "'conv/out': fused activation 4"),
            "unknown operator": (small_net(conv_code=MAX_POOL_2D), "has code 17"),
            "optional bias": (no_bias, "refers to tensor -1"),
            "not a TFLite file": (b"\x00" * 64, "not a TFLite model"),
            "truncated": (small_net()[:200], "not a readable TFLite model"),
        }
        for name, (data, message) in cases.items():
            with self.subTest(name):
                with self.assertRaises(conv.ConvertError) as caught:
                    conv.convert(data)
                self.assertIn(message, str(caught.exception))


if __name__ == "__main__":
    unittest.main()
