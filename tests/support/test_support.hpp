// Shared test helpers: fixture paths, JSON loading, Eigen-aware near-equality with a report.
#pragma once

#include <gtest/gtest.h>

#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "genarm/core/error.hpp"

namespace genarm::testing {

inline std::filesystem::path fixtures_dir() { return GENARM_TEST_FIXTURES; }
inline std::filesystem::path hf_dir() { return fixtures_dir() / "hf"; }
inline std::filesystem::path source_dir() { return GENARM_SOURCE_DIR; }

inline nlohmann::json load_json(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot open fixture " + path.string());
  return nlohmann::json::parse(in);
}

// A fresh, empty directory under the system temp dir, removed by the destructor.
class TempDir {
 public:
  explicit TempDir(const std::string& tag) {
    static int counter = 0;
    path_ = std::filesystem::temp_directory_path() /
            ("genarm_test_" + tag + "_" + std::to_string(::getpid()) + "_" +
             std::to_string(counter++));
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

inline void write_file(const std::filesystem::path& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

inline std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// Max |a - b| relative to max |b| (the row's scale): how logits are compared with HF.
template <typename A, typename B>
double relative_max_error(const A& actual, const B& expected) {
  double scale = 0.0;
  double err = 0.0;
  for (Eigen::Index i = 0; i < expected.size(); ++i) {
    scale = std::max(scale, std::abs(static_cast<double>(expected[i])));
    err = std::max(err, std::abs(static_cast<double>(actual[i]) - static_cast<double>(expected[i])));
  }
  return scale > 0 ? err / scale : err;
}

// gtest predicate: every element within `tol` of the row scale; prints the worst element.
template <typename A, typename B>
::testing::AssertionResult rows_near(const A& actual, const B& expected, double tol) {
  if (actual.size() != expected.size()) {
    return ::testing::AssertionFailure()
           << "size " << actual.size() << " != expected size " << expected.size();
  }
  double scale = 0.0;
  Eigen::Index worst = 0;
  double worst_err = -1.0;
  for (Eigen::Index i = 0; i < expected.size(); ++i) {
    scale = std::max(scale, std::abs(static_cast<double>(expected[i])));
    const double e = std::abs(static_cast<double>(actual[i]) - static_cast<double>(expected[i]));
    if (!(e <= worst_err)) {
      worst_err = e;
      worst = i;
    }
  }
  const double rel = scale > 0 ? worst_err / scale : worst_err;
  if (rel <= tol) return ::testing::AssertionSuccess() << "max relative error " << rel;
  return ::testing::AssertionFailure()
         << "max relative error " << rel << " > " << tol << " at index " << worst
         << ": actual " << actual[worst] << " expected " << expected[worst] << " (row scale "
         << scale << ")";
}

// JSON array of numbers (null = -inf) into a float vector.
inline Eigen::VectorXf json_to_vector(const nlohmann::json& array) {
  Eigen::VectorXf v(static_cast<Eigen::Index>(array.size()));
  for (size_t i = 0; i < array.size(); ++i) {
    v[static_cast<Eigen::Index>(i)] = array[i].is_null() ? -std::numeric_limits<float>::infinity()
                                                         : array[i].get<float>();
  }
  return v;
}

template <typename T = int>
std::vector<T> json_to_ids(const nlohmann::json& array) {
  return array.get<std::vector<T>>();
}

// The whole message of the genarm::Error that `fn` throws ("" if it throws none), for tests that
// pin a message exactly (one file name, no doubled prefixes).
template <typename Fn>
std::string error_message(Fn&& fn) {
  try {
    fn();
  } catch (const ::genarm::Error& e) {
    return e.what();
  }
  return "";
}

// Expects `statement` to throw genarm::Error whose message contains every given fragment.
#define GENARM_EXPECT_ERROR(statement, category_value, ...)                                  \
  do {                                                                                       \
    try {                                                                                    \
      statement;                                                                             \
      ADD_FAILURE() << "expected genarm::Error from: " #statement;                          \
    } catch (const ::genarm::Error& e_) {                                                    \
      EXPECT_EQ(e_.category(), category_value) << e_.what();                                 \
      for (const std::string& fragment_ : std::vector<std::string>{__VA_ARGS__}) {           \
        EXPECT_NE(std::string(e_.what()).find(fragment_), std::string::npos)                 \
            << "message '" << e_.what() << "' lacks '" << fragment_ << "'";                  \
      }                                                                                      \
    }                                                                                        \
  } while (0)

}  // namespace genarm::testing
