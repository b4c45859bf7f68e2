// Checkpoint: every tensor of a Hugging Face model folder, from the files transformers looks for,
// in its order of preference: `model.safetensors`, the shards listed in
// `model.safetensors.index.json` ({"weight_map": {tensor: shard file}}), `pytorch_model.bin`
// (torch.save, io/torch_checkpoint.hpp), the shards listed in `pytorch_model.bin.index.json`.
// A single weights file of either kind opens too (open_file), and other file names can be
// searched for (kAdapterFiles: adapter_model.safetensors / adapter_model.bin for PEFT adapters).
// Ownership: keeps every file (its mapping, and the copies a .bin file made of non-contiguous
// views) alive for as long as the Checkpoint or a weight built from it lives.
// Thread-safety: immutable after open, thread-safe.
#pragma once

#include <algorithm>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "genarm/core/error.hpp"
#include "genarm/io/json.hpp"
#include "genarm/io/mapped_file.hpp"
#include "genarm/io/safetensors.hpp"
#include "genarm/io/torch_checkpoint.hpp"

namespace genarm::io {

// The weight files of one kind of folder, in the order they are looked for; an empty name is
// not looked for.
struct CheckpointFileNames {
  std::string_view safetensors;
  std::string_view safetensors_index;
  std::string_view bin;
  std::string_view bin_index;
};
inline constexpr CheckpointFileNames kModelFiles{"model.safetensors", "model.safetensors.index.json",
                                                 "pytorch_model.bin", "pytorch_model.bin.index.json"};
inline constexpr CheckpointFileNames kAdapterFiles{"adapter_model.safetensors", "", "adapter_model.bin", ""};

class Checkpoint {
 public:
  static constexpr std::string_view kSingleFile = kModelFiles.safetensors;
  static constexpr std::string_view kIndexFile = kModelFiles.safetensors_index;

  // Opens the weights of a folder (the first of `names` present, safetensors preferred as
  // transformers prefers them) or a single weights file.
  static Checkpoint open(const std::filesystem::path& path, const CheckpointFileNames& names = kModelFiles) {
    if (std::filesystem::is_regular_file(path)) return open_file(path);
    if (!std::filesystem::is_directory(path)) {
      fail(ErrorCategory::kIo, path.string(), ": no such model folder or checkpoint file");
    }
    Checkpoint ckpt;
    const auto present = [&](std::string_view name) {
      return !name.empty() && std::filesystem::exists(path / name);
    };
    if (present(names.safetensors)) {
      ckpt.add_file(path / names.safetensors);
    } else if (present(names.safetensors_index)) {
      ckpt.open_sharded(path, path / names.safetensors_index);
    } else if (present(names.bin)) {
      ckpt.add_file(path / names.bin);
    } else if (present(names.bin_index)) {
      ckpt.open_sharded(path, path / names.bin_index);
    } else {
      std::vector<std::string_view> looked;
      for (const auto name : {names.safetensors, names.safetensors_index, names.bin, names.bin_index}) {
        if (!name.empty()) looked.push_back(name);
      }
      std::string list;
      for (size_t i = 0; i < looked.size(); ++i) {
        list += std::string(i == 0 ? "" : i + 1 == looked.size() ? " or " : ", ") + std::string(looked[i]);
      }
      fail(ErrorCategory::kIo, path.string(), ": no ", list);
    }
    return ckpt;
  }

  // Opens one weights file: safetensors (by its .safetensors name, or its content) or a
  // torch.save file (.bin, .pt, .pth, or a zip / pickle signature).
  static Checkpoint open_file(const std::filesystem::path& file) {
    Checkpoint ckpt;
    ckpt.add_file(file);
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
  // One pointer per file, to its mapping; each also owns everything else the file's TensorViews
  // point into (a .bin file's copies of non-contiguous views), so holding these keeps every
  // tensor valid (weights hold them).
  std::vector<std::shared_ptr<const MappedFile>> mappings() const {
    std::vector<std::shared_ptr<const MappedFile>> out;
    for (const auto& f : files_) out.emplace_back(f.owner, f.mapping);
    return out;
  }

 private:
  // One opened file: `owner` is the SafetensorsFile or TorchCheckpointFile.
  struct File {
    std::shared_ptr<const void> owner;
    const MappedFile* mapping;
    const std::vector<TensorView>* tensors;
  };

  static bool is_torch_file(const std::filesystem::path& file, const MappedFile& mapping) {
    const std::string ext = file.extension().string();
    if (ext == ".safetensors") return false;
    if (ext == ".bin" || ext == ".pt" || ext == ".pth") return true;
    const auto b = mapping.bytes();
    return (b.size() >= 2 && static_cast<char>(b[0]) == 'P' && static_cast<char>(b[1]) == 'K') ||
           (!b.empty() && static_cast<unsigned char>(b[0]) == 0x80);
  }

  void add_file(const std::filesystem::path& file) {
    if (origin_.empty()) origin_ = file.string();
    auto mapping = MappedFile::open(file);
    File f{};
    if (is_torch_file(file, *mapping)) {
      auto torch = std::make_shared<const TorchCheckpointFile>(TorchCheckpointFile::open(std::move(mapping)));
      f.tensors = &torch->tensors();
      f.mapping = torch->mapping().get();
      f.owner = std::move(torch);
    } else {
      auto st = std::make_shared<const SafetensorsFile>(SafetensorsFile::open(std::move(mapping)));
      f.tensors = &st->tensors();
      f.mapping = st->mapping().get();
      f.owner = std::move(st);
    }
    files_.push_back(f);
    for (const auto& t : *f.tensors) {
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
  std::vector<File> files_;
  std::unordered_map<std::string, const TensorView*> by_name_;
};

}  // namespace genarm::io
