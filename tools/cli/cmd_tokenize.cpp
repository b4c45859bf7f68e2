// genarm tokenize / detokenize: the tokenizer of a checkpoint, as Hugging Face tokenizers runs it.
#include <cstdio>
#include <fstream>
#include <memory>
#include <sstream>
#include <nlohmann/json.hpp>
#include <string>

#include "args.hpp"
#include "commands.hpp"
#include "common.hpp"
#include "genarm/core/thread_pool.hpp"
#include "genarm/io/jsonl.hpp"
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

std::string dump_line(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// The text of one --input line: a JSON string, or an object with "text" (or "prompt", as
// generate --input reads) — anything else is an error naming file:line.
std::string input_text(const nlohmann::json& record, const std::string& where) {
  if (record.is_string()) return record.get<std::string>();
  if (record.is_object()) {
    for (const char* key : {"text", "prompt"}) {
      if (!record.contains(key)) continue;
      if (!record[key].is_string()) fail(ErrorCategory::kFormat, where, ": \"", key, "\" must be a string");
      return record[key].get<std::string>();
    }
  }
  fail(ErrorCategory::kFormat, where, ": expected a JSON string or an object with \"text\", got ",
       dump_line(record).substr(0, 80));
}

// tokenize --input: one JSON line out per line in, in input order ({"id"?, "ids", "tokens"}, as
// HF's encode_batch), encoded in blocks across the pool; each block is written as it completes.
int tokenize_lines(const Args& args, const Tokenizer& tokenizer, bool add_special, bool with_tokens) {
  io::JsonlReader reader(*args.get("--input"));
  std::FILE* out = stdout;
  std::unique_ptr<io::JsonlWriter> writer;
  if (auto path = args.get("--output")) writer = std::make_unique<io::JsonlWriter>(*path, /*append=*/false);
  ThreadPool pool(static_cast<size_t>(args.get_int("--threads", 0, 0, 1024)));
  constexpr size_t kBlock = 1024;  // lines per parallel block: bounds memory on big inputs
  std::vector<nlohmann::json> ids;
  std::vector<std::string> texts, wheres, errors;
  std::vector<Tokenizer::Encoding> encodings;
  size_t lines = 0, tokens = 0;
  for (bool more = true; more;) {
    ids.clear();
    texts.clear();
    wheres.clear();
    while (texts.size() < kBlock) {
      auto record = reader.next();
      if (!record) {
        more = false;
        break;
      }
      texts.push_back(input_text(*record, reader.where()));
      wheres.push_back(reader.where());
      ids.push_back(record->is_object() && record->contains("id") ? (*record)["id"] : nlohmann::json());
    }
    encodings.assign(texts.size(), {});
    errors.assign(texts.size(), {});
    pool.parallel_for(texts.size(), [&](size_t begin, size_t end, size_t) {
      for (size_t i = begin; i < end; ++i) {
        try {  // a parallel_for body must not throw: the first failing line is reported below
          encodings[i] = with_tokens ? tokenizer.encode_with_tokens(texts[i], add_special)
                                     : Tokenizer::Encoding{tokenizer.encode(texts[i], add_special), {}};
        } catch (const std::exception& e) {
          errors[i] = e.what();
        }
      }
    });
    for (size_t i = 0; i < texts.size(); ++i) {
      if (!errors[i].empty()) fail(ErrorCategory::kInvalidArgument, wheres[i], ": ", errors[i]);
    }
    for (size_t i = 0; i < texts.size(); ++i) {
      nlohmann::json j;
      if (!ids[i].is_null()) j["id"] = ids[i];
      j["ids"] = encodings[i].ids;
      if (with_tokens) j["tokens"] = encodings[i].tokens;
      tokens += encodings[i].ids.size();
      if (writer) {
        writer->write(j);
      } else {
        std::fprintf(out, "%s\n", dump_line(j).c_str());
      }
    }
    if (!writer) std::fflush(out);
    lines += texts.size();
  }
  std::fprintf(stderr, "[%zu lines, %zu tokens]\n", lines, tokens);
  return 0;
}

}  // namespace

int run_tokenize(const Argv& argv) {
  Args args("tokenize", {
                            {"--tokenizer", "PATH", "tokenizer.json or a model folder (default toy-base)"},
                            {"--text", "STR", "text to encode"},
                            {"--text-file", "FILE", "encode the contents of FILE"},
                            {"--no-special", "", "do not add special tokens (add_special_tokens=False)"},
                            {"--json", "", "print {\"ids\": [...], \"tokens\": [...]}"},
                            {"--input", "FILE", "JSONL: one text per line (a JSON string or {\"text\"|\"prompt\": ..., \"id\"?}); "
                                               "prints one {\"id\"?, \"ids\", \"tokens\"} line per input line, in order"},
                            {"--output", "FILE", "with --input: write the lines to FILE instead of stdout"},
                            {"--ids-only", "", "with --input: leave out \"tokens\""},
                            {"--threads", "N", "with --input: encoding threads (default: all cores)"},
                        });
  if (!args.parse(argv)) {
    std::printf("usage: genarm tokenize --tokenizer PATH (--text STR | --text-file FILE) [--no-special] [--json]\n"
                "       genarm tokenize --tokenizer PATH --input texts.jsonl [--output ids.jsonl] [--ids-only] [--no-special]\n\n%s",
                args.help().c_str());
    return 0;
  }
  const int sources = int(args.has("--text")) + int(args.has("--text-file")) + int(args.has("--input"));
  if (sources != 1) throw UsageError("give exactly one of --text, --text-file, --input");
  if (!args.has("--input")) {
    for (const char* flag : {"--output", "--ids-only", "--threads"}) {
      if (args.has(flag)) throw UsageError(std::string(flag) + " goes with --input");
    }
  } else {
    const auto tokenizer = load_tokenizer(args);
    return tokenize_lines(args, tokenizer, !args.flag("--no-special"), !args.flag("--ids-only"));
  }
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
