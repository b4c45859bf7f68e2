#!/usr/bin/env python3
"""Write an F32 GGUF (v3) with random weights in the shape of one of genarm_model_bench's models,
for llama.cpp's llama-bench (speed only: the weights and the vocabulary are dummies).

    python3 make_gguf.py {91m|qwen05b} OUT.gguf [--seed N]

  91m     LlamaForCausalLM: hidden 768, 12 layers, 12 heads, 12 KV heads, intermediate 2048,
          vocabulary 4096, untied head, rms eps 1e-5, rope theta 1e4 (bench/model_bench.cpp llama_91m)
  qwen05b Qwen2ForCausalLM shaped like Qwen2.5-0.5B: hidden 896, 24 layers, 14 heads, 2 KV heads,
          intermediate 4864, vocabulary 151936, tied embeddings (no output.weight: llama.cpp uses
          token_embd.weight as the head), q/k/v biases, rms eps 1e-6, rope theta 1e6 (qwen_05b)

Self-contained GGUF writer (numpy only); the format and the keys follow llama.cpp's
gguf-py/gguf/constants.py and docs (GGUF v3, little endian, default alignment 32). Tensor dims are
written ggml-style, innermost first: an HF weight of shape (out, in) is {in, out}. The vocabulary is
a SentencePiece-style ("llama") one of the right size: <unk>, <s>, </s>, the 256 byte tokens
<0x00>..<0xFF>, then dummy pieces; llama-bench only needs its size and the special ids.
Then quantise with llama.cpp's tool, e.g. `llama-quantize OUT.gguf OUT-q8_0.gguf Q8_0`.
"""
import argparse
import struct
import sys

import numpy as np

# gguf value types (constants.py GGUFValueType)
UINT32, INT32, FLOAT32, BOOL, STRING, ARRAY = 4, 5, 6, 7, 8, 9
GGML_TYPE_F32 = 0
ALIGNMENT = 32

MODELS = {
    "91m": dict(arch="llama", name="genarm-bench-91m-llama", hidden=768, layers=12, heads=12, kv_heads=12,
                intermediate=2048, vocab=4096, ctx=1024, eps=1e-5, theta=10000.0, tied=False, qkv_bias=False),
    "qwen05b": dict(arch="qwen2", name="genarm-bench-qwen2.5-0.5b-shape", hidden=896, layers=24, heads=14,
                    kv_heads=2, intermediate=4864, vocab=151936, ctx=4096, eps=1e-6, theta=1000000.0,
                    tied=True, qkv_bias=True),
}


def gguf_string(s):
    b = s.encode("utf-8")
    return struct.pack("<Q", len(b)) + b


def gguf_value(vtype, v):
    if vtype == UINT32:
        return struct.pack("<I", v)
    if vtype == INT32:
        return struct.pack("<i", v)
    if vtype == FLOAT32:
        return struct.pack("<f", v)
    if vtype == BOOL:
        return struct.pack("<?", v)
    if vtype == STRING:
        return gguf_string(v)
    raise ValueError(vtype)


def kv(key, vtype, v):
    return gguf_string(key) + struct.pack("<I", vtype) + gguf_value(vtype, v)


def kv_array(key, etype, values):
    out = [gguf_string(key), struct.pack("<IIQ", ARRAY, etype, len(values))]
    if etype == FLOAT32:
        out.append(np.asarray(values, dtype="<f4").tobytes())
    elif etype == INT32:
        out.append(np.asarray(values, dtype="<i4").tobytes())
    else:
        out.extend(gguf_value(etype, v) for v in values)
    return b"".join(out)


def metadata(c):
    a = c["arch"]
    n = c["vocab"]
    tokens = ["<unk>", "<s>", "</s>"] + ["<0x%02X>" % i for i in range(256)]
    tokens += ["\u2581t%d" % i for i in range(n - len(tokens))]
    types = [2, 3, 3] + [6] * 256 + [1] * (n - 259)  # unknown, control, byte, normal
    scores = [0.0] * 259 + [-float(i) for i in range(n - 259)]
    items = [
        kv("general.architecture", STRING, a),
        kv("general.name", STRING, c["name"]),
        kv("general.file_type", UINT32, 0),  # ALL_F32
        kv("general.alignment", UINT32, ALIGNMENT),
        kv(f"{a}.context_length", UINT32, c["ctx"]),
        kv(f"{a}.embedding_length", UINT32, c["hidden"]),
        kv(f"{a}.block_count", UINT32, c["layers"]),
        kv(f"{a}.feed_forward_length", UINT32, c["intermediate"]),
        kv(f"{a}.attention.head_count", UINT32, c["heads"]),
        kv(f"{a}.attention.head_count_kv", UINT32, c["kv_heads"]),
        kv(f"{a}.attention.layer_norm_rms_epsilon", FLOAT32, c["eps"]),
        kv(f"{a}.rope.freq_base", FLOAT32, c["theta"]),
        kv(f"{a}.rope.dimension_count", UINT32, c["hidden"] // c["heads"]),
        kv(f"{a}.vocab_size", UINT32, n),
        kv("tokenizer.ggml.model", STRING, "llama"),
        kv_array("tokenizer.ggml.tokens", STRING, tokens),
        kv_array("tokenizer.ggml.scores", FLOAT32, scores),
        kv_array("tokenizer.ggml.token_type", INT32, types),
        kv("tokenizer.ggml.unknown_token_id", UINT32, 0),
        kv("tokenizer.ggml.bos_token_id", UINT32, 1),
        kv("tokenizer.ggml.eos_token_id", UINT32, 2),
        kv("tokenizer.ggml.add_bos_token", BOOL, False),
        kv("tokenizer.ggml.add_eos_token", BOOL, False),
    ]
    return items


def tensors(c):
    """(name, dims innermost first, kind) in file order; kind: 'w' matrix, 'n' norm, 'b' bias."""
    h, f, v = c["hidden"], c["intermediate"], c["vocab"]
    kvd = c["kv_heads"] * (h // c["heads"])
    out = [("token_embd.weight", (h, v), "w")]
    for i in range(c["layers"]):
        p = f"blk.{i}."
        out += [(p + "attn_norm.weight", (h,), "n"),
                (p + "attn_q.weight", (h, h), "w"), (p + "attn_k.weight", (h, kvd), "w"),
                (p + "attn_v.weight", (h, kvd), "w")]
        if c["qkv_bias"]:
            out += [(p + "attn_q.bias", (h,), "b"), (p + "attn_k.bias", (kvd,), "b"), (p + "attn_v.bias", (kvd,), "b")]
        out += [(p + "attn_output.weight", (h, h), "w"), (p + "ffn_norm.weight", (h,), "n"),
                (p + "ffn_gate.weight", (h, f), "w"), (p + "ffn_up.weight", (h, f), "w"),
                (p + "ffn_down.weight", (f, h), "w")]
    out.append(("output_norm.weight", (h,), "n"))
    if not c["tied"]:
        out.append(("output.weight", (h, v), "w"))
    return out


def pad(n):
    return (ALIGNMENT - n % ALIGNMENT) % ALIGNMENT


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model", choices=sorted(MODELS))
    ap.add_argument("out")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    c = MODELS[args.model]
    rng = np.random.default_rng(args.seed)
    meta = metadata(c)
    ts = tensors(c)

    infos, offset = [], 0
    for name, dims, _ in ts:
        infos.append(gguf_string(name) + struct.pack("<I", len(dims)) + struct.pack(f"<{len(dims)}Q", *dims) +
                     struct.pack("<IQ", GGML_TYPE_F32, offset))
        nbytes = 4 * int(np.prod(dims))
        offset += nbytes + pad(nbytes)

    params = 0
    with open(args.out, "wb") as fo:
        head = b"GGUF" + struct.pack("<IQQ", 3, len(ts), len(meta)) + b"".join(meta) + b"".join(infos)
        fo.write(head + b"\0" * pad(len(head)))
        for name, dims, kind in ts:
            count = int(np.prod(dims))
            params += count
            if kind == "n":
                x = 1.0 + 0.01 * rng.standard_normal(count, dtype=np.float32)
            elif kind == "b":
                x = 0.02 * rng.standard_normal(count, dtype=np.float32)
            else:
                x = 0.02 * rng.standard_normal(count, dtype=np.float32)
            b = x.astype("<f4").tobytes()
            fo.write(b + b"\0" * pad(len(b)))
    print(f"{args.out}: {c['arch']}, {len(ts)} tensors, {params / 1e6:.1f}M parameters, F32", file=sys.stderr)


if __name__ == "__main__":
    main()
