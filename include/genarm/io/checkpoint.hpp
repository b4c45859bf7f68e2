// Checkpoint: every tensor of a Hugging Face model folder, from `model.safetensors` or from the
// shards listed in `model.safetensors.index.json` ({"weight_map": {tensor: shard file}}).
// Ownership: keeps every shard mapped for as long as the Checkpoint or a weight built from it lives.
// Thread-safety: immutable after open, thread-safe.
#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "genarm/core/error.hpp"
#include "genarm/io/json.hpp"
#include "genarm/io/safetensors.hpp"

namespace genarm::io {

class Checkpoint {
 public:
  static constexpr std::string_view kSingleFile = "model.safetensors";
  static constexpr std::string_view kIndexFile = "model.safetensors.index.json";

  // Opens the weights of a model folder (or a single .safetensors file).
  static Checkpoint open(const std::filesystem::path& path) {
    Checkpoint ckpt;
    if (std::filesystem::is_regular_file(path)) {
      ckpt.add_file(path);
      return ckpt;
    }
    if (!std::filesystem::is_directory(path)) {
      fail(ErrorCategory::kIo, path.string(), ": no such model folder or safetensors file");
    }
    const auto single = path / kSingleFile;
    const auto index = path / kIndexFile;
    if (std::filesystem::exists(single)) {
      ckpt.add_file(single);
    } else if (std::filesystem::exists(index)) {
      ckpt.open_sharded(path, index);
    } else {
      fail(ErrorCategory::kIo, path.string(), ": no ", kSingleFile, " or ", kIndexFile,
           " (only safetensors checkpoints are supported)");
    }
    return ckpt;
  }

  const TensorView* find(std::string_view name) const {
    auto it = by_name_.find(std::string(name));
    return it == by_name_.end() ? nullptr : it->second;
  }
  // The tensor `name`; Error(kFormat) naming the checkpoint if it is absent.
  const TensorView& require(std::string_view name) const {
    const TensorView* t = find(name);
    if (t == nullptr) fail(ErrorCategory::kFormat, origin_, ": missing tensor '", name, "'");
    return *t;
  }
  std::vector<std::string> names() const {
    std::vector<std::string> out;
    out.reserve(by_name_.size());
    for (const auto& [name, t] : by_name_) out.push_back(name);
    std::sort(out.begin(), out.end());
    return out;
  }
  size_t size() const { return by_name_.size(); }
  const std::string& origin() const { return origin_; }
  // Keeps the mappings alive (weights hold this to stay valid).
  std::vector<std::shared_ptr<const MappedFile>> mappings() const {
    std::vector<std::shared_ptr<const MappedFile>> out;
    for (const auto& f : files_) out.push_back(f->mapping());
    return out;
  }

 private:
  void add_file(const std::filesystem::path& file) {
    if (origin_.empty()) origin_ = file.string();
    files_.push_back(std::make_shared<SafetensorsFile>(SafetensorsFile::open(file)));
    for (const auto& t : files_.back()->tensors()) {
      auto [it, inserted] = by_name_.emplace(t.name, &t);
      if (!inserted) {
        fail(ErrorCategory::kFormat, file.string(), ": tensor '", t.name, "' also appears in ",
             it->second->origin);
      }
    }
  }

  void open_sharded(const std::filesystem::path& dir, const std::filesystem::path& index_path) {
    const nlohmann::json index = read_json_file(index_path);
    const JsonView root(index, index_path.string(), ErrorCategory::kFormat);
    std::map<std::string, std::vector<std::string>> by_shard;
    root.at("weight_map").for_each_member([&](const std::string& tensor, const JsonView& shard) {
      if (!shard.is_string()) shard.type_error("a file name");
      const std::string file = shard.as_string();
      if (file.empty() || file.find('/') != std::string::npos || file.find('\\') != std::string::npos ||
          file == "." || file == "..") {
        shard.fail("shard '", file, "' must be a file name inside the model folder");
      }
      by_shard[file].push_back(tensor);
    });
    if (by_shard.empty()) fail(ErrorCategory::kFormat, index_path.string(), ": empty weight_map");
    for (const auto& [file, tensors] : by_shard) {
      add_file(dir / file);
      for (const auto& name : tensors) {
        const TensorView* t = find(name);
        if (t == nullptr || t->origin != (dir / file).string()) {
          fail(ErrorCategory::kFormat, index_path.string(), ": tensor '", name,
               "' is mapped to ", file, " but that shard does not contain it");
        }
      }
    }
    origin_ = index_path.string();
  }

  std::string origin_;
  std::vector<std::shared_ptr<SafetensorsFile>> files_;
  std::unordered_map<std::string, const TensorView*> by_name_;
};

}  // namespace genarm::io
