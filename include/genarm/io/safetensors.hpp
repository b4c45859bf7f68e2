// Reading .safetensors files (https://huggingface.co/docs/safetensors): an 8-byte little-endian
// header length N, N bytes of JSON describing each tensor {dtype, shape, data_offsets}, then the
// tensor bytes. The file is memory-mapped; the header is validated completely before any tensor
// is used: length bound, JSON object, known dtype, shape x dtype size == byte range, ranges inside
// the file, sorted without overlap or gap (as the reference implementation requires).
// Ownership: SafetensorsFile keeps its mapping alive; TensorView spans point into it.
// Thread-safety: immutable after open, thread-safe.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "genarm/core/dtype.hpp"
#include "genarm/core/error.hpp"
#include "genarm/io/json.hpp"
#include "genarm/io/mapped_file.hpp"

namespace genarm::io {

// Headers above this size are rejected before parsing (the reference library's limit).
inline constexpr uint64_t kMaxSafetensorsHeaderBytes = 100'000'000;

// One tensor of a safetensors file, viewed in place.
struct TensorView {
  std::string name;
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;
  std::span<const std::byte> bytes;  // exactly numel() * dtype_size(dtype) bytes
  std::string origin;                // the file it lives in, for error messages

  int64_t numel() const {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    return n;
  }
  std::string shape_string() const {
    std::string s = "[";
    for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
    return s + "]";
  }
};

// The validated header of a safetensors byte buffer.
struct SafetensorsHeader {
  std::vector<TensorView> tensors;  // sorted by offset
  std::map<std::string, std::string> metadata;
  size_t data_offset = 0;  // start of the tensor bytes in the buffer
};

namespace detail {

inline uint64_t read_u64_le(const std::byte* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}

inline TensorView parse_tensor_entry(const std::string& name, const nlohmann::json& entry,
                                     const std::string& origin, std::span<const std::byte> data) {
  const auto bad = [&](const auto&... what) {
    fail(ErrorCategory::kFormat, origin, ": tensor '", name, "': ", what...);
  };
  if (name.empty()) fail(ErrorCategory::kFormat, origin, ": a tensor has an empty name");
  if (!entry.is_object()) bad("expected an object {dtype, shape, data_offsets}, got ", describe_json(entry));
  for (const char* key : {"dtype", "shape", "data_offsets"}) {
    if (!entry.contains(key)) bad("missing key '", key, "'");
  }
  const auto& dtype_json = entry["dtype"];
  if (!dtype_json.is_string()) bad("'dtype' must be a string, got ", describe_json(dtype_json));
  const auto dtype = parse_dtype(dtype_json.get<std::string>());
  if (!dtype) bad("unknown dtype '", dtype_json.get<std::string>(), "'");

  const auto& shape_json = entry["shape"];
  if (!shape_json.is_array()) bad("'shape' must be an array, got ", describe_json(shape_json));
  if (shape_json.size() > 8) bad("shape has ", shape_json.size(), " dimensions (at most 8)");
  TensorView view;
  view.name = name;
  view.dtype = *dtype;
  view.origin = origin;
  uint64_t numel = 1;
  for (const auto& d : shape_json) {
    if (!d.is_number_unsigned() && !(d.is_number_integer() && d.get<int64_t>() >= 0)) {
      bad("shape entries must be non-negative integers, got ", describe_json(d));
    }
    const uint64_t dim = d.get<uint64_t>();
    if (dim > (uint64_t{1} << 40) || (dim != 0 && numel > (uint64_t{1} << 50) / dim)) {
      bad("shape ", shape_json.dump(), " is too large");
    }
    numel *= dim;
    view.shape.push_back(static_cast<int64_t>(dim));
  }
  const auto& offsets = entry["data_offsets"];
  if (!offsets.is_array() || offsets.size() != 2 || !offsets[0].is_number_unsigned() ||
      !offsets[1].is_number_unsigned()) {
    bad("'data_offsets' must be two non-negative integers [begin, end], got ", describe_json(offsets));
  }
  const uint64_t begin = offsets[0].get<uint64_t>();
  const uint64_t end = offsets[1].get<uint64_t>();
  if (begin > end) bad("data_offsets [", begin, ", ", end, "] end before they begin");
  if (end > data.size()) {
    bad("data_offsets [", begin, ", ", end, "] extend past the ", data.size(),
        " bytes of tensor data in the file");
  }
  const uint64_t expected = numel * dtype_size(*dtype);
  if (end - begin != expected) {
    bad("shape ", view.shape_string(), " of ", dtype_name(*dtype), " needs ", expected,
        " bytes but data_offsets [", begin, ", ", end, "] hold ", end - begin);
  }
  view.bytes = data.subspan(begin, end - begin);
  return view;
}

}  // namespace detail

// Validates and indexes a complete safetensors byte buffer. `origin` names it in errors.
inline SafetensorsHeader parse_safetensors(std::span<const std::byte> file, const std::string& origin) {
  if (file.size() < 8) {
    fail(ErrorCategory::kFormat, origin, ": file is ", file.size(),
         " bytes, too short for a safetensors header (at least 8)");
  }
  const uint64_t header_len = detail::read_u64_le(file.data());
  if (header_len > kMaxSafetensorsHeaderBytes) {
    fail(ErrorCategory::kFormat, origin, ": header length ", header_len,
         " exceeds the limit of ", kMaxSafetensorsHeaderBytes, " bytes");
  }
  if (header_len > file.size() - 8) {
    fail(ErrorCategory::kFormat, origin, ": header length ", header_len, " exceeds the ",
         file.size() - 8, " bytes after the length field (truncated file?)");
  }
  if (header_len < 2 || static_cast<char>(file[8]) != '{') {
    fail(ErrorCategory::kFormat, origin, ": header does not start with a JSON object '{'");
  }
  const std::string_view text(reinterpret_cast<const char*>(file.data() + 8), header_len);
  // The header is JSON from the internet: parse it with the same depth bound as every other file.
  JsonLimits limits;
  limits.max_bytes = kMaxSafetensorsHeaderBytes;
  const nlohmann::json header = parse_json(text, origin + ": header", limits);
  if (!header.is_object()) {
    fail(ErrorCategory::kFormat, origin, ": header must be a JSON object, got ", describe_json(header));
  }

  SafetensorsHeader result;
  result.data_offset = 8 + header_len;
  const auto data = file.subspan(result.data_offset);
  for (const auto& [name, entry] : header.items()) {
    if (name == "__metadata__") {
      if (!entry.is_object()) {
        fail(ErrorCategory::kFormat, origin, ": '__metadata__' must be an object of strings");
      }
      for (const auto& [key, value] : entry.items()) {
        if (!value.is_string()) {
          fail(ErrorCategory::kFormat, origin, ": '__metadata__.", key, "' must be a string, got ",
               describe_json(value));
        }
        result.metadata[key] = value.get<std::string>();
      }
      continue;
    }
    result.tensors.push_back(detail::parse_tensor_entry(name, entry, origin, data));
  }

  // Tensors must tile the data section exactly: sorted, no overlap, no gap, nothing left over.
  std::sort(result.tensors.begin(), result.tensors.end(), [&](const auto& a, const auto& b) {
    return a.bytes.data() != b.bytes.data() ? a.bytes.data() < b.bytes.data()
                                            : a.bytes.size() < b.bytes.size();
  });
  size_t cursor = 0;
  std::string previous = "the start of the data";
  for (const auto& t : result.tensors) {
    const auto begin = static_cast<size_t>(t.bytes.data() - data.data());
    if (begin < cursor) {
      fail(ErrorCategory::kFormat, origin, ": tensor '", t.name, "' (bytes ", begin, "..",
           begin + t.bytes.size(), ") overlaps ", previous);
    }
    if (begin > cursor) {
      fail(ErrorCategory::kFormat, origin, ": ", begin - cursor, " unindexed bytes between ",
           previous, " and tensor '", t.name, "'");
    }
    cursor = begin + t.bytes.size();
    previous = "tensor '" + t.name + "'";
  }
  if (cursor != data.size()) {
    fail(ErrorCategory::kFormat, origin, ": ", data.size() - cursor,
         " bytes after the last tensor are not described by the header");
  }
  return result;
}

// A memory-mapped, validated safetensors file.
class SafetensorsFile {
 public:
  static SafetensorsFile open(const std::filesystem::path& path) { return open(MappedFile::open(path)); }
  // Validates a file already mapped.
  static SafetensorsFile open(std::shared_ptr<const MappedFile> mapping) {
    SafetensorsHeader header = parse_safetensors(mapping->bytes(), mapping->path().string());
    return SafetensorsFile(std::move(mapping), std::move(header));
  }

  const std::vector<TensorView>& tensors() const { return header_.tensors; }
  const std::map<std::string, std::string>& metadata() const { return header_.metadata; }
  const std::filesystem::path& path() const { return mapping_->path(); }
  const std::shared_ptr<const MappedFile>& mapping() const { return mapping_; }

  const TensorView* find(std::string_view name) const {
    auto it = index_.find(std::string(name));
    return it == index_.end() ? nullptr : &header_.tensors[it->second];
  }

 private:
  SafetensorsFile(std::shared_ptr<const MappedFile> mapping, SafetensorsHeader header)
      : mapping_(std::move(mapping)), header_(std::move(header)) {
    for (size_t i = 0; i < header_.tensors.size(); ++i) index_[header_.tensors[i].name] = i;
  }

  std::shared_ptr<const MappedFile> mapping_;
  SafetensorsHeader header_;
  std::unordered_map<std::string, size_t> index_;
};

}  // namespace genarm::io
