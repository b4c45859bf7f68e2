// The genarm subcommands. Each takes the arguments after its name and returns the exit code;
// errors are thrown as genarm::Error (exit 1) or UsageError (exit 2) and printed by main().
#pragma once

#include <string>
#include <vector>

namespace genarm::cli {

using Argv = std::vector<std::string>;

int run_logits(const Argv& args);
int run_generate(const Argv& args);
int run_tokenize(const Argv& args);
int run_detokenize(const Argv& args);
int run_score(const Argv& args);
int run_eval(const Argv& args);
int run_demo(const Argv& args);
int run_bench(const Argv& args);
int run_serve(const Argv& args);
int run_template(const Argv& args);
int run_inspect(const Argv& args);

}  // namespace genarm::cli
