#!/usr/bin/env python3
"""Write tests/fixtures/gguf/dequant.json: raw GGUF blocks and gguf-py's dequantization of them,
the reference for the engine's Q4_0 / Q4_K / Q6_K / Q8_0 dequantizers (tests/unit/test_eng_gguf.c).

Q4_K and Q6_K: the first 4 rows of blk.0.attn_q.weight of ../shared/fixtures/gguf/demo-Q4_K_M.gguf
and demo-Q6_K.gguf (llama.cpp's llama-quantize); Q4_0 and Q8_0: 256 seeded normal values quantized by
gguf-py. Needs numpy and gguf-py (llama.cpp's gguf-py; sentencepiece is not used):
    PYTHONPATH=../shared/tools/gguf-py python3 tools/gen_gguf_dequant.py
"""
import json
import sys
import types

import numpy as np

sys.modules.setdefault("sentencepiece", types.SimpleNamespace(SentencePieceProcessor=object))
import gguf  # noqa: E402
from gguf import quants  # noqa: E402

T = gguf.GGMLQuantizationType
out = {"note": "raw blocks (hex) and gguf-py's dequantize() of them, as float32 values; made by "
               "tools/gen_gguf_dequant.py", "cases": []}

for fname, qt in (("demo-Q4_K_M.gguf", T.Q4_K), ("demo-Q6_K.gguf", T.Q6_K)):
    r = gguf.GGUFReader("../shared/fixtures/gguf/" + fname)
    t = next(t for t in r.tensors if t.name == "blk.0.attn_q.weight")
    assert t.tensor_type == qt
    raw = np.asarray(t.data)[:4]
    vals = quants.dequantize(raw, qt).reshape(-1)
    out["cases"].append({"type": qt.name, "source": fname + " blk.0.attn_q.weight rows 0-3",
                         "raw": raw.tobytes().hex(), "values": [float(v) for v in vals.astype(np.float32)]})

rng = np.random.default_rng(15)
for qt in (T.Q4_0, T.Q8_0):
    x = rng.standard_normal((2, 128)).astype(np.float32)
    raw = quants.quantize(x, qt)
    vals = quants.dequantize(raw, qt).reshape(-1)
    out["cases"].append({"type": qt.name, "source": "gguf-py quantize of 256 seeded normal values",
                         "raw": raw.tobytes().hex(), "values": [float(v) for v in vals.astype(np.float32)]})

json.dump(out, open("tests/fixtures/gguf/dequant.json", "w"), indent=0)
