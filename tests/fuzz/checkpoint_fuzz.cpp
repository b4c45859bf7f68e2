// Fuzzes Checkpoint::open on a sharded model folder: the input is written as the folder's
// model.safetensors.index.json, next to two small valid shards (a.safetensors: x, y;
// b.safetensors: z) and a subfolder. The index is the untrusted part here: shard names that leave
// the folder, name a folder or a missing file, tensors mapped to the wrong shard or to two shards,
// keys of the wrong type. Mutations are structure-aware (json_mutator.hpp). A folder that opens
// must have found every tensor the index maps, in the shard it names.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "dictionaries.hpp"
#include "fuzz_support.hpp"
#include "genarm/io/checkpoint.hpp"
#include "genarm/io/safetensors_writer.hpp"
#include "json_mutator.hpp"

namespace {

namespace fs = std::filesystem;

// A model folder in the temp directory for the life of the process.
class Folder {
 public:
  Folder() : path_(fs::temp_directory_path() / ("genarm_checkpoint_fuzz_" + std::to_string(::getpid()))) {
    fs::remove_all(path_);
    fs::create_directories(path_ / "sub");
    const std::vector<float> v{1.0f, 2.0f, 3.0f, 4.0f};
    genarm::io::SafetensorsWriter a;
    a.add("x", {2, 2}, v);
    a.add("y", {1}, std::span(v).first(1), genarm::DType::kF16);
    a.write(path_ / "a.safetensors");
    genarm::io::SafetensorsWriter b;
    b.add("z", {3}, std::span(v).first(3), genarm::DType::kBF16);
    b.write(path_ / "b.safetensors");
  }
  ~Folder() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

const Folder& folder() {
  static const Folder f;
  return f;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  folder();
  return 0;
}

extern "C" size_t LLVMFuzzerCustomMutator(uint8_t* data, size_t size, size_t max_size, unsigned int seed) {
  static const genarm::fuzz::JsonMutator mutator(genarm::fuzz::kCheckpointWords);
  return mutator.mutate(data, size, max_size, seed);
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const fs::path dir = folder().path();
  {
    std::ofstream out(dir / "model.safetensors.index.json", std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  }
  std::optional<genarm::io::Checkpoint> ckpt;
  if (!genarm::fuzz::accepts("Checkpoint::open", [&] { ckpt.emplace(genarm::io::Checkpoint::open(dir)); })) {
    return 0;
  }
  // It opened, so the index is valid JSON with a weight_map of file names.
  const nlohmann::json index = nlohmann::json::parse(data, data + size);
  const auto& map = index.at("weight_map");
  GENARM_FUZZ_CHECK(!map.empty());
  for (const auto& [name, shard] : map.items()) {
    const genarm::io::TensorView* t = ckpt->find(name);
    GENARM_FUZZ_CHECK(t != nullptr, "tensor '", name, "' is in the weight_map but not found");
    GENARM_FUZZ_CHECK(t->origin == (dir / shard.get<std::string>()).string(), "tensor '", name,
                      "' comes from ", t->origin, ", the index says ", shard.get<std::string>());
    GENARM_FUZZ_CHECK(fs::path(t->origin).parent_path() == dir, "a shard outside the folder: ", t->origin);
  }
  for (const std::string& name : ckpt->names()) GENARM_FUZZ_CHECK(&ckpt->require(name) == ckpt->find(name));
  return 0;
}
