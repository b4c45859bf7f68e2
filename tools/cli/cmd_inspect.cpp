// genarm inspect: what a model folder holds — weights format, architecture and head, dtypes,
// parameters, shape, vocabulary (logit rows against tokenizer ids, tokens added beyond the model
// vocabulary), chat template, special ids — and, with --base, whether it can guide that base as an
// ARM (and why not). PEFT adapter folders show their adapter_config.json and adapter weights.
// Only metadata is read: safetensors headers, .bin pickles, JSON files; no weight is loaded.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "args.hpp"
#include "commands.hpp"
#include "common.hpp"
#include "genarm/chat/chat_template.hpp"
#include "genarm/io/checkpoint.hpp"
#include "genarm/io/json.hpp"
#include "genarm/io/model_config.hpp"
#include "genarm/model/architecture.hpp"
#include "genarm/model/lora_adapter.hpp"
#include "genarm/tokenizer/tokenizer.hpp"

namespace genarm::cli {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::ordered_json;

const char* kUsage =
    "usage: genarm inspect DIR [--base DIR] [--json]\n\n"
    "What a model folder holds: weights format (safetensors, sharded safetensors, PyTorch .bin,\n"
    "sharded .bin, PEFT adapter), architecture and head, dtypes, parameters, shape, vocabulary\n"
    "(logit rows vs tokenizer ids, tokens added beyond the model vocabulary), chat template,\n"
    "special ids. With --base: whether DIR can guide that base as an ARM, and why not.\n"
    "Reads metadata only (no weights are loaded). Exit 0 whatever the verdict.\n\n";

std::string human_count(double n) {
  char buf[32];
  if (n >= 1e9) {
    std::snprintf(buf, sizeof buf, "%.2f B", n / 1e9);
  } else if (n >= 1e6) {
    std::snprintf(buf, sizeof buf, "%.2f M", n / 1e6);
  } else if (n >= 1e3) {
    std::snprintf(buf, sizeof buf, "%.1f K", n / 1e3);
  } else {
    std::snprintf(buf, sizeof buf, "%.0f", n);
  }
  return buf;
}

std::string human_bytes(double n) {
  char buf[32];
  if (n >= 1e9) {
    std::snprintf(buf, sizeof buf, "%.2f GB", n / 1e9);
  } else if (n >= 1e6) {
    std::snprintf(buf, sizeof buf, "%.1f MB", n / 1e6);
  } else if (n >= 1e3) {
    std::snprintf(buf, sizeof buf, "%.1f kB", n / 1e3);
  } else {
    std::snprintf(buf, sizeof buf, "%.0f B", n);
  }
  return buf;
}

std::string quoted(const std::string& s) { return tokenizer::quote_token(s); }

std::optional<nlohmann::json> read_json_if_present(const fs::path& path) {
  if (!fs::exists(path)) return std::nullopt;
  return io::read_json_file(path);
}

// ---------------------------------------------------------------- weights

// Which weight files a folder has, as io::Checkpoint looks for them.
struct WeightFiles {
  std::string format;               // "safetensors", "sharded safetensors", "PyTorch .bin", ...
  std::string chosen;               // the file (or index) that is read
  std::vector<std::string> others;  // further weight files present but not read
};

WeightFiles weight_files(const fs::path& dir, const io::CheckpointFileNames& names, bool adapter) {
  WeightFiles w;
  const std::pair<std::string_view, const char*> kinds[] = {
      {names.safetensors, "safetensors"},
      {names.safetensors_index, "sharded safetensors"},
      {names.bin, "PyTorch .bin"},
      {names.bin_index, "sharded PyTorch .bin"},
  };
  for (const auto& [name, format] : kinds) {
    if (name.empty() || !fs::exists(dir / name)) continue;
    if (w.chosen.empty()) {
      w.chosen = std::string(name);
      w.format = std::string(adapter ? "PEFT adapter, " : "") + format;
    } else {
      w.others.emplace_back(name);
    }
  }
  return w;
}

// Tensor metadata of a checkpoint: dtypes, parameters (a tensor shared by two names — a tied
// head in a .bin file — counted once, recomputed buffers apart), bytes, files.
Json describe_tensors(const io::Checkpoint& ckpt) {
  std::map<std::string, int64_t> dtypes;
  std::set<std::pair<const std::byte*, size_t>> seen;
  std::set<std::string> files;
  int64_t parameters = 0, bytes = 0, buffers = 0, shared = 0;
  for (const auto& name : ckpt.names()) {
    const io::TensorView& t = *ckpt.find(name);
    files.insert(t.origin);
    ++dtypes[std::string(dtype_name(t.dtype))];
    if (model::is_ignorable_tensor(name)) {
      ++buffers;
      continue;
    }
    if (!t.bytes.empty() && !seen.insert({t.bytes.data(), t.bytes.size()}).second) {
      ++shared;
      continue;
    }
    parameters += t.numel();
    bytes += static_cast<int64_t>(t.bytes.size());
  }
  Json j;
  j["tensors"] = ckpt.size();
  j["dtypes"] = Json(dtypes);
  j["parameters"] = parameters;
  j["parameter_bytes"] = bytes;
  j["buffers"] = buffers;
  j["shared_tensors"] = shared;
  int64_t file_bytes = 0;
  Json list = Json::array();
  for (const auto& f : files) {
    std::error_code ec;
    const auto size = fs::file_size(f, ec);
    if (!ec) file_bytes += static_cast<int64_t>(size);
    list.push_back(fs::path(f).filename().string());
  }
  j["files"] = list;
  j["file_bytes"] = file_bytes;
  return j;
}

std::optional<int64_t> rows_of(const io::Checkpoint& ckpt, const std::string& name) {
  const io::TensorView* t = ckpt.find(name);
  if (t == nullptr || t->shape.empty()) return std::nullopt;
  return t->shape[0];
}

// ---------------------------------------------------------------- config

// What config.json says, normalised when genarm supports the architecture, raw otherwise.
struct ConfigInfo {
  std::optional<io::ModelConfig> config;  // set when supported
  std::string unsupported;                // why not, when not
  Json json;
};

ConfigInfo describe_config(const fs::path& dir) {
  ConfigInfo info;
  const fs::path file = dir / "config.json";
  try {
    info.config = io::read_model_config(dir);
  } catch (const Error& e) {
    if (e.category() != ErrorCategory::kUnsupported) throw;
    info.unsupported = e.what();
  }
  Json& j = info.json;
  if (info.config) {
    const io::ModelConfig& c = *info.config;
    j["architecture"] = c.architecture;
    j["model_type"] = c.model_type;
    j["head"] = c.head == io::ModelHead::kCausalLM ? "causal_lm" : "sequence_classification";
    j["supported"] = true;
    if (!c.dtype.empty()) j["config_dtype"] = c.dtype;
    j["hidden_size"] = c.hidden_size;
    j["num_hidden_layers"] = c.num_hidden_layers;
    j["num_attention_heads"] = c.num_attention_heads;
    j["num_key_value_heads"] = c.num_key_value_heads;
    j["head_dim"] = c.head_dim;
    j["intermediate_size"] = c.intermediate_size;
    j["max_position_embeddings"] = c.max_position_embeddings;
    if (c.sliding_window) j["sliding_window"] = *c.sliding_window;
    j["tie_word_embeddings"] = c.tie_word_embeddings;
    j["vocab_size"] = c.vocab_size;
    return info;
  }
  // An architecture genarm does not run: what the file says, for the user's information.
  const nlohmann::json raw = io::read_json_file(file);
  const io::JsonView root(raw, file.string());
  root.expect_object();
  if (const auto archs = root.find("architectures"); archs && archs->is_array() && archs->size() > 0 &&
                                                     archs->at(size_t{0}).is_string()) {
    j["architecture"] = archs->at(size_t{0}).as_string();
  }
  if (const auto t = root.find("model_type"); t && t->is_string()) j["model_type"] = t->as_string();
  j["supported"] = false;
  j["unsupported_reason"] = info.unsupported;
  for (const char* key : {"torch_dtype", "dtype"}) {
    if (const auto v = root.find(key); v && v->is_string()) j["config_dtype"] = v->as_string();
  }
  for (const char* key : {"hidden_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads",
                          "intermediate_size", "max_position_embeddings", "vocab_size"}) {
    if (const auto v = root.find(key); v && v->json().is_number_integer()) j[key] = v->json();
  }
  return info;
}

// ---------------------------------------------------------------- tokenizer, template, ids

Json token_json(const std::optional<Tokenizer>& tok, int32_t id) {
  Json j{{"id", id}};
  if (tok && id >= 0 && static_cast<size_t>(id) < tok->vocab_size()) {
    try {
      j["token"] = std::string(tok->id_to_token(id));
    } catch (const Error&) {
      // a hole in the vocabulary: no token to show
    }
  }
  return j;
}

Json extra_tokens_json(const std::vector<tokenizer::ExtraToken>& extra) {
  Json list = Json::array();
  for (const auto& t : extra) {
    list.push_back({{"id", t.id}, {"content", t.content}, {"added", t.added}, {"special", t.special}});
  }
  return list;
}

Json describe_chat_template(const fs::path& dir) {
  Json j;
  std::vector<std::string> sources, names;
  if (fs::exists(dir / "chat_template.jinja")) {
    sources.push_back("chat_template.jinja");
    names.push_back("default");
  }
  if (const auto config = read_json_if_present(dir / "tokenizer_config.json")) {
    const io::JsonView view(*config, (dir / "tokenizer_config.json").string());
    view.expect_object();
    if (const auto t = view.find("chat_template")) {
      sources.push_back("tokenizer_config.json");
      if (t->is_string()) {
        names.push_back("default");
      } else if (t->is_array()) {
        for (size_t i = 0; i < t->size(); ++i) names.push_back(t->at(i).at("name").as_string());
      } else {
        t->type_error("a string or a list of {name, template}");
      }
    }
  }
  if (sources.empty() && fs::exists(dir / "chat_template.json")) sources.push_back("chat_template.json");
  if (fs::is_directory(dir / "additional_chat_templates")) {
    for (const auto& entry : fs::directory_iterator(dir / "additional_chat_templates")) {
      if (entry.path().extension() == ".jinja") names.push_back(entry.path().stem().string());
    }
    sources.push_back("additional_chat_templates/");
  }
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());
  j["present"] = !sources.empty();
  if (sources.empty()) return j;
  j["sources"] = sources;
  j["names"] = names;
  // Whether genarm's Jinja interpreter takes it (what `generate --chat` would use).
  try {
    (void)chat::ChatTemplate::from_model_dir(dir);
    j["parses"] = true;
  } catch (const Error& e) {
    j["parses"] = false;
    j["error"] = e.what();
  }
  return j;
}

// ---------------------------------------------------------------- adapters

Json describe_adapter_config(const fs::path& dir) {
  const fs::path file = dir / "adapter_config.json";
  const nlohmann::json raw = io::read_json_file(file);
  const io::JsonView root(raw, file.string());
  root.expect_object();
  Json j;
  const auto string_key = [&](const char* key) {
    if (const auto v = root.find(key)) j[key] = v->as_string();
  };
  const auto bool_key = [&](const char* key) {
    if (const auto v = root.find(key)) j[key] = v->as_bool();
  };
  string_key("peft_type");
  string_key("task_type");
  string_key("base_model_name_or_path");
  if (const auto v = root.find("r")) j["r"] = v->as_int(1, INT64_C(1) << 20);
  if (const auto v = root.find("lora_alpha")) j["lora_alpha"] = v->as_number();
  if (const auto v = root.find("lora_dropout")) j["lora_dropout"] = v->as_number();
  bool_key("use_rslora");
  bool_key("use_dora");
  bool_key("fan_in_fan_out");
  string_key("bias");
  if (const auto v = root.find("target_modules")) {
    if (v->is_string()) {
      j["target_modules"] = v->as_string();  // a regex over module names
    } else {
      Json list = Json::array();
      for (size_t i = 0; i < v->size(); ++i) list.push_back(v->at(i).as_string());
      j["target_modules"] = list;
    }
  }
  if (const auto v = root.find("modules_to_save")) {
    Json list = Json::array();
    for (size_t i = 0; i < v->size(); ++i) list.push_back(v->at(i).as_string());
    j["modules_to_save"] = list;
  }
  for (const char* key : {"rank_pattern", "alpha_pattern"}) {
    if (const auto v = root.find(key)) {
      Json map = Json::object();
      v->for_each_member([&](const std::string& module, const io::JsonView& value) {
        map[module] = key == std::string("rank_pattern") ? Json(value.as_int(1, INT64_C(1) << 20))
                                                           : Json(value.as_number());
      });
      if (!map.empty()) j[key] = map;
    }
  }
  if (const auto v = root.find("layers_to_transform")) j["layers_to_transform"] = v->json();
  return j;
}

// Full matrices an adapter saves beside its LoRA factors (modules_to_save: a resized
// embed_tokens / lm_head after adding a pad token), with their rows.
Json saved_vocabulary_rows(const io::Checkpoint& ckpt) {
  Json j = Json::object();
  for (const auto& name : ckpt.names()) {
    const bool vocab_matrix = name.find("embed_tokens") != std::string::npos || name.find("lm_head") != std::string::npos ||
                              name.find("wte") != std::string::npos;
    if (!vocab_matrix || name.find("lora_") != std::string::npos) continue;
    if (const auto rows = rows_of(ckpt, name)) j[name] = *rows;
  }
  return j;
}

// ---------------------------------------------------------------- as an ARM of --base

struct Verdict {
  std::vector<std::string> problems;  // why not
  std::vector<std::string> notes;     // accepted differences
};

Json arm_verdict(const fs::path& dir, const ConfigInfo& info, const std::optional<Tokenizer>& tok, bool adapter,
                 const std::optional<int64_t>& rows, const fs::path& base_dir) {
  Verdict v;
  const std::string base_name = base_dir.string();
  ConfigInfo base = describe_config(base_dir);
  const Tokenizer base_tok = Tokenizer::from_file(base_dir);
  if (!base.config) {
    v.problems.push_back("the base is not a model genarm runs: " + base.unsupported);
  } else if (base.config->head != io::ModelHead::kCausalLM) {
    v.problems.push_back("the base is a " + base.config->architecture +
                         " (a trajectory reward model); the base must be a causal LM");
  } else if (static_cast<size_t>(base.config->vocab_size) < base_tok.vocab_size()) {
    v.problems.push_back("the base has " + std::to_string(base.config->vocab_size) + " logit rows for its tokenizer's " +
                         std::to_string(base_tok.vocab_size()) + " tokens");
  }
  if (!adapter) {
    if (!info.config) {
      v.problems.push_back("not a model genarm runs: " + info.unsupported);
    } else if (info.config->head != io::ModelHead::kCausalLM) {
      v.problems.push_back("a " + info.config->architecture +
                           " (a trajectory reward model) scores whole sequences, it is not an ARM; use it as --rm for "
                           "args or best-of-n");
    }
  }
  bool smaller = false;
  if (!tok && adapter) {
    v.notes.push_back("no tokenizer.json: the adapter reads its base's tokenizer");
  } else if (!tok) {
    v.problems.push_back("no tokenizer.json in " + dir.string() + " to compare with the base's");
  } else {
    const tokenizer::Comparison c = base_tok.compare(*tok, "the base", "this model");
    smaller = c.kind == tokenizer::Comparison::Kind::kSmaller;
    if (!c.compatible()) {
      v.problems.push_back("its tokenizer differs from the base's: " + c.difference);
    } else if (const std::string accepted = tokenizer::describe_accepted(c); !accepted.empty()) {
      v.notes.push_back(accepted);
    }
  }
  if (rows && static_cast<size_t>(*rows) < base_tok.vocab_size()) {
    v.problems.push_back(std::string(smaller ? "and it has " : "its vocabulary is smaller than the base's: ") +
                         std::to_string(*rows) + " logit rows for the base tokenizer's " +
                         std::to_string(base_tok.vocab_size()) + " tokens");
  }
  if (info.config && base.config && info.config->max_position_embeddings < base.config->max_position_embeddings) {
    v.notes.push_back("its context (" + std::to_string(info.config->max_position_embeddings) +
                      " tokens) is shorter than the base's (" + std::to_string(base.config->max_position_embeddings) +
                      "): guided generation stops there");
  }
  if (adapter && base.config) {
    // Read it as generate would: every setting and tensor checked against this base's shapes.
    try {
      const auto lora = model::LoraAdapter::load(dir, *base.config, base_name);
      int64_t min_rank = lora->max_rank();
      for (int64_t l = 0; l < base.config->num_hidden_layers; ++l) {
        for (size_t t = 0; t < model::kLoraTargets; ++t) {
          const auto& f = lora->factors(l, static_cast<model::LoraTarget>(t));
          if (!f.empty()) min_rank = std::min(min_rank, f.rank());
        }
      }
      const std::string rank = min_rank == lora->max_rank() ? std::to_string(min_rank)
                                                            : std::to_string(min_rank) + ".." + std::to_string(lora->max_rank());
      v.notes.push_back("a LoRA adapter of this base: " + std::to_string(lora->modules().size()) + " modules, r " + rank +
                        ", " + std::to_string(lora->parameters()) + " parameters, applied unmerged over the base's "
                        "weights (shared with the base when it is --base)");
    } catch (const Error& e) {
      v.problems.push_back(std::string("the adapter cannot be applied to this base: ") + e.what());
    }
  }
  Json j;
  j["base"] = base_name;
  j["compatible"] = v.problems.empty();
  j["problems"] = v.problems;
  j["notes"] = v.notes;
  return j;
}

// ---------------------------------------------------------------- the report

Json inspect(const fs::path& dir, const std::optional<fs::path>& base_dir) {
  if (!fs::is_directory(dir)) fail(ErrorCategory::kIo, dir.string(), ": not a folder");
  const bool adapter = fs::exists(dir / "adapter_config.json");
  if (!adapter && !fs::exists(dir / "config.json")) {
    fail(ErrorCategory::kIo, dir.string(),
         ": not a Hugging Face model folder (no config.json, nor adapter_config.json for a PEFT adapter)");
  }
  Json j;
  j["path"] = dir.string();
  const io::CheckpointFileNames& names = adapter ? io::kAdapterFiles : io::kModelFiles;
  const WeightFiles files = weight_files(dir, names, adapter);
  // A folder may hold only its JSON files (weights not downloaded yet): still worth inspecting,
  // e.g. to check a tokenizer before fetching 13 GB. Opening a checkpoint validates its headers.
  std::optional<io::Checkpoint> ckpt;
  if (!files.chosen.empty()) {
    ckpt.emplace(io::Checkpoint::open(dir, names));
    j["format"] = files.format;
    j["weights_file"] = files.chosen;
  } else {
    std::string looked;
    for (const auto name : {names.safetensors, names.safetensors_index, names.bin, names.bin_index}) {
      if (!name.empty()) looked += (looked.empty() ? "" : ", ") + std::string(name);
    }
    j["format"] = std::string(adapter ? "PEFT adapter, " : "") + "no weights (looked for " + looked + ")";
    j["weights_file"] = nullptr;
  }
  if (!files.others.empty()) j["ignored_weight_files"] = files.others;

  ConfigInfo info;
  std::optional<int64_t> rows;
  if (adapter) {
    j["adapter"] = describe_adapter_config(dir);
    if (ckpt) {
      j["weights"] = describe_tensors(*ckpt);
      j["weights"]["vocabulary_rows"] = saved_vocabulary_rows(*ckpt);
      for (const auto& [name, n] : j["weights"]["vocabulary_rows"].items()) {
        rows = rows ? std::min(*rows, n.get<int64_t>()) : n.get<int64_t>();
      }
    }
  } else {
    info = describe_config(dir);
    for (const auto& [key, value] : info.json.items()) j[key] = value;
    if (ckpt) j["weights"] = describe_tensors(*ckpt);
  }

  std::optional<Tokenizer> tok;
  if (fs::exists(dir / "tokenizer.json")) tok = Tokenizer::from_file(dir);
  Json vocab;
  if (info.config) {
    const io::ModelConfig& c = *info.config;
    const model::ArchitectureSpec& spec = model::spec_for(c);
    rows = c.vocab_size;
    vocab["vocab_size"] = c.vocab_size;
    if (ckpt) {
      std::string body(spec.base_prefix);
      if (!ckpt->find(body + std::string(spec.embed) + ".weight")) body.clear();
      const auto embed = rows_of(*ckpt, body + std::string(spec.embed) + ".weight");
      if (embed) vocab["embedding_rows"] = *embed;
      std::optional<int64_t> head;
      if (c.head == io::ModelHead::kCausalLM) {
        head = rows_of(*ckpt, std::string(spec.lm_head) + ".weight");
        if (head) {
          vocab["lm_head_rows"] = *head;
        } else if (c.tie_word_embeddings) {
          vocab["lm_head_rows"] = "tied";
        }
      }
      for (const auto& [what, r] : {std::pair{"embedding", embed}, std::pair{"lm_head", head}}) {
        if (r && *r != c.vocab_size && !vocab.contains("problem")) {
          vocab["problem"] = std::string("config.json says vocab_size ") + std::to_string(c.vocab_size) + " but the " +
                             what + " has " + std::to_string(*r) + " rows: genarm refuses to load it";
        }
      }
    }
  } else if (info.json.contains("vocab_size")) {
    rows = info.json["vocab_size"].get<int64_t>();
    vocab["vocab_size"] = *rows;
  }
  if (tok) {
    vocab["tokenizer_size"] = tok->vocab_size();
    vocab["tokenizer_model_size"] = tok->model_vocab_size();
    vocab["added_tokens"] = tok->added_token_count();
    vocab["added_beyond_model_vocabulary"] = extra_tokens_json(tok->tokens_from(tok->model_vocab_size()));
    if (rows) {
      const auto n = static_cast<int64_t>(tok->vocab_size());
      if (*rows > n) vocab["padding_rows"] = *rows - n;  // rows no token maps to: cut when decoding
      if (*rows < n && !vocab.contains("problem")) {
        vocab["problem"] = "fewer logit rows than tokenizer ids: genarm refuses to load it";
      }
    }
  } else {
    vocab["tokenizer_size"] = nullptr;
  }
  // added_tokens.json (written beside slow tokenizers): transformers adds its tokens at load;
  // genarm reads tokenizer.json only, so a token missing there is worth saying.
  if (const auto added = read_json_if_present(dir / "added_tokens.json")) {
    const io::JsonView view(*added, (dir / "added_tokens.json").string());
    Json listed = Json::object(), missing = Json::array();
    view.for_each_member([&](const std::string& content, const io::JsonView& id) {
      const auto n = static_cast<int32_t>(id.as_int(0, INT32_MAX));
      listed[content] = n;
      if (!tok || tok->token_to_id(content) != n) missing.push_back({{"id", n}, {"content", content}});
    });
    vocab["added_tokens_json"] = listed;
    if (!missing.empty()) vocab["added_tokens_json_not_in_tokenizer"] = missing;
  }
  j["vocabulary"] = vocab;

  j["chat_template"] = describe_chat_template(dir);
  if (info.config) {
    const io::ModelConfig& c = *info.config;
    Json ids;
    if (c.bos_token_id) ids["bos"] = token_json(tok, *c.bos_token_id);
    Json eos = Json::array();
    for (int32_t id : c.eos_token_ids) eos.push_back(token_json(tok, id));
    ids["eos"] = eos;
    if (c.pad_token_id) ids["pad"] = token_json(tok, *c.pad_token_id);
    j["special_ids"] = ids;
  }
  if (base_dir) j["as_arm"] = arm_verdict(dir, info, tok, adapter, rows, *base_dir);
  return j;
}

// ---------------------------------------------------------------- text output

void line(const char* key, const std::string& value) { std::printf("  %-15s %s\n", key, value.c_str()); }

std::string dtypes_text(const Json& dtypes) {
  std::string s;
  for (const auto& [name, n] : dtypes.items()) {
    s += (s.empty() ? "" : ", ") + name + " (" + std::to_string(n.get<int64_t>()) + " tensors)";
  }
  return s;
}

std::string tokens_text(const Json& list) {
  std::string s;
  size_t i = 0;
  for (const auto& t : list) {
    if (i == 5) {
      s += ", ...";
      break;
    }
    s += (i++ ? ", " : "") + std::to_string(t["id"].get<int64_t>()) + " " + quoted(t["content"].get<std::string>());
    if (t["special"].get<bool>()) s += " (special)";
  }
  return s;
}

std::string id_text(const Json& t) {
  std::string s = std::to_string(t["id"].get<int64_t>());
  if (t.contains("token")) s += " " + quoted(t["token"].get<std::string>());
  return s;
}

void print_text(const Json& j) {
  std::printf("%s\n", j["path"].get<std::string>().c_str());
  const bool weights = !j["weights_file"].is_null();
  line("format", j["format"].get<std::string>() + (weights ? " (" + j["weights_file"].get<std::string>() + ")" : ""));
  if (j.contains("ignored_weight_files")) {
    std::string s;
    for (const auto& f : j["ignored_weight_files"]) s += (s.empty() ? "" : ", ") + f.get<std::string>();
    line("also present", s + " (not read: " + j["weights_file"].get<std::string>() + " is preferred)");
  }
  if (j.contains("adapter")) {
    bool first = true;
    for (const auto& [key, value] : j["adapter"].items()) {
      std::string text;
      if (value.is_string()) {
        text = value.get<std::string>();
      } else if (value.is_number_float()) {
        char buf[32];
        std::snprintf(buf, sizeof buf, "%g", value.get<double>());
        text = buf;
      } else {
        text = value.dump();
      }
      line(first ? "adapter" : "", key + ": " + text);
      first = false;
    }
  }
  if (j.contains("architecture") || j.contains("model_type")) {
    std::string arch = j.value("architecture", std::string("?"));
    if (j.contains("model_type")) arch += " (" + j["model_type"].get<std::string>() + ")";
    if (j.contains("head")) {
      arch += j["head"] == "causal_lm" ? ", causal LM" : ", sequence classification (a trajectory reward model)";
    }
    line("architecture", arch);
    if (!j["supported"].get<bool>()) line("supported", "no: " + j["unsupported_reason"].get<std::string>());
  }
  if (weights) {
    const Json& w = j["weights"];
    std::string dtypes = dtypes_text(w["dtypes"]);
    if (j.contains("config_dtype")) dtypes += "; config.json says " + j["config_dtype"].get<std::string>();
    line("dtypes", dtypes);
    std::string params = human_count(w["parameters"].get<double>()) + " parameters (" +
                         std::to_string(w["parameters"].get<int64_t>()) + "), " +
                         human_bytes(w["parameter_bytes"].get<double>()) + " in " +
                         std::to_string(w["files"].size()) + (w["files"].size() == 1 ? " file" : " files");
    if (w["shared_tensors"].get<int64_t>() > 0) params += ", " + std::to_string(w["shared_tensors"].get<int64_t>()) + " tied";
    if (w["buffers"].get<int64_t>() > 0) params += ", " + std::to_string(w["buffers"].get<int64_t>()) + " buffers";
    line(j.contains("adapter") ? "adapter weights" : "parameters",
         (j.contains("adapter") ? std::to_string(w["tensors"].get<int64_t>()) + " tensors, " : std::string()) + params);
  } else if (j.contains("config_dtype")) {
    line("dtypes", "config.json says " + j["config_dtype"].get<std::string>());
  }
  if (j.contains("hidden_size")) {
    std::string shape = "hidden " + std::to_string(j["hidden_size"].get<int64_t>());
    const auto add = [&](const char* key, const char* label) {
      if (j.contains(key)) shape += std::string(", ") + label + " " + std::to_string(j[key].get<int64_t>());
    };
    add("num_hidden_layers", "layers");
    add("num_attention_heads", "heads");
    add("num_key_value_heads", "KV heads");
    add("head_dim", "head dim");
    add("intermediate_size", "intermediate");
    add("max_position_embeddings", "context");
    add("sliding_window", "sliding window");
    line("shape", shape);
  }
  const Json& v = j["vocabulary"];
  std::string vocab;
  if (v.contains("vocab_size")) vocab = std::to_string(v["vocab_size"].get<int64_t>()) + " logit rows";
  if (v.contains("embedding_rows") && v["embedding_rows"] != v["vocab_size"]) {
    vocab += " (embedding " + std::to_string(v["embedding_rows"].get<int64_t>()) + ")";
  }
  if (!v["tokenizer_size"].is_null()) {
    vocab += std::string(vocab.empty() ? "" : ", ") + "tokenizer " + std::to_string(v["tokenizer_size"].get<int64_t>()) +
             " ids (" + std::to_string(v["tokenizer_model_size"].get<int64_t>()) + " in the BPE vocabulary, " +
             std::to_string(v["added_tokens"].get<int64_t>()) +
             (v["added_tokens"].get<int64_t>() == 1 ? " added token)" : " added tokens)");
  } else {
    vocab += std::string(vocab.empty() ? "" : ", ") + "no tokenizer.json";
  }
  line("vocabulary", vocab);
  if (v.contains("added_beyond_model_vocabulary") && !v["added_beyond_model_vocabulary"].empty()) {
    line("", "added beyond the BPE vocabulary: " + tokens_text(v["added_beyond_model_vocabulary"]));
  }
  if (v.contains("added_tokens_json_not_in_tokenizer")) {
    std::string s;
    for (const auto& t : v["added_tokens_json_not_in_tokenizer"]) {
      s += (s.empty() ? "" : ", ") + quoted(t["content"].get<std::string>()) + " at " + std::to_string(t["id"].get<int64_t>());
    }
    line("", "added_tokens.json lists " + s + ", not in tokenizer.json (transformers adds them when loading; genarm "
             "reads tokenizer.json only)");
  }
  if (v.contains("padding_rows")) {
    const int64_t n = v["padding_rows"].get<int64_t>();
    line("", std::to_string(n) + (n == 1 ? " logit row" : " logit rows") + " beyond the tokenizer (cut when decoding)");
  }
  if (v.contains("problem")) line("", v["problem"].get<std::string>());
  if (j.contains("weights") && j["weights"].contains("vocabulary_rows")) {
    for (const auto& [name, n] : j["weights"]["vocabulary_rows"].items()) {
      line("", "saved " + name + ": " + std::to_string(n.get<int64_t>()) + " rows");
    }
  }
  const Json& t = j["chat_template"];
  if (t["present"].get<bool>()) {
    std::string s, names;
    for (const auto& src : t["sources"]) s += (s.empty() ? "" : ", ") + src.get<std::string>();
    for (const auto& n : t["names"]) names += (names.empty() ? "" : ", ") + n.get<std::string>();
    if (!names.empty()) s += " (" + names + ")";
    s += t["parses"].get<bool>() ? "" : "; genarm cannot read it: " + t["error"].get<std::string>();
    line("chat template", s);
  } else {
    line("chat template", "none");
  }
  if (j.contains("special_ids")) {
    const Json& ids = j["special_ids"];
    std::string s;
    if (ids.contains("bos")) s += "bos " + id_text(ids["bos"]);
    std::string eos;
    for (const auto& e : ids["eos"]) eos += (eos.empty() ? "" : ", ") + id_text(e);
    s += (s.empty() ? "" : "; ") + std::string("eos ") + (eos.empty() ? "none" : eos);
    if (ids.contains("pad")) s += "; pad " + id_text(ids["pad"]);
    line("special ids", s);
  }
  if (j.contains("as_arm")) {
    const Json& a = j["as_arm"];
    const std::string base = a["base"].get<std::string>();
    if (a["compatible"].get<bool>()) {
      line("as an ARM", "yes, it can guide " + base);
    } else {
      line("as an ARM", "no, it cannot guide " + base + ":");
      for (const auto& p : a["problems"]) line("", "- " + p.get<std::string>());
    }
    for (const auto& n : a["notes"]) line("", "note: " + n.get<std::string>());
  }
}

}  // namespace

int run_inspect(const Argv& argv) {
  // DIR is positional; everything else goes through Args.
  Argv rest;
  std::optional<std::string> dir;
  for (size_t i = 0; i < argv.size(); ++i) {
    const std::string& a = argv[i];
    if (a == "--base" && i + 1 < argv.size()) {
      rest.push_back(a);
      rest.push_back(argv[++i]);
    } else if (!a.empty() && a[0] == '-') {
      rest.push_back(a);
    } else if (!dir) {
      dir = a;
    } else {
      throw UsageError("one model folder at a time: got '" + *dir + "' and '" + a + "'");
    }
  }
  Args args("inspect", {{"--base", "DIR", "also say whether the folder can guide this base model as an ARM"},
                        {"--json", "", "print one JSON object"}});
  if (!args.parse(rest)) {
    std::printf("%s%s", kUsage, args.help().c_str());
    return 0;
  }
  if (!dir) throw UsageError("give a model folder: genarm inspect DIR (see --help)");
  std::optional<fs::path> base;
  if (const auto b = args.get("--base")) base = resolve_model(*b);
  const Json report = inspect(resolve_model(*dir), base);
  if (args.flag("--json")) {
    std::printf("%s\n", report.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
  } else {
    print_text(report);
  }
  return 0;
}

}  // namespace genarm::cli
