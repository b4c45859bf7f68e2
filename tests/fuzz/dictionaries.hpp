// Words the fuzzers splice into their inputs: the keys and enumerated values genarm reads from
// config.json, tokenizer.json and model.safetensors.index.json, and regex syntax. The JSON mutator (json_mutator.hpp) uses them
// directly; make_seeds writes them as libFuzzer -dict files for the byte-level mutations.
#pragma once

#include <string_view>

namespace genarm::fuzz {

inline constexpr std::string_view kModelConfigWords[] = {
    // keys (both config.json layouts and GPT-2's names)
    "architectures", "model_type", "vocab_size", "hidden_size", "num_hidden_layers",
    "num_attention_heads", "num_key_value_heads", "intermediate_size", "max_position_embeddings",
    "head_dim", "rms_norm_eps", "hidden_act", "rope_theta", "rope_scaling", "rope_parameters",
    "rope_type", "type", "factor", "low_freq_factor", "high_freq_factor",
    "original_max_position_embeddings", "partial_rotary_factor", "full_attention",
    "sliding_attention", "tie_word_embeddings", "attention_bias", "mlp_bias", "pretraining_tp",
    "sliding_window", "use_sliding_window", "layer_types", "max_window_layers", "n_embd", "n_layer",
    "n_head", "n_inner", "n_positions", "layer_norm_epsilon", "activation_function",
    "scale_attn_weights", "scale_attn_by_inverse_layer_idx", "add_cross_attention", "eos_token_id",
    "bos_token_id", "pad_token_id", "num_labels", "id2label", "dtype", "torch_dtype",
    // values
    "llama", "mistral", "qwen2", "gpt2", "LlamaForCausalLM", "MistralForCausalLM", "Qwen2ForCausalLM",
    "GPT2LMHeadModel", "LlamaForSequenceClassification", "MistralForSequenceClassification",
    "Qwen2ForSequenceClassification", "GPT2ForSequenceClassification", "silu", "swish", "gelu",
    "gelu_new", "gelu_pytorch_tanh", "gelu_fast", "relu", "default", "linear", "llama3", "dynamic",
    "yarn", "float32", "bfloat16", "float16", "LABEL_0", "LABEL_1", "", "llama4", "gemma",
    "PhiForCausalLM"};

inline constexpr std::string_view kTokenizerWords[] = {
    // keys
    "version", "1.0", "model", "type", "vocab", "merges", "unk_token", "continuing_subword_prefix",
    "end_of_word_suffix", "fuse_unk", "byte_fallback", "ignore_merges", "dropout", "normalizer",
    "pre_tokenizer", "post_processor", "decoder", "added_tokens", "id", "content", "single_word",
    "lstrip", "rstrip", "normalized", "special", "normalizers", "pretokenizers", "processors",
    "decoders", "pattern", "String", "Regex", "behavior", "invert", "add_prefix_space",
    "trim_offsets", "use_regex", "replacement", "prepend_scheme", "split", "strip_left",
    "strip_right", "prepend", "append", "individual_digits", "delimiter", "start", "stop", "prefix",
    "cleanup", "suffix", "single", "pair", "special_tokens", "SpecialToken", "Sequence", "type_id",
    "ids", "tokens", "sep", "cls",
    // types and enumerated values
    "BPE", "WordPiece", "Unigram", "NFC", "NFD", "NFKC", "NFKD", "Lowercase", "Strip",
    "StripAccents", "Prepend", "Append", "Replace", "ByteLevel", "Split", "Metaspace", "Whitespace",
    "WhitespaceSplit", "BertPreTokenizer", "Punctuation", "Digits", "CharDelimiterSplit",
    "ByteFallback", "Fuse", "BPEDecoder", "TemplateProcessing", "RobertaProcessing",
    "BertProcessing", "Removed", "Isolated", "MergedWithPrevious", "MergedWithNext", "Contiguous",
    "first", "always", "never", "A", "B",
    // token-like strings
    "\u2581", "\u0120", "<0x41>", "<0xE2>", "<s>", "</s>", "<unk>", "##", "</w>",
    "\\s+|\\p{L}+|\\p{N}{1,3}"};

// checkpoint_fuzz's folder holds a.safetensors (x, y), b.safetensors (z) and a folder sub.
inline constexpr std::string_view kCheckpointWords[] = {
    "weight_map", "metadata", "total_size", "x", "y", "z", "a.safetensors", "b.safetensors",
    "c.safetensors", "sub", ".", "..", "../a.safetensors", "sub/a.safetensors",
    std::string_view("a.safetensors\0x", 15), "model.safetensors", "model.safetensors.index.json",
    "a\\b", ""};

inline constexpr std::string_view kRegexWords[] = {
    "(?i:", "(?-i:", "(?i)", "(?m)", "(?=", "(?!", "(?>", "(?:", "(?<=", "(?#", "(?<n>", ")", "|",
    "[^", "[", "]", "[:alpha:]", "&&", "*", "+", "?", "*?", "+?", "??", "*+", "++", "{2}", "{1,3}",
    "{,4}", "{3,}", "{100000}", "\\p{L}", "\\p{N}", "\\P{L}", "\\p{Lu}", "\\p{^L}", "\\pL", "\\s",
    "\\S", "\\d", "\\D", "\\w", "\\W", "\\h", "\\b", "\\B", "\\A", "\\z", "\\Z", "\\x{1F600}",
    "\\u00E9", "\\x41", "\\0", "\\N", "\\O", "\\k<n>", "\\1", "^", "$", "."};

}  // namespace genarm::fuzz
