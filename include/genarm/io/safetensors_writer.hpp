// SafetensorsWriter: builds a .safetensors file from float32 data, stored as F32, F16 or BF16.
// Used to export weights, by the benchmarks to synthesise random checkpoints, and by tests to
// craft files. The header is padded with spaces to a multiple of 8 bytes so that every tensor of
// the written file is 8-byte aligned when mapped.
// Thread-safety: not thread-safe (a builder).
#pragma once

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <vector>

#include "genarm/core/dtype.hpp"
#include "genarm/core/error.hpp"
#include "genarm/core/half.hpp"

namespace genarm::io {

class SafetensorsWriter {
 public:
  // Adds a tensor converting float32 `values` to `stored` (F32, F16 or BF16).
  void add(const std::string& name, std::vector<int64_t> shape, std::span<const float> values,
           DType stored = DType::kF32) {
    int64_t numel = 1;
    for (int64_t d : shape) numel *= d;
    if (numel != static_cast<int64_t>(values.size())) {
      fail(ErrorCategory::kInvalidArgument, "SafetensorsWriter: tensor '", name, "' has ",
           values.size(), " values for a shape of ", numel, " elements");
    }
    if (!is_weight_dtype(stored)) {
      fail(ErrorCategory::kUnsupported, "SafetensorsWriter: cannot store ", dtype_name(stored));
    }
    Entry& e = entries_[name];
    e.dtype = stored;
    e.shape = std::move(shape);
    e.bytes.resize(values.size() * dtype_size(stored));
    if (stored == DType::kF32) {
      if (!values.empty()) std::memcpy(e.bytes.data(), values.data(), e.bytes.size());  // data() may be null
    } else {
      for (size_t i = 0; i < values.size(); ++i) {
        const uint16_t h = stored == DType::kF16 ? float_to_f16(values[i]) : float_to_bf16(values[i]);
        std::memcpy(e.bytes.data() + 2 * i, &h, 2);
      }
    }
  }

  void set_metadata(const std::string& key, const std::string& value) { metadata_[key] = value; }

  // The complete file contents.
  std::string serialize() const {
    nlohmann::json header = nlohmann::json::object();
    if (!metadata_.empty()) header["__metadata__"] = metadata_;
    size_t offset = 0;
    for (const auto& [name, e] : entries_) {
      header[name] = {{"dtype", std::string(dtype_name(e.dtype))},
                      {"shape", e.shape},
                      {"data_offsets", {offset, offset + e.bytes.size()}}};
      offset += e.bytes.size();
    }
    std::string text = header.dump();
    text.append((8 - (text.size() % 8)) % 8, ' ');
    std::string out(8, '\0');
    uint64_t n = text.size();
    for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((n >> (8 * i)) & 0xff);
    out += text;
    for (const auto& [name, e] : entries_) out.append(e.bytes.begin(), e.bytes.end());
    return out;
  }

  void write(const std::filesystem::path& path) const {
    const std::string bytes = serialize();
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    if (!out) fail(ErrorCategory::kIo, path.string(), ": cannot open for writing");
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    if (!out) fail(ErrorCategory::kIo, path.string(), ": write failed");
  }

 private:
  struct Entry {
    DType dtype = DType::kF32;
    std::vector<int64_t> shape;
    std::vector<char> bytes;
  };
  std::map<std::string, Entry> entries_;  // sorted by name, as safetensors' own writer does
  std::map<std::string, std::string> metadata_;
};

}  // namespace genarm::io
