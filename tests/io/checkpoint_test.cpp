#include "genarm/io/checkpoint.hpp"

#include <algorithm>

#include "genarm/model/transformer.hpp"
#include "io_test_helpers.hpp"

namespace genarm::io {
namespace {

using genarm::testing::fixture_model;
using genarm::testing::load_json;
using genarm::testing::RawTensors;
using genarm::testing::read_raw_tensors;
using genarm::testing::TempDir;
using genarm::testing::write_file;
using genarm::testing::write_raw_tensors;
using nlohmann::json;

std::string shard_name(size_t k, size_t n) {
  return "model-0000" + std::to_string(k + 1) + "-of-0000" + std::to_string(n) + ".safetensors";
}

// Writes the tensors of `src` (a model folder) into `dst` as `n` shards plus
// model.safetensors.index.json, the layout save_pretrained uses for large models, and copies
// config.json. Tensors are dealt round-robin so every shard mixes layers.
void shard_model(const std::filesystem::path& src, const std::filesystem::path& dst, size_t n) {
  std::filesystem::create_directories(dst);
  std::filesystem::copy_file(src / "config.json", dst / "config.json");
  const RawTensors all = read_raw_tensors(src / "model.safetensors");
  std::vector<RawTensors> parts(n);
  json weight_map = json::object();
  size_t i = 0, total = 0;
  for (const auto& [name, t] : all) {
    const size_t k = i++ % n;
    parts[k][name] = t;
    weight_map[name] = shard_name(k, n);
    total += t.bytes.size();
  }
  for (size_t k = 0; k < n; ++k) write_raw_tensors(dst / shard_name(k, n), parts[k]);
  const json index = {{"metadata", {{"total_size", total}}}, {"weight_map", weight_map}};
  write_file(dst / "model.safetensors.index.json", index.dump(2));
}

bool identical(const model::RowMatrix& a, const model::RowMatrix& b) {
  return a.rows() == b.rows() && a.cols() == b.cols() && (a.array() == b.array()).all();
}

class ShardedFixture : public ::testing::TestWithParam<std::tuple<std::string, size_t>> {};

TEST_P(ShardedFixture, GivesTheSameLogitsAsTheSingleFile) {
  const auto& [name, shards] = GetParam();
  TempDir dir("sharded");
  shard_model(fixture_model(name), dir.path(), shards);
  EXPECT_FALSE(std::filesystem::exists(dir / "model.safetensors"));
  const auto single = model::Transformer::load(fixture_model(name));
  const auto sharded = model::Transformer::load(dir.path());
  const auto expected = load_json(fixture_model(name) / "expected.json");
  for (const auto& seq : expected["sequences"]) {
    const auto ids = seq["ids"].get<std::vector<int32_t>>();
    auto a = single.new_sequence();
    auto b = sharded.new_sequence();
    if (single.is_reward_model()) {
      single.forward(a, ids);
      sharded.forward(b, ids);
      EXPECT_EQ(single.reward(a), sharded.reward(b));
    } else {
      model::RowMatrix la, lb;
      single.forward_all(a, ids, la);
      sharded.forward_all(b, ids, lb);
      EXPECT_TRUE(identical(la, lb)) << name << ": " << seq["ids"].dump();
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, ShardedFixture,
                         ::testing::Combine(::testing::Values("llama-tiny", "llama-tiny-bf16", "llama-tiny-f16",
                                                              "gpt2-tiny", "llama-rm-tiny"),
                                            ::testing::Values(size_t{2}, size_t{3})),
                         [](const auto& info) {
                           std::string n = std::get<0>(info.param) + "_" + std::to_string(std::get<1>(info.param));
                           std::replace(n.begin(), n.end(), '-', '_');
                           return n;
                         });

TEST(Checkpoint, OpensASingleSafetensorsFile) {
  const auto path = fixture_model("llama-tiny") / "model.safetensors";
  const auto ckpt = Checkpoint::open(path);
  EXPECT_EQ(ckpt.origin(), path.string());
  EXPECT_EQ(ckpt.mappings().size(), 1u);
  const auto names = ckpt.names();
  EXPECT_TRUE(std::is_sorted(names.begin(), names.end()));
  EXPECT_EQ(names.size(), ckpt.size());
  EXPECT_EQ(ckpt.require("model.norm.weight").shape, (std::vector<int64_t>{64}));
  EXPECT_EQ(ckpt.find("model.norm.weight"), &ckpt.require("model.norm.weight"));
  EXPECT_EQ(ckpt.find("nope"), nullptr);
}

TEST(Checkpoint, OpensAModelFolder) {
  const auto ckpt = Checkpoint::open(fixture_model("gpt2-tiny"));
  EXPECT_EQ(ckpt.origin(), (fixture_model("gpt2-tiny") / "model.safetensors").string());
  EXPECT_NE(ckpt.find("transformer.wte.weight"), nullptr);
}

TEST(Checkpoint, ShardedFolderIndexesEveryShard) {
  TempDir dir("sharded");
  shard_model(fixture_model("llama-tiny"), dir.path(), 3);
  const auto ckpt = Checkpoint::open(dir.path());
  const auto single = Checkpoint::open(fixture_model("llama-tiny"));
  EXPECT_EQ(ckpt.names(), single.names());
  EXPECT_EQ(ckpt.mappings().size(), 3u);
  EXPECT_EQ(ckpt.origin(), (dir / "model.safetensors.index.json").string());
  // Tensors are viewed in their own shard, byte for byte the same as in the single file.
  const auto& t = ckpt.require("model.layers.1.mlp.down_proj.weight");
  const auto& s = single.require("model.layers.1.mlp.down_proj.weight");
  EXPECT_NE(t.origin.find("-of-00003.safetensors"), std::string::npos);
  ASSERT_EQ(t.bytes.size(), s.bytes.size());
  EXPECT_TRUE(std::equal(t.bytes.begin(), t.bytes.end(), s.bytes.begin()));
  GENARM_EXPECT_ERROR(ckpt.require("lm_head.bias"), ErrorCategory::kFormat,
                      (dir / "model.safetensors.index.json").string() + ": missing tensor 'lm_head.bias'");
}

TEST(Checkpoint, PrefersTheSingleFileOverAnIndex) {
  TempDir dir("both");
  std::filesystem::copy_file(fixture_model("llama-tiny-arm2") / "model.safetensors", dir / "model.safetensors");
  write_file(dir / "model.safetensors.index.json", "this index is never read");
  EXPECT_EQ(Checkpoint::open(dir.path()).origin(), (dir / "model.safetensors").string());
}

TEST(Checkpoint, FolderWithoutWeightsIsAnIoError) {
  TempDir dir("noweights");
  write_file(dir / "pytorch.bin", "pickle");
  write_file(dir / "model.bin", "not looked for");
  GENARM_EXPECT_ERROR(Checkpoint::open(dir.path()), ErrorCategory::kIo,
                      dir.path().string() + ": no model.safetensors, model.safetensors.index.json, pytorch_model.bin or "
                                            "pytorch_model.bin.index.json");
  GENARM_EXPECT_ERROR(Checkpoint::open(dir.path(), kAdapterFiles), ErrorCategory::kIo,
                      dir.path().string() + ": no adapter_model.safetensors or adapter_model.bin");
  GENARM_EXPECT_ERROR(Checkpoint::open(dir / "missing"), ErrorCategory::kIo, (dir / "missing").string(),
                      "no such model folder or checkpoint file");
}

// --- broken indexes: a sharded folder built from llama-tiny-arm2, then one thing changed ---

class BrokenIndex : public ::testing::Test {
 protected:
  void SetUp() override { shard_model(fixture_model("llama-tiny-arm2"), dir_.path(), 2); }
  json index() const { return load_json(dir_ / "model.safetensors.index.json"); }
  void write_index(const json& j) const { write_file(dir_ / "model.safetensors.index.json", j.dump()); }
  std::string index_path() const { return (dir_ / "model.safetensors.index.json").string(); }

  TempDir dir_{"index"};
};

TEST_F(BrokenIndex, MissingShardIsAnIoErrorNamingIt) {
  std::filesystem::remove(dir_ / shard_name(1, 2));
  GENARM_EXPECT_ERROR(Checkpoint::open(dir_.path()), ErrorCategory::kIo, (dir_ / shard_name(1, 2)).string(), "cannot open");
}

TEST_F(BrokenIndex, TensorAbsentFromItsShardIsNamed) {
  auto j = index();
  j["weight_map"]["model.layers.0.ghost.weight"] = shard_name(0, 2);
  write_index(j);
  GENARM_EXPECT_ERROR(Checkpoint::open(dir_.path()), ErrorCategory::kFormat, index_path(),
                      "tensor 'model.layers.0.ghost.weight' is mapped to " + shard_name(0, 2),
                      "that shard does not contain it");
}

TEST_F(BrokenIndex, TensorMappedToTheWrongShardIsNamed) {
  auto j = index();
  std::string moved;
  for (auto& [name, shard] : j["weight_map"].items()) {
    if (shard == shard_name(1, 2)) {
      moved = name;
      shard = shard_name(0, 2);
      break;
    }
  }
  ASSERT_FALSE(moved.empty());
  write_index(j);
  GENARM_EXPECT_ERROR(Checkpoint::open(dir_.path()), ErrorCategory::kFormat,
                      "tensor '" + moved + "' is mapped to " + shard_name(0, 2));
}

TEST_F(BrokenIndex, ShardNamesMustStayInsideTheFolder) {
  for (const std::string bad : {"../model.safetensors", "sub/model.safetensors", "/etc/passwd", "..", ".", "",
                                "a\\b.safetensors"}) {
    auto j = index();
    j["weight_map"]["model.norm.weight"] = bad;
    write_index(j);
    GENARM_EXPECT_ERROR(Checkpoint::open(dir_.path()), ErrorCategory::kFormat, index_path(),
                        "weight_map[\"model.norm.weight\"]: shard '" + bad + "' must be a file name inside the model folder");
  }
}

TEST_F(BrokenIndex, MalformedJsonIsAFormatError) {
  write_file(dir_ / "model.safetensors.index.json", "{\"weight_map\": {\"a\": ");
  GENARM_EXPECT_ERROR(Checkpoint::open(dir_.path()), ErrorCategory::kFormat, index_path(), "not valid JSON");
  write_file(dir_ / "model.safetensors.index.json", "{\"weight_map\": " + std::string(200000, '{'));
  GENARM_EXPECT_ERROR(Checkpoint::open(dir_.path()), ErrorCategory::kFormat,
                      index_path() + ": JSON nested deeper than 128 levels (byte 143)");
}

TEST_F(BrokenIndex, WeightMapMustBeANonEmptyObjectOfFileNames) {
  write_index({{"metadata", {}}});
  GENARM_EXPECT_ERROR(Checkpoint::open(dir_.path()), ErrorCategory::kFormat, index_path() + ": weight_map: missing required key");
  write_index({{"weight_map", {1, 2}}});
  GENARM_EXPECT_ERROR(Checkpoint::open(dir_.path()), ErrorCategory::kFormat, index_path() + ": weight_map: expected an object, got an array [1,2]");
  write_index(json::array());
  GENARM_EXPECT_ERROR(Checkpoint::open(dir_.path()), ErrorCategory::kFormat, index_path() + ": expected an object, got an array []");
  write_index({{"weight_map", json::object()}});
  GENARM_EXPECT_ERROR(Checkpoint::open(dir_.path()), ErrorCategory::kFormat, index_path(), "empty weight_map");
  write_index({{"weight_map", {{"model.norm.weight", 3}}}});
  GENARM_EXPECT_ERROR(Checkpoint::open(dir_.path()), ErrorCategory::kFormat,
                      index_path() + ": weight_map[\"model.norm.weight\"]: expected a file name, got an integer 3");
}

TEST_F(BrokenIndex, DuplicateTensorAcrossShardsNamesBothFiles) {
  // Shard 2 also carries a tensor that shard 1 has.
  auto second = read_raw_tensors(dir_ / shard_name(1, 2));
  const auto first = read_raw_tensors(dir_ / shard_name(0, 2));
  const auto& [dup_name, dup] = *first.begin();
  second[dup_name] = dup;
  write_raw_tensors(dir_ / shard_name(1, 2), second);
  GENARM_EXPECT_ERROR(Checkpoint::open(dir_.path()), ErrorCategory::kFormat, (dir_ / shard_name(1, 2)).string(),
                      "tensor '" + dup_name + "' also appears in " + (dir_ / shard_name(0, 2)).string());
}

TEST_F(BrokenIndex, CorruptShardNamesTheShard) {
  write_file(dir_ / shard_name(0, 2), std::string(4, '\0'));
  GENARM_EXPECT_ERROR(Checkpoint::open(dir_.path()), ErrorCategory::kFormat, (dir_ / shard_name(0, 2)).string(),
                      "too short for a safetensors header");
}

}  // namespace
}  // namespace genarm::io
