// Tokenizer throughput: encode and decode MB/s, streaming decode, and a 100 kB line without
// spaces (the case that is quadratic in naive BPE implementations).
//
//   tokenizer_bench [tokenizer.json|model_dir text.txt]
//
// With no arguments it benchmarks the GPT-2 and toy-spm (Llama-2 style) fixture tokenizers on
// a corpus of about 4 MB built from data/prompts.jsonl and the fixture case texts, with paths
// relative to GENARM_SOURCE_DIR (defaults to the current directory: run it from the repository
// root, or compile with -DGENARM_SOURCE_DIR=\"/path/to/genarm\").
// Encoding is measured two ways: line by line (each line is one encode call, like prompts) and
// as one document; decoding decodes the document's ids in one call and through a StreamDecoder.
// Times are the best of three runs, in process CPU time (the benchmark is single-threaded, and
// CPU time is robust to other load on the machine); wall time is printed alongside.
#include <algorithm>
#include <chrono>
#include <ctime>
#include <cstdio>
#include <fstream>
#include <functional>
#include <random>
#include <sstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "genarm/tokenizer/stream_decoder.hpp"
#include "genarm/tokenizer/tokenizer.hpp"

#ifndef GENARM_SOURCE_DIR
#define GENARM_SOURCE_DIR "."
#endif

namespace {

using Clock = std::chrono::steady_clock;

double last_wall = 0;  // wall time of the run best_seconds chose

// Best process CPU time of `repeats` runs of fn, in seconds.
double best_seconds(int repeats, const std::function<void()>& fn) {
  double best = 1e30;
  for (int r = 0; r < repeats; ++r) {
    const auto w0 = Clock::now();
    const std::clock_t c0 = std::clock();
    fn();
    const double cpu = static_cast<double>(std::clock() - c0) / CLOCKS_PER_SEC;
    if (cpu < best) {
      best = cpu;
      last_wall = std::chrono::duration<double>(Clock::now() - w0).count();
    }
  }
  return std::max(best, 1e-9);
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) lines.push_back(line);
  return lines;
}

// Prompts and fixture texts, repeated to about `target` bytes.
std::vector<std::string> default_corpus(size_t target) {
  const std::string root = GENARM_SOURCE_DIR;
  std::vector<std::string> base;
  for (const std::string& line : split_lines(read_file(root + "/data/prompts.jsonl"))) {
    if (!line.empty()) base.push_back(nlohmann::json::parse(line).at("prompt"));
  }
  for (const char* kind : {"gpt2", "toy-bytelevel", "toy-spm"}) {
    const auto cases = nlohmann::json::parse(read_file(root + "/tests/fixtures/hf/tokenizers/" + kind + "/cases.json"));
    for (const auto& c : cases) base.push_back(c.at("text"));
  }
  std::vector<std::string> lines;
  size_t bytes = 0;
  while (bytes < target) {
    for (const std::string& s : base) {
      lines.push_back(s);
      bytes += s.size() + 1;
    }
  }
  return lines;
}

void bench(const std::string& name, const genarm::Tokenizer& tok, const std::vector<std::string>& lines) {
  std::string document;
  for (const std::string& l : lines) {
    document += l;
    document += '\n';
  }
  const double mb = static_cast<double>(document.size()) / 1e6;
  std::printf("%s: %zu lines, %.2f MB, vocabulary %zu\n", name.c_str(), lines.size(), mb, tok.vocab_size());

  size_t line_tokens = 0;
  const double t_lines = best_seconds(3, [&] {
    line_tokens = 0;
    for (const std::string& l : lines) line_tokens += tok.encode(l).size();
  });
  std::printf("  encode, line by line : %8.2f MB/s  (%zu tokens, %.3f s cpu, %.3f s wall)\n", mb / t_lines,
              line_tokens, t_lines, last_wall);

  std::vector<int32_t> ids;
  const double t_doc = best_seconds(3, [&] { ids = tok.encode(document, false); });
  std::printf("  encode, one document : %8.2f MB/s  (%zu tokens, %.3f s cpu, %.3f s wall)\n", mb / t_doc,
              ids.size(), t_doc, last_wall);

  std::string decoded;
  const double t_dec = best_seconds(3, [&] { decoded = tok.decode(ids, true); });
  std::printf("  decode, one call     : %8.2f MB/s  (%.3f s cpu, %.3f s wall)%s\n",
              static_cast<double>(decoded.size()) / 1e6 / t_dec, t_dec, last_wall,
              decoded == document ? "" : "  [round trip differs]");

  size_t streamed = 0;
  const double t_stream = best_seconds(3, [&] {
    genarm::StreamDecoder stream(tok);
    streamed = 0;
    for (const int32_t id : ids) streamed += stream.push(id).size();
    streamed += stream.flush().size();
  });
  std::printf("  decode, streaming    : %8.2f MB/s  (%.3f s cpu, %.3f s wall, %.0f ns/token)\n",
              static_cast<double>(streamed) / 1e6 / t_stream, t_stream, last_wall,
              t_stream * 1e9 / static_cast<double>(ids.size()));

  std::mt19937 rng(42);
  const std::string alphabet = "abcdefghijklmnopqrstuvwxyzABC0123456789.,;:!?-_()";
  std::string line;
  while (line.size() < 100'000) line += alphabet[rng() % alphabet.size()];
  std::vector<int32_t> long_ids;
  const double t_long = best_seconds(3, [&] { long_ids = tok.encode(line); });
  const bool ok = tok.decode(long_ids, true) == line;
  std::printf("  100 kB line, no spaces: encode %.2f ms cpu, %.2f ms wall (%zu tokens), round trip %s\n\n",
              t_long * 1e3, last_wall * 1e3, long_ids.size(), ok ? "ok" : "FAILED");
}

}  // namespace

int main(int argc, char** argv) {
  try {
    if (argc == 3) {
      bench(argv[1], genarm::Tokenizer::from_file(argv[1]), split_lines(read_file(argv[2])));
      return 0;
    }
    if (argc != 1) {
      std::fprintf(stderr, "usage: %s [tokenizer.json|model_dir text.txt]\n", argv[0]);
      return 2;
    }
    const std::vector<std::string> corpus = default_corpus(4'000'000);
    const std::string root = GENARM_SOURCE_DIR;
    for (const char* kind : {"gpt2", "toy-spm"}) {
      bench(kind, genarm::Tokenizer::from_file(root + "/tests/fixtures/hf/tokenizers/" + kind), corpus);
    }
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
