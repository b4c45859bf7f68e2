// genarm template: the prompt a model's chat template makes of a conversation — what Hugging
// Face's tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=...) returns
// (or, with --ids, the token ids of apply_chat_template(tokenize=True): the text encoded without
// adding special tokens again, since the template writes them).
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>

#include "args.hpp"
#include "commands.hpp"
#include "common.hpp"
#include "genarm/chat/chat_template.hpp"
#include "genarm/io/json.hpp"
#include "genarm/tokenizer/tokenizer.hpp"

namespace genarm::cli {
namespace {

const char* kUsage =
    "usage: genarm template --model DIR --messages FILE.json [--add-generation-prompt] [--chat-template FILE]\n"
    "         [--vars JSON] [--ids]\n\n"
    "Prints the prompt the chat template renders for the messages (a JSON array of {\"role\", \"content\"},\n"
    "or a request body with \"messages\"), exactly as transformers' apply_chat_template(tokenize=False).\n\n";

std::vector<OptionSpec> options() {
  return {
      {"--model", "DIR", "model folder or bundled name (its chat_template.jinja / tokenizer_config.json)"},
      {"--messages", "FILE", "JSON file: an array of messages, or an object with \"messages\" (- = stdin)"},
      {"--add-generation-prompt", "", "end with the assistant's turn header (as for generation)"},
      {"--chat-template", "FILE", "use this Jinja template instead of the model's"},
      {"--vars", "JSON", "extra template variables, a JSON object (e.g. {\"enable_thinking\": false})"},
      {"--ids", "", "print the token ids (comma-separated) instead of the text"},
  };
}

std::string read_all(const std::string& path) {
  std::ostringstream text;
  if (path == "-") {
    text << std::cin.rdbuf();
    return text.str();
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(ErrorCategory::kIo, path, ": cannot open");
  text << in.rdbuf();
  return text.str();
}

nlohmann::ordered_json parse_ordered(const std::string& text, const std::string& origin) {
  // Key order is kept (the template's tojson shows it); size and depth bounded as io::parse_json.
  const io::JsonLimits limits;
  if (text.size() > limits.max_bytes) fail(ErrorCategory::kFormat, origin, ": JSON text too large");
  if (io::detail::find_excess_json_depth(text, limits.max_depth) != std::string::npos) {
    fail(ErrorCategory::kFormat, origin, ": JSON nested deeper than ", limits.max_depth, " levels");
  }
  try {
    return nlohmann::ordered_json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    fail(ErrorCategory::kFormat, origin, ": not valid JSON: ", e.what());
  }
}

}  // namespace

int run_template(const Argv& argv) {
  Args args("template", options());
  if (!args.parse(argv)) {
    std::printf("%s%s", kUsage, args.help().c_str());
    return 0;
  }
  const std::filesystem::path dir = resolve_model(args.require("--model"));
  const std::string messages_path = args.require("--messages");
  nlohmann::ordered_json messages = parse_ordered(read_all(messages_path), messages_path);
  if (messages.is_object() && messages.contains("messages")) messages = messages["messages"];
  if (!messages.is_array()) {
    fail(ErrorCategory::kInvalidArgument, messages_path, ": expected a JSON array of messages (or {\"messages\": [...]})");
  }
  nlohmann::ordered_json vars = nlohmann::ordered_json::object();
  if (auto v = args.get("--vars")) {
    vars = parse_ordered(*v, "--vars");
    if (!vars.is_object()) fail(ErrorCategory::kInvalidArgument, "--vars: expected a JSON object");
  }
  const chat::ChatTemplate tpl = args.has("--chat-template")
                                     ? chat::ChatTemplate::from_file(*args.get("--chat-template"), chat::SpecialTokens::from_model_dir(dir))
                                     : chat::ChatTemplate::from_model_dir(dir);
  const std::string text = tpl.render(messages, args.flag("--add-generation-prompt"), vars);
  if (args.flag("--ids")) {
    const Tokenizer tokenizer = Tokenizer::from_file(dir);
    const auto ids = tokenizer.encode(text, /*add_special_tokens=*/false);
    std::string out;
    for (size_t i = 0; i < ids.size(); ++i) out += (i ? "," : "") + std::to_string(ids[i]);
    std::printf("%s\n", out.c_str());
    return 0;
  }
  std::fwrite(text.data(), 1, text.size(), stdout);
  return 0;
}

}  // namespace genarm::cli
