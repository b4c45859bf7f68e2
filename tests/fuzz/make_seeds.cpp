// Writes the seed corpora and libFuzzer dictionaries of the fuzz targets from the repository's
// fixtures, so that no binary corpus is committed:
//   usage: genarm_fuzz_seeds <source dir> <output dir>
//   <output>/<target>/seed-*   one directory of seeds per target
//   <output>/<target>.dict     the words of dictionaries.hpp in libFuzzer's -dict format
// Seeds are kept small (a few kB), because libFuzzer mutates and re-runs them thousands of times
// a second: real safetensors headers with every tensor shrunk to one element, the fixture and
// bundled config.json files plus their transformers-4 and other-architecture variants, the
// fixture tokenizers cut down to a few hundred tokens plus one tokenizer per component type,
// the texts of the tokenizer test cases, the pre-tokenizer regexes over those texts, and shard
// indexes for checkpoint_fuzz's folder.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <span>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "dictionaries.hpp"
#include "genarm/io/safetensors.hpp"
#include "genarm/io/safetensors_writer.hpp"
#include "genarm/tokenizer/pre_tokenizer.hpp"

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path.string());
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

class Corpus {
 public:
  Corpus(const fs::path& dir) : dir_(dir) {
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void add_bytes(std::string_view bytes) {
    char name[32];
    std::snprintf(name, sizeof name, "seed-%03d", count_++);
    std::ofstream out(dir_ / name, std::ios::binary);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    if (!out) throw std::runtime_error("cannot write " + (dir_ / name).string());
  }
  void add_json(const json& j) { add_bytes(j.dump()); }
  int count() const { return count_; }

 private:
  fs::path dir_;
  int count_ = 0;
};

void write_dictionary(const fs::path& path, std::span<const std::string_view> words, bool json_strings) {
  std::ofstream out(path);
  int n = 0;
  for (const std::string_view word : words) {
    const std::string entry = json_strings ? json(std::string(word)).dump() : std::string(word);
    out << "w" << n++ << "=\"";
    for (const unsigned char c : entry) {
      if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
        out << c;
      } else {
        char hex[8];
        std::snprintf(hex, sizeof hex, "\\x%02X", c);
        out << hex;
      }
    }
    out << "\"\n";
  }
}

std::vector<fs::path> model_dirs(const fs::path& source) {
  std::vector<fs::path> dirs;
  for (const fs::path& root : {source / "tests" / "fixtures" / "hf" / "models", source / "models"}) {
    for (const auto& e : fs::directory_iterator(root)) {
      if (e.is_directory()) dirs.push_back(e.path());
    }
  }
  std::sort(dirs.begin(), dirs.end());
  return dirs;
}

// ---------------------------------------------------------------- safetensors

std::string safetensors_bytes(const json& header, std::string_view data) {
  std::string text = header.dump();
  std::string out(8, '\0');
  const uint64_t n = text.size();
  for (int i = 0; i < 8; ++i) out[static_cast<size_t>(i)] = static_cast<char>((n >> (8 * i)) & 0xff);
  return out + text + std::string(data);
}

void safetensors_seeds(const fs::path& source, Corpus& corpus) {
  // Each real checkpoint's header with every tensor shrunk to one element (same names, dtypes
  // and ranks), and the header alone with the real offsets (the data is then missing).
  for (const fs::path& dir : model_dirs(source)) {
    const fs::path file = dir / "model.safetensors";
    if (!fs::exists(file)) continue;
    const auto st = genarm::io::SafetensorsFile::open(file);
    json header = json::object();
    if (!st.metadata().empty()) header["__metadata__"] = st.metadata();
    size_t offset = 0;
    for (const genarm::io::TensorView& t : st.tensors()) {
      const size_t bytes = genarm::dtype_size(t.dtype);
      header[t.name] = {{"dtype", std::string(genarm::dtype_name(t.dtype))},
                        {"shape", std::vector<int64_t>(t.shape.size(), 1)},
                        {"data_offsets", {offset, offset + bytes}}};
      offset += bytes;
    }
    corpus.add_bytes(safetensors_bytes(header, std::string(offset, '\x3f')));
    if (dir.filename() == "llama-tiny") {
      const std::string raw = read_file(file);
      const uint64_t header_len = genarm::io::detail::read_u64_le(reinterpret_cast<const std::byte*>(raw.data()));
      corpus.add_bytes(std::string_view(raw).substr(0, 8 + header_len));
    }
  }
  // Written by genarm's own writer: the three weight dtypes, a scalar, an empty tensor, metadata.
  genarm::io::SafetensorsWriter writer;
  const std::vector<float> values{1.0f, -2.5f, 0.0f, 65504.0f, 1e-8f, 3.0f};
  writer.add("a.weight", {2, 3}, values);
  writer.add("b.bias", {3}, std::span(values).first(3), genarm::DType::kF16);
  writer.add("c.scale", {}, std::span(values).first(1), genarm::DType::kBF16);
  writer.add("d.empty", {0, 4}, {});
  writer.set_metadata("format", "pt");
  corpus.add_bytes(writer.serialize());
  // Non-weight dtypes, a zero-size file body and an empty header.
  corpus.add_bytes(safetensors_bytes({{"ids", {{"dtype", "I64"}, {"shape", {2}}, {"data_offsets", {0, 16}}}},
                                {"mask", {{"dtype", "BOOL"}, {"shape", {2, 2}}, {"data_offsets", {16, 20}}}},
                                {"q", {{"dtype", "F8_E4M3"}, {"shape", {4}}, {"data_offsets", {20, 24}}}}},
                               std::string(24, '\x01')));
  corpus.add_bytes(safetensors_bytes(json::object(), ""));
  corpus.add_bytes(safetensors_bytes({{"__metadata__", {{"k", "v"}}}}, ""));
}

// ---------------------------------------------------------------- config.json

void model_config_seeds(const fs::path& source, Corpus& corpus) {
  json llama;
  json gpt2;
  for (const fs::path& dir : model_dirs(source)) {
    const json config = json::parse(read_file(dir / "config.json"));
    corpus.add_json(config);
    if (dir.filename() == "llama-tiny") llama = config;
    if (dir.filename() == "gpt2-tiny") gpt2 = config;
  }
  if (llama.is_null() || gpt2.is_null()) throw std::runtime_error("llama-tiny or gpt2-tiny config.json missing");

  // The transformers 4.x layout: rope_theta at top level, rope_scaling, torch_dtype.
  json v4 = llama;
  const json rope = v4.value("rope_parameters", json::object());
  v4.erase("rope_parameters");
  v4["rope_theta"] = rope.value("rope_theta", 10000.0);
  v4["rope_scaling"] = nullptr;
  v4["torch_dtype"] = v4.value("dtype", "float32");
  v4.erase("dtype");
  corpus.add_json(v4);
  json llama3 = v4;
  llama3["rope_scaling"] = {{"rope_type", "llama3"}, {"factor", 8.0}, {"low_freq_factor", 1.0},
                            {"high_freq_factor", 4.0}, {"original_max_position_embeddings", 8192}};
  llama3["eos_token_id"] = {128001, 128008, 128009};
  corpus.add_json(llama3);
  json linear = v4;
  linear["rope_scaling"] = {{"type", "linear"}, {"factor", 2.0}};
  linear["attention_bias"] = true;
  linear["mlp_bias"] = true;
  linear["head_dim"] = 8;
  corpus.add_json(linear);
  // transformers 5 keyed by attention type.
  json keyed = llama;
  keyed["rope_parameters"] = {{"full_attention", {{"rope_type", "default"}, {"rope_theta", 500000.0}}}};
  corpus.add_json(keyed);
  json mistral = v4;
  mistral["architectures"] = {"MistralForCausalLM"};
  mistral["model_type"] = "mistral";
  mistral["sliding_window"] = 4096;
  corpus.add_json(mistral);
  json qwen2 = v4;
  qwen2["architectures"] = {"Qwen2ForCausalLM"};
  qwen2["model_type"] = "qwen2";
  qwen2["use_sliding_window"] = true;
  qwen2["sliding_window"] = 32768;
  qwen2["max_window_layers"] = 0;
  corpus.add_json(qwen2);
  qwen2["layer_types"] = json::array();
  for (int i = 0; i < qwen2.value("num_hidden_layers", 1); ++i) qwen2["layer_types"].push_back("sliding_attention");
  qwen2.erase("max_window_layers");
  corpus.add_json(qwen2);
  json rm = v4;
  rm["architectures"] = {"LlamaForSequenceClassification"};
  rm["id2label"] = {{"0", "LABEL_0"}};
  rm["pad_token_id"] = -1;
  corpus.add_json(rm);
  json gpt2_rm = gpt2;
  gpt2_rm["architectures"] = {"GPT2ForSequenceClassification"};
  gpt2_rm["num_labels"] = 1;
  gpt2_rm["activation_function"] = "gelu";
  gpt2_rm["n_inner"] = nullptr;
  corpus.add_json(gpt2_rm);
  json bare = gpt2;
  bare.erase("architectures");
  corpus.add_json(bare);
}

// ---------------------------------------------------------------- tokenizer.json

// A fixture tokenizer cut down to the tokens with ids below `keep` and the merges among them;
// added tokens are renumbered after them.
json shrink_tokenizer(json t, int64_t keep) {
  json& model = t["model"];
  json vocab = json::object();
  for (const auto& [token, id] : model["vocab"].items()) {
    if (id.get<int64_t>() < keep) vocab[token] = id;
  }
  json merges = json::array();
  for (const json& m : model["merges"]) {
    std::string a, b;
    if (m.is_string()) {
      const std::string s = m.get<std::string>();
      const size_t space = s.find(' ');
      a = s.substr(0, space);
      b = s.substr(space + 1);
    } else {
      a = m[0].get<std::string>();
      b = m[1].get<std::string>();
    }
    if (vocab.contains(a) && vocab.contains(b) && vocab.contains(a + b)) merges.push_back(m);
  }
  model["vocab"] = vocab;
  model["merges"] = merges;
  int64_t next = keep;
  std::map<int64_t, int64_t> renumbered;
  for (json& added : t["added_tokens"]) {
    const int64_t id = added["id"].get<int64_t>();
    if (id >= keep) {
      renumbered[id] = next;
      added["id"] = next++;
    }
  }
  // TemplateProcessing refers to added tokens by id.
  if (t["post_processor"].is_object() && t["post_processor"].contains("special_tokens")) {
    for (auto& [name, special] : t["post_processor"]["special_tokens"].items()) {
      for (json& id : special["ids"]) {
        if (renumbered.count(id.get<int64_t>())) id = renumbered[id.get<int64_t>()];
      }
    }
  }
  return t;
}

// A vocabulary of the printable ASCII characters and a few merges, for the synthetic tokenizers.
json ascii_model(const json& extra_fields) {
  json vocab = json::object();
  int id = 0;
  vocab["[UNK]"] = id++;
  for (char c = ' '; c < 0x7f; ++c) vocab[std::string(1, c)] = id++;
  json merges = json::array();
  for (const auto& [a, b] : {std::pair{"t", "h"}, {"th", "e"}, {"e", "r"}, {"##", "a"}}) {
    if (!vocab.contains(std::string(a) + b)) vocab[std::string(a) + b] = id++;
    merges.push_back(json::array({a, b}));
  }
  vocab["##"] = id++;
  json model = {{"type", "BPE"}, {"vocab", vocab}, {"merges", merges}, {"unk_token", "[UNK]"}};
  model.update(extra_fields);
  return model;
}

void tokenizer_json_seeds(const fs::path& source, Corpus& corpus) {
  const fs::path hf = source / "tests" / "fixtures" / "hf" / "tokenizers";
  for (const char* name : {"gpt2", "toy-bytelevel", "toy-spm"}) {
    corpus.add_json(shrink_tokenizer(json::parse(read_file(hf / name / "tokenizer.json")), 300));
  }
  corpus.add_json(shrink_tokenizer(json::parse(read_file(source / "models" / "toy-base" / "tokenizer.json")), 320));

  // One of each component type, over a small ASCII vocabulary.
  const json added = json::parse(R"([
    {"id": 200, "content": "[CLS]", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true},
    {"id": 201, "content": "[SEP]", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true},
    {"id": 202, "content": "hello", "single_word": true, "lstrip": true, "rstrip": true, "normalized": true, "special": false}])");
  json bert = {{"version", "1.0"}, {"added_tokens", added}, {"model", ascii_model({{"continuing_subword_prefix", "##"}})}};
  bert["normalizer"] = json::parse(R"({"type": "Sequence", "normalizers": [{"type": "NFD"}, {"type": "StripAccents"},
    {"type": "Lowercase"}, {"type": "Strip", "strip_left": true, "strip_right": false}, {"type": "NFKC"}]})");
  bert["pre_tokenizer"] = json::parse(R"({"type": "Sequence", "pretokenizers": [{"type": "BertPreTokenizer"},
    {"type": "Digits", "individual_digits": true}, {"type": "Punctuation", "behavior": "Contiguous"}]})");
  bert["post_processor"] = json::parse(R"({"type": "BertProcessing", "sep": ["[SEP]", 201], "cls": ["[CLS]", 200]})");
  bert["decoder"] = json::parse(R"({"type": "WordPiece", "prefix": "##", "cleanup": true})");
  corpus.add_json(bert);

  json split = {{"version", "1.0"}, {"added_tokens", json::array()},
                {"model", ascii_model({{"end_of_word_suffix", "</w>"}, {"ignore_merges", true}})}};
  split["normalizer"] = json::parse(R"({"type": "Sequence", "normalizers": [{"type": "NFC"},
    {"type": "Replace", "pattern": {"Regex": "\\s+"}, "content": " "}, {"type": "Append", "append": "!"},
    {"type": "Prepend", "prepend": "^"}]})");
  split["pre_tokenizer"] = json::parse(R"({"type": "Sequence", "pretokenizers": [
    {"type": "Split", "pattern": {"Regex": "(?i:'s|'t)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s+(?!\\S)|\\s+"},
     "behavior": "MergedWithPrevious", "invert": false},
    {"type": "Split", "pattern": {"String": "-"}, "behavior": "MergedWithNext", "invert": true},
    {"type": "WhitespaceSplit"}, {"type": "CharDelimiterSplit", "delimiter": "_"}, {"type": "Whitespace"}]})");
  split["post_processor"] = json::parse(R"({"type": "RobertaProcessing", "sep": ["[UNK]", 0], "cls": ["[UNK]", 0],
    "trim_offsets": true, "add_prefix_space": false})");
  split["decoder"] = json::parse(R"({"type": "Sequence", "decoders": [{"type": "BPEDecoder", "suffix": "</w>"},
    {"type": "Replace", "pattern": {"Regex": "\\^+"}, "content": ""}, {"type": "Strip", "content": "!", "start": 0, "stop": 1}]})");
  corpus.add_json(split);

  json meta = {{"version", "1.0"}, {"added_tokens", json::array()},
               {"model", ascii_model({{"byte_fallback", true}, {"fuse_unk", true}})}};
  for (int b = 0; b < 256; b += 17) {
    char name[8];
    std::snprintf(name, sizeof name, "<0x%02X>", b);
    meta["model"]["vocab"][name] = 300 + b;
  }
  meta["model"]["vocab"]["\u2581"] = 600;
  meta["normalizer"] = json::parse(R"({"type": "ByteLevel"})");
  meta["pre_tokenizer"] = json::parse(R"({"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "first", "split": true})");
  meta["post_processor"] = json::parse(R"({"type": "Sequence", "processors": [{"type": "ByteLevel", "trim_offsets": false},
    {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "[UNK]", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
     "pair": [{"Sequence": {"id": "A", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}}],
     "special_tokens": {"[UNK]": {"id": "[UNK]", "ids": [0], "tokens": ["[UNK]"]}}}]})");
  meta["decoder"] = json::parse(R"({"type": "Sequence", "decoders": [{"type": "ByteFallback"}, {"type": "Metaspace",
    "replacement": "\u2581", "prepend_scheme": "always", "split": true}, {"type": "Fuse"}, {"type": "ByteLevel"}]})");
  corpus.add_json(meta);

  // The oldest layout: an untagged model with merges as "a b" strings, no version.
  corpus.add_json(json::parse(R"({"model": {"vocab": {"a": 0, "b": 1, "ab": 2, "c": 3}, "merges": ["a b"]},
    "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": true, "use_regex": true}, "decoder": {"type": "ByteLevel"}})"));
}

// ---------------------------------------------------------------- model.safetensors.index.json

// For the folder checkpoint_fuzz writes: a.safetensors (x, y), b.safetensors (z).
void checkpoint_seeds(Corpus& corpus) {
  corpus.add_json(json::parse(R"({"metadata": {"total_size": 28},
    "weight_map": {"x": "a.safetensors", "y": "a.safetensors", "z": "b.safetensors"}})"));
  corpus.add_json(json::parse(R"({"weight_map": {"z": "b.safetensors"}})"));
  corpus.add_json(json::parse(R"({"weight_map": {"x": "a.safetensors", "z": "a.safetensors"}})"));
  corpus.add_json(json::parse(R"({"weight_map": {"x": "sub", "y": "../b.safetensors"}})"));
}

// ---------------------------------------------------------------- torch .bin

// The small torch.save archives of tests/fixtures/torch (real ones, and the hostile ones that
// must stay refused).
void torch_checkpoint_seeds(const fs::path& source, Corpus& corpus) {
  std::vector<fs::path> files;
  for (const char* dir : {"small", "hostile"}) {
    for (const auto& e : fs::directory_iterator(source / "tests" / "fixtures" / "torch" / dir)) {
      if (e.is_regular_file() && e.file_size() <= 16384) files.push_back(e.path());
    }
  }
  std::sort(files.begin(), files.end());
  for (const fs::path& f : files) corpus.add_bytes(read_file(f));
}

// ---------------------------------------------------------------- encode / regex

std::vector<std::string> case_texts(const fs::path& source) {
  std::set<std::string> texts;
  const fs::path hf = source / "tests" / "fixtures" / "hf" / "tokenizers";
  for (const char* name : {"gpt2", "toy-bytelevel", "toy-spm"}) {
    for (const json& c : json::parse(read_file(hf / name / "cases.json"))) texts.insert(c.at("text").get<std::string>());
  }
  return {texts.begin(), texts.end()};
}

void tokenizer_encode_seeds(const std::vector<std::string>& texts, Corpus& corpus) {
  // Byte 0: the tokenizer (bits 0-1), add_special_tokens (bit 2), the prime cut (bits 4-7).
  unsigned n = 0;
  for (const std::string& text : texts) {
    for (unsigned tokenizer = 0; tokenizer < 4; ++tokenizer, ++n) {
      const auto selector = static_cast<char>(tokenizer | (n % 2 ? 4u : 0u) | ((n % 7) << 4));
      corpus.add_bytes(std::string(1, selector) + text);
    }
  }
  corpus.add_bytes(std::string("\x02\xe2\x82", 3));        // a cut multibyte character
  corpus.add_bytes(std::string("\x01\x3c\x00\x3c\x01", 5));  // byte tokens as 16-bit ids
}

void regex_seeds(const std::vector<std::string>& texts, Corpus& corpus) {
  const std::vector<std::string> patterns = {
      std::string(genarm::tokenizer::kGpt2Pattern),
      // Llama 3 and Qwen2
      "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
      "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
      " ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+",
      "[\\p{Lu}\\p{Lt}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+(?i:'s|'t)?|\\d{1,3}(?=(?:\\d{3})*\\b)|(?>a+)b|\\w+?x|[a-c&&[b]]",
      "\\A\\s*(?m:.+)$\\z|\\bx\\B|^\\x{1F600}\\u00e9\\x41\\t*+y++",
  };
  size_t i = 0;
  for (const std::string& p : patterns) {
    for (size_t k = 0; k < 4 && k < texts.size(); ++k, ++i) {
      corpus.add_bytes(p + std::string(1, '\0') + texts[(i * 5) % texts.size()]);
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::cerr << "usage: " << argv[0] << " <source dir> <output dir>\n";
    return 2;
  }
  const fs::path source = argv[1];
  const fs::path out = argv[2];
  try {
    fs::create_directories(out);
    Corpus safetensors(out / "safetensors");
    safetensors_seeds(source, safetensors);
    Corpus model_config(out / "model_config");
    model_config_seeds(source, model_config);
    Corpus tokenizer_json(out / "tokenizer_json");
    tokenizer_json_seeds(source, tokenizer_json);
    const std::vector<std::string> texts = case_texts(source);
    Corpus tokenizer_encode(out / "tokenizer_encode");
    tokenizer_encode_seeds(texts, tokenizer_encode);
    Corpus regex(out / "regex");
    regex_seeds(texts, regex);
    Corpus checkpoint(out / "checkpoint");
    checkpoint_seeds(checkpoint);
    Corpus torch_checkpoint(out / "torch_checkpoint");
    torch_checkpoint_seeds(source, torch_checkpoint);

    write_dictionary(out / "model_config.dict", genarm::fuzz::kModelConfigWords, true);
    write_dictionary(out / "tokenizer_json.dict", genarm::fuzz::kTokenizerWords, true);
    write_dictionary(out / "regex.dict", genarm::fuzz::kRegexWords, false);
    write_dictionary(out / "checkpoint.dict", genarm::fuzz::kCheckpointWords, true);
    std::cout << "seeds: safetensors " << safetensors.count() << ", model_config " << model_config.count()
              << ", tokenizer_json " << tokenizer_json.count() << ", tokenizer_encode "
              << tokenizer_encode.count() << ", regex " << regex.count() << ", checkpoint " << checkpoint.count() << ", torch_checkpoint " << torch_checkpoint.count() << " (in " << out.string() << ")\n";
  } catch (const std::exception& e) {
    std::cerr << "genarm_fuzz_seeds: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
