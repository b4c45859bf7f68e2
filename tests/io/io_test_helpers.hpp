// Helpers shared by the io-layer tests: hand-made safetensors bytes (any header, any length field)
// and raw tensor copies to re-shard or corrupt real checkpoints.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "genarm/io/safetensors.hpp"
#include "test_support.hpp"

namespace genarm::testing {

// 8-byte little-endian `length`, then `rest` (header text and data) verbatim.
inline std::string with_length_field(uint64_t length, const std::string& rest) {
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[static_cast<size_t>(i)] = static_cast<char>((length >> (8 * i)) & 0xff);
  return out + rest;
}

// A safetensors file with this exact header text followed by `data_bytes` zero bytes.
inline std::string safetensors_bytes(const std::string& header, size_t data_bytes) {
  return with_length_field(header.size(), header + std::string(data_bytes, '\0'));
}

// One header entry {dtype, shape, data_offsets}.
inline nlohmann::json tensor_entry(const std::string& dtype, std::vector<int64_t> shape, uint64_t begin, uint64_t end) {
  return {{"dtype", dtype}, {"shape", std::move(shape)}, {"data_offsets", {begin, end}}};
}

// One tensor of a safetensors file as raw bytes.
struct RawTensor {
  std::string dtype;
  std::vector<int64_t> shape;
  std::string bytes;
};
using RawTensors = std::map<std::string, RawTensor>;

inline RawTensors read_raw_tensors(const std::filesystem::path& file) {
  const auto st = io::SafetensorsFile::open(file);
  RawTensors out;
  for (const auto& t : st.tensors()) {
    out[t.name] = {std::string(dtype_name(t.dtype)), t.shape,
                   std::string(reinterpret_cast<const char*>(t.bytes.data()), t.bytes.size())};
  }
  return out;
}

inline void write_raw_tensors(const std::filesystem::path& file, const RawTensors& tensors) {
  nlohmann::json header = nlohmann::json::object();
  std::string data;
  for (const auto& [name, t] : tensors) {
    header[name] = tensor_entry(t.dtype, t.shape, data.size(), data.size() + t.bytes.size());
    data += t.bytes;
  }
  const std::string text = header.dump();
  write_file(file, with_length_field(text.size(), text + data));
}

inline std::filesystem::path fixture_model(const std::string& name) { return hf_dir() / "models" / name; }

}  // namespace genarm::testing
