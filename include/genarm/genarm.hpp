// genarm: reward-guided decoding with autoregressive reward models (GenARM, Xu et al., ICLR 2025)
// on Hugging Face checkpoints, header-only C++20. This umbrella header includes every public
// header; include single headers to compile faster.
//
// Layers (each includes only the layers before it):
//   core      errors, numerics, threads, RNG, UTF-8
//   io        safetensors and PyTorch .bin (memory-mapped), config.json, JSON / JSON Lines
//   tokenizer Hugging Face tokenizer.json: BPE, normalizers, pre-tokenizers, decoders, streaming
//   model     the transformer (Llama, Mistral, Qwen2, GPT-2; reward-model heads)
//   sampling  the sampler chain (temperature, top-k, top-p, min-p, typical, penalties, ...)
//   guidance  logit sources, the GenARM combination, guided policies, ARM rewards, baselines
//   generate  the decoding loop (one sequence, or batches: BatchGenerator), streaming, stop strings
//   eval      sentiment scoring and plots for evaluations
#pragma once

#include "genarm/core/error.hpp"
#include "genarm/core/math.hpp"
#include "genarm/core/rng.hpp"
#include "genarm/core/thread_pool.hpp"
#include "genarm/core/utf8.hpp"
#include "genarm/io/checkpoint.hpp"
#include "genarm/io/jsonl.hpp"
#include "genarm/io/model_config.hpp"
#include "genarm/io/safetensors.hpp"
#include "genarm/io/safetensors_writer.hpp"
#include "genarm/io/torch_checkpoint.hpp"
#include "genarm/tokenizer/stream_decoder.hpp"
#include "genarm/tokenizer/tokenizer.hpp"
#include "genarm/model/lora_adapter.hpp"
#include "genarm/model/synthetic.hpp"
#include "genarm/model/transformer.hpp"
#include "genarm/sampling/sampler.hpp"
#include "genarm/guidance/arm_reward.hpp"
#include "genarm/guidance/combination.hpp"
#include "genarm/guidance/guided_model.hpp"
#include "genarm/guidance/guided_policy.hpp"
#include "genarm/guidance/logit_source.hpp"
#include "genarm/guidance/transformer_source.hpp"
#include "genarm/generate/batch_generator.hpp"
#include "genarm/generate/generator.hpp"
#include "genarm/generate/result_json.hpp"
#include "genarm/eval/afinn.hpp"
#include "genarm/eval/svg_plot.hpp"
