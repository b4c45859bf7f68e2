// Checks that a model reads the token ids of the base's tokenizer (reward models, judging ARMs,
// `score --base`) and prints what was accepted once per process.
#pragma once

#include <cstdio>
#include <set>
#include <string>

#include "genarm/core/error.hpp"
#include "genarm/tokenizer/tokenizer.hpp"

namespace genarm::cli {

// A note on stderr, once per process (a model several methods load is reported once).
inline void print_note_once(const std::string& note) {
  static std::set<std::string> printed;
  if (printed.insert(note).second) std::fprintf(stderr, "genarm: note: %s\n", note.c_str());
}

// Throws unless `other` reads the token ids of the base's tokenizer as the base does
// (Tokenizer::compare: tokens beyond the base's vocabulary allowed and noted). `role` and `name`
// name it ("ARM", "reward model"; its folder) as GuidedModel's notes do, so that a model noted
// there is not noted twice; `why` ends the error message.
inline void check_reads_base_ids(const Tokenizer& base, const std::string& base_name, const Tokenizer& other,
                                 const std::string& role, const std::string& name, const std::string& why) {
  const tokenizer::Comparison c = base.compare(other, "the base", "the " + role);
  if (!c.compatible()) {
    fail(ErrorCategory::kInvalidArgument, "the tokenizer of ", role, " ", name, " differs from the base model's (",
         base_name, "): ", c.difference, ": ", why);
  }
  const std::string accepted = tokenizer::describe_accepted(c);
  if (!accepted.empty()) print_note_once(role + " " + name + ": " + accepted);
}

}  // namespace genarm::cli
