"""Fuse each BERT self-attention block of an exported kefu model into one
com.microsoft.Attention node, ONNX Runtime's own fused kernel.

torch's export spells attention as some twenty nodes per layer (three
projections, reshapes, transposes, the scaled product, the mask, softmax
and the shape arithmetic between them). ONNX Runtime's AttentionFusion does
not recognise that spelling, so on a small model most of a call is the
dispatch of those nodes, not arithmetic. The rewrite is exact: the
projections' weights and biases are concatenated into the packed QKV
weight the Attention kernel takes, the scale is 1/sqrt(head size) as in
the model, and the attention mask is the raw 0/1 mask (masked keys get
-10000, as the exported graph adds). Nodes left without consumers are then
dropped. (Fusing the residual add and layer norm into SkipLayerNormalization
as well was measured slower on this CPU than ONNX Runtime's own
LayerNormalization fusion, so it is left to ONNX Runtime.)

Usage: fuse.py MODEL.onnx NUM_HEADS [OUT.onnx]  (in place without OUT)
"""
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

SELF = "/attention/self/"


def fuse(model, num_heads):
    """Rewrites model's graph in place; returns the number of blocks fused."""
    g = model.graph
    inits = {i.name: i for i in g.initializer}
    consts = {n.output[0]: n for n in g.node if n.op_type == "Constant"}
    by_name = {n.name: n for n in g.node}

    def value(name):
        if name in inits:
            return numpy_helper.to_array(inits[name])
        if name in consts:
            return numpy_helper.to_array(consts[name].attribute[0].t)
        return None

    prefixes = sorted({n.name[: n.name.index(SELF) + len(SELF)] for n in g.node if SELF in n.name})
    mask = "kefu_attention_mask_int32"
    fused = []
    for p in prefixes:
        proj = [(by_name.get(p + s + "/MatMul"), by_name.get(p + s + "/Add")) for s in ("query", "key", "value")]
        out, div = by_name.get(p + "Reshape_3"), by_name.get(p + "Div")
        if any(m is None or a is None for m, a in proj) or out is None or div is None:
            raise SystemExit(f"fuse: {p}: not the exported attention pattern")
        x = proj[0][0].input[0]
        if any(m.input[0] != x for m, _ in proj):
            raise SystemExit(f"fuse: {p}: query, key and value read different inputs")
        weights, biases = [], []
        for m, a in proj:
            w = value(m.input[1])
            b = next((value(i) for i in a.input if value(i) is not None), None)
            if w is None or b is None:
                raise SystemExit(f"fuse: {p}: projection weights are not constants")
            weights.append(w)
            biases.append(b)
        hidden = weights[0].shape[1]
        head = hidden // num_heads
        scale = value(div.input[1])
        if scale is None or abs(float(scale) - np.sqrt(head)) > 1e-4:
            raise SystemExit(f"fuse: {p}: scale {scale} is not sqrt({head})")
        w_name, b_name = p.strip("/").replace("/", ".") + ".qkv.weight", p.strip("/").replace("/", ".") + ".qkv.bias"
        g.initializer.append(numpy_helper.from_array(np.concatenate(weights, axis=1).astype(np.float32), w_name))
        g.initializer.append(numpy_helper.from_array(np.concatenate(biases).astype(np.float32), b_name))
        node = helper.make_node("Attention", [x, w_name, b_name, mask], [out.output[0]],
                                name=p + "Attention", domain="com.microsoft", num_heads=num_heads)
        fused.append((out, node))
    if not fused:
        return 0
    # Each Attention node takes the place of the Reshape that produced the
    # block's output, so the graph stays in topological order.
    index = {id(n): i for i, n in enumerate(g.node)}
    nodes = list(g.node)
    for out, node in fused:
        nodes[index[id(out)]] = node
    cast = helper.make_node("Cast", ["attention_mask"], [mask], name="kefu/attention_mask/Cast", to=TensorProto.INT32)
    nodes.insert(0, cast)
    del g.node[:]
    g.node.extend(prune(nodes, {o.name for o in g.output}))
    used = {i for n in g.node for i in n.input}
    keep = [i for i in g.initializer if i.name in used]
    del g.initializer[:]
    g.initializer.extend(keep)
    if not any(o.domain == "com.microsoft" for o in model.opset_import):
        model.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    return len(fused)


def prune(nodes, outputs):
    """The nodes some graph output depends on, in their order."""
    needed, keep = set(outputs), []
    for n in reversed(nodes):
        if any(o in needed for o in n.output):
            keep.append(n)
            needed.update(i for i in n.input if i)
    return list(reversed(keep))


def main():
    if len(sys.argv) not in (3, 4):
        raise SystemExit(__doc__.strip().splitlines()[-1])
    path, heads = sys.argv[1], int(sys.argv[2])
    model = onnx.load(path)
    before = len(model.graph.node)
    n = fuse(model, heads)
    onnx.checker.check_model(model)
    onnx.save(model, sys.argv[3] if len(sys.argv) == 4 else path)
    print(f"fused {n} attention blocks: {before} nodes -> {len(model.graph.node)}")


if __name__ == "__main__":
    main()
