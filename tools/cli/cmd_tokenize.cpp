// genarm tokenize / detokenize: the tokenizer of a checkpoint, as Hugging Face tokenizers runs it.
#include <cstdio>
#include <fstream>
#include <sstream>
#include <nlohmann/json.hpp>
#include <string>

#include "args.hpp"
#include "commands.hpp"
#include "common.hpp"
#include "genarm/tokenizer/tokenizer.hpp"

namespace genarm::cli {
namespace {

Tokenizer load_tokenizer(const Args& args) {
  return Tokenizer::from_file(resolve_model(args.get_or("--tokenizer", "toy-base")));
}

std::string read_text_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(ErrorCategory::kIo, path, ": cannot open");
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

int run_tokenize(const Argv& argv) {
  Args args("tokenize", {
                            {"--tokenizer", "PATH", "tokenizer.json or a model folder (default toy-base)"},
                            {"--text", "STR", "text to encode"},
                            {"--text-file", "FILE", "encode the contents of FILE"},
                            {"--no-special", "", "do not add special tokens (add_special_tokens=False)"},
                            {"--json", "", "print {\"ids\": [...], \"tokens\": [...]}"},
                        });
  if (!args.parse(argv)) {
    std::printf("usage: genarm tokenize --tokenizer PATH (--text STR | --text-file FILE) [--no-special] [--json]\n\n%s",
                args.help().c_str());
    return 0;
  }
  if (args.has("--text") == args.has("--text-file")) throw UsageError("give exactly one of --text, --text-file");
  const std::string text = args.has("--text") ? *args.get("--text") : read_text_file(*args.get("--text-file"));
  const auto tokenizer = load_tokenizer(args);
  const auto enc = tokenizer.encode_with_tokens(text, !args.flag("--no-special"));
  if (args.flag("--json")) {
    const nlohmann::json j{{"ids", enc.ids}, {"tokens", enc.tokens}};
    std::printf("%s\n", j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
    return 0;
  }
  for (size_t i = 0; i < enc.ids.size(); ++i) {
    std::printf("%8d  %s\n", enc.ids[i], nlohmann::json(enc.tokens[i]).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
  }
  std::fprintf(stderr, "[%zu tokens]\n", enc.ids.size());
  return 0;
}

int run_detokenize(const Argv& argv) {
  Args args("detokenize", {
                              {"--tokenizer", "PATH", "tokenizer.json or a model folder (default toy-base)"},
                              {"--ids", "1,2,3", "token ids to decode"},
                              {"--skip-special", "", "drop special tokens (skip_special_tokens=True)"},
                              {"--json", "", "print {\"text\": \"...\"}"},
                          });
  if (!args.parse(argv)) {
    std::printf("usage: genarm detokenize --tokenizer PATH --ids 1,2,3 [--skip-special] [--json]\n\n%s",
                args.help().c_str());
    return 0;
  }
  const auto ids = Args::parse_ids("--ids", args.require("--ids"));
  const auto tokenizer = load_tokenizer(args);
  const std::string text = tokenizer.decode(ids, args.flag("--skip-special"));
  if (args.flag("--json")) {
    std::printf("%s\n", nlohmann::json{{"text", text}}.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
  } else {
    std::printf("%s\n", text.c_str());
  }
  return 0;
}

}  // namespace genarm::cli
