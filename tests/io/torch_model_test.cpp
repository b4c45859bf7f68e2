// End to end: a model folder holding pytorch_model.bin (or its shards) loads as a Transformer
// that computes exactly what the same model loaded from model.safetensors computes.
#include <algorithm>
#include <cstring>

#include "genarm/io/checkpoint.hpp"
#include "genarm/model/transformer.hpp"
#include "io_test_helpers.hpp"
#include "torch_test_helpers.hpp"

namespace genarm::io {
namespace {

using genarm::testing::fixture_model;
using genarm::testing::fixtures_dir;
using genarm::testing::load_json;
using genarm::testing::pk_global;
using genarm::testing::pk_ints;
using genarm::testing::pk_int;
using genarm::testing::pk_pid;
using genarm::testing::pk_str;
using genarm::testing::kPkHooks;
using genarm::testing::read_raw_tensors;
using genarm::testing::TempDir;
using genarm::testing::torch_archive;
using genarm::testing::write_file;

class TorchModel : public ::testing::TestWithParam<std::string> {};

TEST_P(TorchModel, GivesTheSameLogitsAsSafetensors) {
  const std::string name = GetParam();
  const auto st = model::Transformer::load(fixture_model(name));
  const auto bin = model::Transformer::load(fixtures_dir() / "torch" / "models" / name);
  const auto expected = load_json(fixture_model(name) / "expected.json");
  ASSERT_FALSE(expected["sequences"].empty());
  for (const auto& seq : expected["sequences"]) {
    const auto ids = seq["ids"].get<std::vector<int32_t>>();
    auto a = st.new_sequence();
    auto b = bin.new_sequence();
    if (st.is_reward_model()) {
      st.forward(a, ids);
      bin.forward(b, ids);
      EXPECT_EQ(st.reward(a), bin.reward(b)) << name;
    } else {
      model::RowMatrix la, lb;
      st.forward_all(a, ids, la);
      bin.forward_all(b, ids, lb);
      ASSERT_EQ(la.rows(), lb.rows());
      ASSERT_EQ(la.cols(), lb.cols());
      EXPECT_TRUE((la.array() == lb.array()).all()) << name << ": " << seq["ids"].dump();
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, TorchModel,
                         ::testing::Values("llama-tiny", "llama-tiny-f16", "llama-tiny-bf16", "gpt2-tiny", "llama-rm-tiny",
                                           "llama-tiny-arm", "llama-tiny-arm2"),
                         [](const auto& info) {
                           std::string n = info.param;
                           std::replace(n.begin(), n.end(), '-', '_');
                           return n;
                         });

// A .bin whose final norm is stored in float64: it opens (the dtype is known), and the model
// refuses the weight by name and dtype, as for a safetensors file.
TEST(TorchModelErrors, NonWeightDtypesAreRefusedByTheWeightReader) {
  TempDir dir("torchf64");
  const auto src = fixture_model("llama-tiny-arm2");
  std::filesystem::copy_file(src / "config.json", dir / "config.json");
  std::string pickle = "\x80\x02}(";
  std::map<std::string, std::string> storages;
  int key = 0;
  for (const auto& [name, t] : read_raw_tensors(src / "model.safetensors")) {
    std::string bytes = t.bytes;
    std::string type = "FloatStorage";
    int64_t numel = static_cast<int64_t>(bytes.size() / 4);
    if (name == "model.norm.weight") {
      std::string wide;
      for (int64_t i = 0; i < numel; ++i) {
        float f;
        std::memcpy(&f, bytes.data() + 4 * i, 4);
        const double d = f;
        wide.append(reinterpret_cast<const char*>(&d), 8);
      }
      bytes = wide;
      type = "DoubleStorage";
    }
    std::vector<int64_t> stride(t.shape.size(), 1);
    for (size_t i = t.shape.size(); i-- > 1;) stride[i - 1] = stride[i] * t.shape[i];
    const std::string k = std::to_string(key++);
    pickle += pk_str(name) + pk_global("torch._utils", "_rebuild_tensor_v2") + "(" + pk_pid(k, numel, type) + pk_int(0) +
              pk_ints(t.shape) + pk_ints(stride) + "\x89" + kPkHooks + "tR";
    storages[k] = bytes;
  }
  write_file(dir / "pytorch_model.bin", torch_archive(pickle + "u.", storages));
  EXPECT_EQ(Checkpoint::open(dir.path()).require("model.norm.weight").dtype, DType::kF64);
  GENARM_EXPECT_ERROR(model::Transformer::load(dir.path()), ErrorCategory::kUnsupported,
                      (dir / "pytorch_model.bin").string() + ": tensor 'model.norm.weight' has dtype F64; weights must be F32, F16 or BF16");
}

}  // namespace
}  // namespace genarm::io
