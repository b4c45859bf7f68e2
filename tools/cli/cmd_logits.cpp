// genarm logits: next-token logits of a model for given token ids, for checking against
// transformers or inspecting a checkpoint.
#include <algorithm>
#include <cstdio>
#include <numeric>
#include <string>

#include "args.hpp"
#include "commands.hpp"
#include "options.hpp"
#include "common.hpp"
#include "genarm/core/thread_pool.hpp"
#include "genarm/model/transformer.hpp"

namespace genarm::cli {

int run_logits(const Argv& argv) {
  Args args("logits", {
                          {"--model", "DIR", "model folder or bundled model name (default toy-base)"},
                          {"--ids", "1,2,3", "token ids, comma-separated (required)"},
                          {"--all-positions", "", "one row per position instead of the last only"},
                          {"--json", "", "print {\"logits\": [[...], ...]}"},
                          {"--top", "K", "without --json: show the K largest logits (default 10)"},
                          {"--threads", "N", "threads (default: all cores)"},
                          weight_type_options().front(),
                      });
  if (!args.parse(argv)) {
    std::printf("usage: genarm logits --model DIR --ids 1,2,3 [--all-positions] [--json]\n\n%s",
                args.help().c_str());
    return 0;
  }
  const auto ids = Args::parse_ids("--ids", args.require("--ids"));
  const auto top = args.get_int("--top", 10, 1, 1 << 20);
  ThreadPool pool(static_cast<size_t>(args.get_int("--threads", 0, 0, 1024)));
  const auto model = model::Transformer::load(resolve_model(args.get_or("--model", "toy-base")),
                                              {.weights = weight_type(args), .pool = &pool, .progress = {}});
  auto state = model.new_sequence(static_cast<int64_t>(ids.size()));
  state.set_thread_pool(&pool);

  model::RowMatrix rows;
  if (args.flag("--all-positions")) {
    model.forward_all(state, ids, rows);
  } else {
    const auto last = model.forward(state, ids);
    rows = Eigen::Map<const model::RowMatrix>(last.data(), 1, static_cast<Eigen::Index>(last.size()));
  }
  if (args.flag("--json")) {
    std::string out = "{\"logits\": [";
    for (Eigen::Index r = 0; r < rows.rows(); ++r) {
      if (r) out += ", ";
      append_float_array(out, {rows.row(r).data(), static_cast<size_t>(rows.cols())});
    }
    out += "]}\n";
    std::fwrite(out.data(), 1, out.size(), stdout);
    return 0;
  }
  const Eigen::Index first_position = static_cast<Eigen::Index>(ids.size()) - rows.rows();
  for (Eigen::Index r = 0; r < rows.rows(); ++r) {
    std::vector<int> order(static_cast<size_t>(rows.cols()));
    std::iota(order.begin(), order.end(), 0);
    const size_t k = std::min<size_t>(static_cast<size_t>(top), order.size());
    std::partial_sort(order.begin(), order.begin() + static_cast<long>(k), order.end(),
                      [&](int a, int b) { return rows(r, a) > rows(r, b); });
    std::printf("position %ld (after id %d): top %zu of %ld logits\n",
                static_cast<long>(first_position + r), ids[static_cast<size_t>(first_position + r)], k,
                static_cast<long>(rows.cols()));
    for (size_t i = 0; i < k; ++i) {
      std::printf("  %8d  %s\n", order[i], format_float(rows(r, order[i])).c_str());
    }
  }
  return 0;
}

}  // namespace genarm::cli
