// genarm: the command-line face of the library. `genarm <command> --help` documents each command.
#include <cstdio>
#include <exception>
#include <iostream>
#include <new>
#include <string>
#include <vector>

#include "args.hpp"
#include "commands.hpp"

namespace {

struct Command {
  const char* name;
  int (*run)(const genarm::cli::Argv&);
  const char* summary;
};

const Command kCommands[] = {
    {"demo", genarm::cli::run_demo, "GenARM on the bundled toy models: side-by-side texts, table, plots"},
    {"generate", genarm::cli::run_generate, "guided generation: a base model steered by ARMs (GenARM)"},
    {"eval", genarm::cli::run_eval, "compare decoding methods on prompts: sentiment, rewards, length, plots"},
    {"score", genarm::cli::run_score, "ARM reward of responses: sum_t log pi_arm(y_t | x, y_<t)"},
    {"tokenize", genarm::cli::run_tokenize, "text to token ids, as Hugging Face tokenizers does"},
    {"detokenize", genarm::cli::run_detokenize, "token ids to text"},
    {"bench", genarm::cli::run_bench, "speed of base, GenARM, ARGS and best-of-N on the same prompts"},
    {"logits", genarm::cli::run_logits, "next-token logits of a model for a list of token ids"},
    {"serve", genarm::cli::run_serve, "OpenAI-compatible HTTP server; each request picks its guidance"},
    {"template", genarm::cli::run_template, "the prompt a chat template renders for messages (as HF)"},
    {"inspect", genarm::cli::run_inspect, "what a model folder holds; with --base, whether it can guide that base"},
};

void print_usage(std::FILE* out) {
  std::fprintf(out,
               "genarm — GenARM reward-guided decoding (Xu et al., ICLR 2025) on Hugging Face checkpoints\n\n"
               "usage: genarm <command> [options]   (genarm <command> --help for its options)\n\n"
               "commands:\n");
  for (const auto& c : kCommands) std::fprintf(out, "  %-12s %s\n", c.name, c.summary);
  std::fprintf(out,
               "\nModels are Hugging Face folders (config.json, model.safetensors, tokenizer.json) or the\n"
               "names of the bundled toy models (toy-base, toy-arm-positive, toy-arm-concise, ...).\n");
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    print_usage(args.empty() ? stderr : stdout);
    return args.empty() ? 2 : 0;
  }
  const std::string name = args[0];
  args.erase(args.begin());
  for (const auto& c : kCommands) {
    if (name != c.name) continue;
    try {
      return c.run(args);
    } catch (const genarm::cli::UsageError& e) {
      std::fprintf(stderr, "genarm %s: %s\n", name.c_str(), e.what());
      return 2;
    } catch (const genarm::Error& e) {
      std::fprintf(stderr, "genarm %s: error: %s\n", name.c_str(), e.what());
      return 1;
    } catch (const std::bad_alloc&) {
      std::fprintf(stderr, "genarm %s: error: out of memory\n", name.c_str());
      return 1;
    } catch (const std::exception& e) {
      std::fprintf(stderr, "genarm %s: internal error: %s\n", name.c_str(), e.what());
      return 1;
    }
  }
  std::fprintf(stderr, "genarm: unknown command '%s'\n\n", name.c_str());
  print_usage(stderr);
  return 2;
}
