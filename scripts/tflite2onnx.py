#!/usr/bin/python3
"""Convert the MobileFaceNet TFLite model to an ONNX file OpenCV 4.6 loads.

Usage: tflite2onnx.py IN.tflite OUT.onnx

The TFLite flatbuffer is read directly (field ids from TensorFlow Lite's schema.fbs), so only
Debian's python3-onnx, python3-flatbuffers and python3-numpy are needed. Only what
MobileFaceNet needs is understood: float32 tensors; CONV_2D, DEPTHWISE_CONV_2D, ADD, SUB, MUL,
RELU, RELU6, ABS, PRELU and RESHAPE; SAME/VALID padding; fused NONE, RELU and RELU6. Anything
else stops the conversion with one error naming it.

The ONNX graph is NCHW with the batch fixed to 1, opset 11, every shape of the graph's inputs
and outputs declared (OpenCV 4.6 refuses an undeclared output shape). TF-style PReLU,
relu(x) + c*(x - abs(x)), is folded into one PRelu with slope 2c. Each node is named after the
TFLite tensor it produces; a convolution's weights and bias are "<node>_W" and "<node>_b", a
PRelu's slope "<node>_slope". The output depends only on the input: the same .tflite gives
the same bytes.
"""

import os
import sys
import tempfile

import flatbuffers
import numpy as np
import onnx
from flatbuffers import number_types as fbn
from flatbuffers.table import Table
from onnx import TensorProto, helper, numpy_helper

PRODUCER = "tflite_mfn2onnx.py"
GRAPH_NAME = "tflite_mfn2onnx"
OPSET = 11
IR_VERSION = 6  # the IR version of opset 11 (ONNX 1.6), which OpenCV 4.6 reads

# BuiltinOperator codes (schema.fbs) this converter understands.
ADD, CONV_2D, DEPTHWISE_CONV_2D, MUL, RELU, RELU6, RESHAPE, SUB, PRELU, ABS = 0, 3, 4, 18, 19, 21, 22, 41, 54, 101
OP_NAMES = {ADD: "ADD", CONV_2D: "CONV_2D", DEPTHWISE_CONV_2D: "DEPTHWISE_CONV_2D", MUL: "MUL", RELU: "RELU",
            RELU6: "RELU6", RESHAPE: "RESHAPE", SUB: "SUB", PRELU: "PRELU", ABS: "ABS"}
# The numbers of inputs each operator may have (RESHAPE's optional second one is its target shape).
ARITY = {ADD: (2,), CONV_2D: (3,), DEPTHWISE_CONV_2D: (3,), MUL: (2,), RELU: (1,), RELU6: (1,), RESHAPE: (1, 2),
         SUB: (2,), PRELU: (2,), ABS: (1,)}
ELEMENTWISE = {ADD: "Add", SUB: "Sub", MUL: "Mul"}
TENSOR_FLOAT32 = 0
PADDING_SAME, PADDING_VALID = 0, 1
ACT_NONE, ACT_RELU, ACT_RELU6 = 0, 1, 3


class ConvertError(Exception):
    """A model this converter cannot convert; the message names what and why."""


class FB:
    """Field access on one flatbuffer table by field id (the order of fields in schema.fbs)."""

    def __init__(self, buf, pos):
        self.t = Table(buf, pos)

    def _off(self, field):
        return self.t.Offset(4 + 2 * field)

    def scalar(self, field, flags, default=0):
        off = self._off(field)
        return self.t.Get(flags, self.t.Pos + off) if off else default

    def table(self, field):
        off = self._off(field)
        return FB(self.t.Bytes, self.t.Indirect(self.t.Pos + off)) if off else None

    def tables(self, field):
        off = self._off(field)
        if not off:
            return []
        start = self.t.Vector(off)
        return [FB(self.t.Bytes, self.t.Indirect(start + 4 * i)) for i in range(self.t.VectorLen(off))]

    def array(self, field, dtype):
        off = self._off(field)
        if not off:
            return np.zeros(0, dtype)
        return np.frombuffer(self.t.Bytes, dtype=dtype, count=self.t.VectorLen(off), offset=self.t.Vector(off))

    def string(self, field):
        off = self._off(field)
        return self.t.String(self.t.Pos + off).decode("utf-8") if off else ""

    def has(self, field):
        return self._off(field) != 0


class TFLiteModel:
    """The one subgraph of a TFLite model: tensors, constant buffers and operators."""

    def __init__(self, data):
        if len(data) < 8 or data[4:8] != b"TFL3":
            raise ConvertError("not a TFLite model (no TFL3 file identifier)")
        model = FB(data, flatbuffers.encode.Get(fbn.UOffsetTFlags.packer_type, data, 0))
        subgraphs = model.tables(2)
        if len(subgraphs) != 1:
            raise ConvertError(f"{len(subgraphs)} subgraphs, only one is supported")
        # OperatorCode: deprecated_builtin_code (byte, 0), custom_code (1), builtin_code (int, 3).
        self.codes = [max(c.scalar(0, fbn.Int8Flags), c.scalar(3, fbn.Int32Flags)) for c in model.tables(1)]
        self.buffers = model.tables(4)
        sg = subgraphs[0]
        self.tensors = sg.tables(0)
        self.inputs = [int(i) for i in sg.array(1, "<i4")]
        self.outputs = [int(i) for i in sg.array(2, "<i4")]
        self.operators = sg.tables(3)

    def name(self, i):
        return self.tensors[i].string(3)

    def shape(self, i):
        return [int(d) for d in self.tensors[i].array(0, "<i4")]

    def check_float(self, i):
        """Refuses a tensor that is not plain float32 (quantized, sparse or another type)."""
        t = self.tensors[i]
        kind = t.scalar(1, fbn.Int8Flags)
        if kind != TENSOR_FLOAT32:
            raise ConvertError(f"tensor {self.name(i)!r} has type {kind} (schema.fbs TensorType), only FLOAT32 is supported")
        q = t.table(4)
        if q is not None and (len(q.array(2, "<f4")) or len(q.array(3, "<i8")) or q.has(5)):
            raise ConvertError(f"tensor {self.name(i)!r} is quantized, only float models are supported")
        if t.has(6):
            raise ConvertError(f"tensor {self.name(i)!r} is sparse, only dense tensors are supported")

    def constant(self, i):
        """The value of constant float32 tensor i, or None when it has no data (an activation)."""
        self.check_float(i)
        b = self.tensors[i].scalar(2, fbn.Uint32Flags)
        if b >= len(self.buffers):
            raise ConvertError(f"tensor {self.name(i)!r} refers to buffer {b} of {len(self.buffers)}")
        if self.buffers[b].has(1):
            raise ConvertError(f"tensor {self.name(i)!r} keeps its data outside the flatbuffer, which is not supported")
        raw = self.buffers[b].array(0, "u1")
        if raw.size == 0:
            return None
        shape = self.shape(i)
        if raw.size != 4 * int(np.prod(shape)):
            raise ConvertError(f"tensor {self.name(i)!r}: {raw.size} bytes of data for shape {shape}")
        return np.frombuffer(raw.tobytes(), dtype="<f4").reshape(shape)


def same_pads(size, kernel, stride, dilation):
    """TensorFlow's SAME padding of one spatial axis as (before, after); the extra pixel goes after."""
    out = (size + stride - 1) // stride
    total = max((out - 1) * stride + (kernel - 1) * dilation + 1 - size, 0)
    return total // 2, total - total // 2


class Converter:
    """Builds the ONNX graph from a TFLiteModel, one TFLite operator after the other."""

    def __init__(self, tfl):
        self.m = tfl
        self.nodes = []
        self.weights = []  # convolution weights and biases, in node order
        self.constants = []  # every other initializer, in node order
        self.producer = {}
        self.consumers = {}
        for k, op in enumerate(tfl.operators):
            self.check(k, op)
            for i in self.op_inputs(op):
                self.consumers.setdefault(i, []).append(k)
            self.producer[self.op_outputs(op)[0]] = k

    def check(self, k, op):
        """Refuses operator k unless it is one this converter knows, with as many tensors as it expects."""
        code, ins, outs = self.code(op), self.op_inputs(op), self.op_outputs(op)
        for i in ins + outs:
            if not 0 <= i < len(self.m.tensors):
                raise ConvertError(f"operator {k} refers to tensor {i} "
                                   f"(optional tensors are not supported; the model has {len(self.m.tensors)})")
        if code not in OP_NAMES:
            raise ConvertError(f"operator {k} (producing {[self.m.name(o) for o in outs]}) has code {code} "
                               "(schema.fbs BuiltinOperator), which is not supported; "
                               f"supported: {', '.join(sorted(OP_NAMES.values()))}")
        if len(ins) not in ARITY[code] or len(outs) != 1:
            raise ConvertError(f"operator {k} ({OP_NAMES[code]}) has {len(ins)} inputs and {len(outs)} outputs")

    @staticmethod
    def op_inputs(op):
        return [int(i) for i in op.array(1, "<i4")]

    @staticmethod
    def op_outputs(op):
        return [int(i) for i in op.array(2, "<i4")]

    def code(self, op):
        index = op.scalar(0, fbn.Uint32Flags)
        if index >= len(self.m.codes):
            raise ConvertError(f"operator refers to operator code {index} of {len(self.m.codes)}")
        return self.m.codes[index]

    def options(self, op, code):
        """The operator's builtin options table, which ops with options must have."""
        opts = op.table(4)
        if opts is None:
            raise ConvertError(f"{OP_NAMES[code]} without its options")
        return opts

    def activation(self, op, code, field):
        """The fused activation (options field id `field`), refusing the ones not understood."""
        act = self.options(op, code).scalar(field, fbn.Int8Flags)
        if act not in (ACT_NONE, ACT_RELU, ACT_RELU6):
            raise ConvertError(f"{OP_NAMES[code]} {self.m.name(self.op_outputs(op)[0])!r}: fused activation {act} "
                               "(schema.fbs ActivationFunctionType) is not supported, only NONE, RELU and RELU6")
        return act

    def emit(self, op_type, inputs, out, act=ACT_NONE, **attrs):
        """Adds node `out` (named after its output), followed by its fused activation if any."""
        if act == ACT_NONE:
            self.nodes.append(helper.make_node(op_type, inputs, [out], name=out, **attrs))
            return
        pre = out + "_preact"
        self.nodes.append(helper.make_node(op_type, inputs, [pre], name=pre, **attrs))
        if act == ACT_RELU:
            self.nodes.append(helper.make_node("Relu", [pre], [out], name=out))
        else:
            self.clip6(pre, out)

    def clip6(self, x, out):
        """Adds Clip(x, 0, 6) as node out (opset 11 takes the bounds as scalar inputs)."""
        self.constant(out + "_min", np.array(0, "<f4"))
        self.constant(out + "_max", np.array(6, "<f4"))
        self.nodes.append(helper.make_node("Clip", [x, out + "_min", out + "_max"], [out], name=out))

    def constant(self, name, value):
        self.constants.append(numpy_helper.from_array(np.array(value, "<f4"), name))

    def conv(self, op, code):
        x, w, b = self.op_inputs(op)
        out = self.m.name(self.op_outputs(op)[0])
        weights, bias = self.m.constant(w), self.m.constant(b)
        if weights is None or bias is None:
            raise ConvertError(f"{OP_NAMES[code]} {out!r}: weights or bias are not constant")
        depthwise = code == DEPTHWISE_CONV_2D
        opts = self.options(op, code)
        stride = (opts.scalar(2, fbn.Int32Flags), opts.scalar(1, fbn.Int32Flags))
        dilation = (opts.scalar(6 if depthwise else 5, fbn.Int32Flags, 1),
                    opts.scalar(5 if depthwise else 4, fbn.Int32Flags, 1))
        act = self.activation(op, code, 4 if depthwise else 3)
        if min(stride + dilation) < 1:
            raise ConvertError(f"{OP_NAMES[code]} {out!r}: strides {stride} and dilations {dilation} must be at least 1")
        if depthwise:
            # TFLite 1HW(C*m) -> ONNX (C*m)1HW, one group per input channel.
            group = self.m.shape(x)[3]
            weights = weights.transpose(3, 0, 1, 2)
        else:
            # TFLite OHWI -> ONNX OIHW.
            group = 1
            weights = weights.transpose(0, 3, 1, 2)
        kernel = weights.shape[2:]
        padding = opts.scalar(0, fbn.Int8Flags)
        if padding == PADDING_SAME:
            (top, bottom), (left, right) = (same_pads(s, k, st, d) for s, k, st, d in
                                            zip(self.m.shape(x)[1:3], kernel, stride, dilation))
            pads = [top, left, bottom, right]
        elif padding == PADDING_VALID:
            pads = [0, 0, 0, 0]
        else:
            raise ConvertError(f"{OP_NAMES[code]} {out!r}: padding {padding} is not supported, only SAME and VALID")
        self.weights.append(numpy_helper.from_array(np.ascontiguousarray(weights, "<f4"), out + "_W"))
        self.weights.append(numpy_helper.from_array(np.ascontiguousarray(bias, "<f4"), out + "_b"))
        self.emit("Conv", [self.m.name(x), out + "_W", out + "_b"], out, act, dilations=list(dilation),
                  group=group, kernel_shape=list(kernel), pads=pads, strides=list(stride))

    def operand(self, i, out, rank):
        """An elementwise operand's ONNX name; a constant of shape [C] broadcast over NCHW becomes [C,1,1]."""
        value = self.m.constant(i)
        if value is None:
            return self.m.name(i)
        if value.ndim > 1:
            raise ConvertError(f"{out!r}: constant operand {self.m.name(i)!r} of shape {list(value.shape)} "
                               "is not supported, only per-channel ([C]) constants")
        self.constant(self.m.name(i), value.reshape(-1, 1, 1) if rank == 4 else value)
        return self.m.name(i)

    def single_use(self, tensor, op):
        """Whether tensor is an intermediate read by op alone (so a fused pattern may drop it)."""
        return self.consumers.get(tensor) == [op] and tensor not in self.m.outputs

    def made_by(self, tensor, code, consumer):
        """The operator (index) that produces tensor with code and no fused activation, if tensor feeds only consumer."""
        k = self.producer.get(tensor)
        if k is None or not self.single_use(tensor, consumer):
            return None
        op = self.m.operators[k]
        if self.code(op) != code:
            return None
        if code in ELEMENTWISE and self.activation(op, code, 0) != ACT_NONE:
            return None
        return k

    def tf_prelu(self, k):
        """Matches relu(x) + c*(x - abs(x)) ending at ADD operator k: (x, c, the other ops' indices) or None."""
        if self.activation(self.m.operators[k], ADD, 0) != ACT_NONE:
            return None
        for relu_out, mul_out in (self.op_inputs(self.m.operators[k]), self.op_inputs(self.m.operators[k])[::-1]):
            r, m = self.made_by(relu_out, RELU, k), self.made_by(mul_out, MUL, k)
            if r is None or m is None:
                continue
            (x,) = self.op_inputs(self.m.operators[r])
            for c, d in (self.op_inputs(self.m.operators[m]), self.op_inputs(self.m.operators[m])[::-1]):
                s = self.made_by(d, SUB, m)
                slope = self.m.constant(c)
                if s is None or slope is None or slope.shape != (self.m.shape(x)[-1],):
                    continue
                sx, sa = self.op_inputs(self.m.operators[s])
                a = self.made_by(sa, ABS, s)
                if sx == x and a is not None and self.op_inputs(self.m.operators[a]) == [x]:
                    return x, 2 * slope, {r, m, s, a}
        return None

    def convert(self):
        folds, fused = {}, set()
        for k, op in enumerate(self.m.operators):
            if self.code(op) == ADD:
                match = self.tf_prelu(k)
                if match:
                    folds[k] = match[:2]
                    fused |= match[2]
        for k, op in enumerate(self.m.operators):
            if k in fused:
                continue
            code = self.code(op)
            out = self.m.name(self.op_outputs(op)[0])
            # RESHAPE's second input is its int32 target shape, which the output's shape repeats.
            ins = self.op_inputs(op)
            for i in (ins[:1] if code == RESHAPE else ins) + self.op_outputs(op):
                self.m.check_float(i)
            if k in folds:
                x, slope = folds[k]
                self.constant(out + "_slope", slope.reshape(-1, 1, 1))
                self.nodes.append(helper.make_node("PRelu", [self.m.name(x), out + "_slope"], [out], name=out))
            elif code in (CONV_2D, DEPTHWISE_CONV_2D):
                self.conv(op, code)
            elif code in ELEMENTWISE:
                rank = len(self.m.shape(self.op_outputs(op)[0]))
                a, b = (self.operand(i, out, rank) for i in self.op_inputs(op))
                self.emit(ELEMENTWISE[code], [a, b], out, self.activation(op, code, 0))
            elif code == RELU:
                self.nodes.append(helper.make_node("Relu", [self.m.name(self.op_inputs(op)[0])], [out], name=out))
            elif code == RELU6:
                self.clip6(self.m.name(self.op_inputs(op)[0]), out)
            elif code == ABS:
                self.nodes.append(helper.make_node("Abs", [self.m.name(self.op_inputs(op)[0])], [out], name=out))
            elif code == PRELU:
                x, alpha = self.op_inputs(op)
                value = self.m.constant(alpha)
                if value is None or value.size != self.m.shape(x)[-1]:
                    raise ConvertError(f"PRELU {out!r}: alpha must be a constant with one value per channel")
                self.constant(out + "_slope", value.reshape(-1, 1, 1))
                self.nodes.append(helper.make_node("PRelu", [self.m.name(x), out + "_slope"], [out], name=out))
            else:
                self.reshape(op, out)
        return self.model()

    def reshape(self, op, out):
        """RESHAPE of an NHWC tensor to [batch, H*W*C]: back to NHWC order, then Flatten."""
        x = self.op_inputs(op)[0]
        self.m.check_float(x)
        src, dst = self.m.shape(x), self.m.shape(self.op_outputs(op)[0])
        if len(src) != 4 or len(dst) != 2 or dst[0] != src[0] or dst[1] != int(np.prod(src[1:])):
            raise ConvertError(f"RESHAPE {out!r} from {src} to {dst} is not supported, only [N,H,W,C] to [N,H*W*C]")
        nhwc = out + "_nhwc"
        self.nodes.append(helper.make_node("Transpose", [self.m.name(x)], [nhwc], name=nhwc, perm=[0, 2, 3, 1]))
        self.nodes.append(helper.make_node("Flatten", [nhwc], [out], name=out, axis=1))

    def value_info(self, i):
        """A graph input or output with its shape declared, batch 1, 4-D ones as NCHW."""
        self.m.check_float(i)
        shape = self.m.shape(i)
        if len(shape) == 4:
            shape = [shape[0], shape[3], shape[1], shape[2]]
        return helper.make_tensor_value_info(self.m.name(i), TensorProto.FLOAT, [1] + shape[1:])

    def model(self):
        graph = helper.make_graph(self.nodes, GRAPH_NAME, [self.value_info(i) for i in self.m.inputs],
                                  [self.value_info(i) for i in self.m.outputs],
                                  initializer=self.weights + self.constants)
        model = helper.make_model(graph, producer_name=PRODUCER, opset_imports=[helper.make_opsetid("", OPSET)])
        model.ir_version = IR_VERSION
        onnx.checker.check_model(model)
        return model


def write_atomically(path, data):
    """Writes data to path through a temporary file in the same directory and a rename."""
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", dir=os.path.dirname(path) or ".")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def convert(data):
    """The ONNX model of TFLite model data; ConvertError says why it cannot be converted."""
    try:
        return Converter(TFLiteModel(data)).convert()
    except ConvertError:
        raise
    except Exception as e:  # a damaged flatbuffer fails anywhere in the reader
        raise ConvertError(f"not a readable TFLite model ({type(e).__name__}: {e})") from e


def main(argv):
    if len(argv) != 3:
        print("usage: tflite2onnx.py IN.tflite OUT.onnx", file=sys.stderr)
        return 2
    src, dst = argv[1], argv[2]
    try:
        with open(src, "rb") as f:
            model = convert(f.read())
    except (ConvertError, OSError) as e:
        print(f"tflite2onnx: ERROR: {src}: {e}", file=sys.stderr)
        return 1
    try:
        write_atomically(dst, model.SerializeToString())
    except OSError as e:
        print(f"tflite2onnx: ERROR: {dst}: cannot write: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
