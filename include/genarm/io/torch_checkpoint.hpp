// Reading PyTorch `.bin` checkpoints (pytorch_model.bin, its shards, adapter_model.bin) as
// torch.save has written them since torch 1.6: a zip archive (io/zip_archive.hpp) holding
// <archive>/data.pkl, the pickled state dict, and one stored entry <archive>/data/<key> per
// storage. data.pkl is interpreted, never executed (io/pickle.hpp), into name -> (storage key,
// dtype, offset, shape, stride); then, as for safetensors, everything is validated before any
// tensor is used: each storage entry exists, is stored uncompressed and holds its declared
// elements, and each view (offset + sum((shape_i - 1) * stride_i)) lies inside its storage.
// Contiguous tensors are TensorViews straight into the mapped file (zero-copy, so tied weights
// sharing a storage are two views of the same bytes); non-contiguous ones (a transpose, a column
// slice, a broadcast) are copied once, in row-major order, into one buffer owned by the file.
// The legacy (pre-1.6, magic-number) format is refused with a message saying how to convert it.
// Ownership: TorchCheckpointFile owns its mapping and the copies; TensorView spans point into them.
// Thread-safety: immutable after open, thread-safe.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <unordered_map>
#include <utility>
#include <vector>

#include "genarm/core/dtype.hpp"
#include "genarm/core/error.hpp"
#include "genarm/core/large_page_buffer.hpp"
#include "genarm/io/mapped_file.hpp"
#include "genarm/io/pickle.hpp"
#include "genarm/io/safetensors.hpp"
#include "genarm/io/zip_archive.hpp"

namespace genarm::io {

struct TorchCheckpointOptions {
  ZipOptions zip;  // verify_crc: check every entry's CRC-32 at open (reads the whole file)
  PickleLimits pickle;
};

class TorchCheckpointFile {
 public:
  // Maps and validates a `.bin` file: Error(kIo) if it cannot be mapped, Error(kFormat) naming
  // the file (and the tensor, entry or pickle byte) if it is malformed, Error(kUnsupported) for
  // valid files genarm does not read (legacy format, compressed entries, globals outside the
  // state-dict whitelist, storage types without a DType).
  static TorchCheckpointFile open(const std::filesystem::path& path, const TorchCheckpointOptions& options = {}) {
    return open(MappedFile::open(path), options);
  }
  // Validates a file already mapped.
  static TorchCheckpointFile open(std::shared_ptr<const MappedFile> mapping, const TorchCheckpointOptions& options = {}) {
    TorchCheckpointFile f = parse(mapping->bytes(), mapping->path().string(), options);
    f.mapping_ = std::move(mapping);
    return f;
  }
  // Validates `bytes` (which must outlive the result); `origin` names them in errors.
  static TorchCheckpointFile parse(std::span<const std::byte> bytes, std::string origin,
                                   const TorchCheckpointOptions& options = {}) {
    TorchCheckpointFile f;
    f.origin_ = std::move(origin);
    f.load(bytes, options);
    return f;
  }

  // Tensors in the pickle's (the state dict's) order.
  const std::vector<TensorView>& tensors() const { return tensors_; }
  const TensorView* find(std::string_view name) const {
    auto it = index_.find(std::string(name));
    return it == index_.end() ? nullptr : &tensors_[it->second];
  }
  const std::string& origin() const { return origin_; }
  // The mapping of the file (null for parse()).
  const std::shared_ptr<const MappedFile>& mapping() const { return mapping_; }
  // Bytes copied out of the file for non-contiguous views.
  size_t materialized_bytes() const { return copies_.size(); }

 private:
  TorchCheckpointFile() = default;

  template <typename... Args>
  [[noreturn]] void bad(const Args&... args) const {
    fail(ErrorCategory::kFormat, origin_, ": ", args...);
  }

  // A view that must be copied, and where its copy goes in copies_.
  struct Copy {
    size_t tensor;
    std::span<const std::byte> storage;
    size_t offset;  // in copies_
  };

  void load(std::span<const std::byte> file, const TorchCheckpointOptions& options) {
    check_magic(file);
    const ZipArchive zip = ZipArchive::parse(file, origin_, options.zip);
    // torch's reader takes the archive folder from the first entry (torch.save names it after
    // the file: "archive/", "pytorch_model/").
    if (zip.entries().empty()) bad("an empty zip archive, not a torch.save checkpoint");
    const std::string& first = zip.entries().front().name;
    const size_t slash = first.find('/');
    if (slash == std::string::npos || slash == 0) {
      bad("zip entry '", first, "' is not inside an archive folder (not a torch.save checkpoint)");
    }
    const std::string prefix = first.substr(0, slash + 1);
    const ZipEntry* pickle_entry = zip.find(prefix + "data.pkl");
    if (pickle_entry == nullptr) bad("no ", prefix, "data.pkl in the archive (not a torch.save checkpoint)");
    if (const ZipEntry* order = zip.find(prefix + "byteorder")) {
      const auto text = zip.data(*order);
      const std::string_view value(reinterpret_cast<const char*>(text.data()), text.size());
      if (value == "big") {
        fail(ErrorCategory::kUnsupported, origin_, ": the storages are big-endian (", prefix,
             "byteorder); re-save on a little-endian machine");
      }
      if (value != "little") bad(prefix, "byteorder is '", value.substr(0, 16), "', not 'little' or 'big'");
    }
    const auto records = read_torch_state_dict(zip.data(*pickle_entry), origin_ + ":" + pickle_entry->name, options.pickle);

    std::vector<Copy> copies;
    std::map<std::tuple<std::string, int64_t, std::vector<int64_t>, std::vector<int64_t>>, size_t> copied;  // view -> copies_ offset
    size_t copy_bytes = 0;
    tensors_.reserve(records.size());
    for (const TorchTensorRecord& r : records) {
      TensorView view;
      view.name = r.name;
      view.dtype = r.dtype;
      view.shape = r.shape;
      view.origin = origin_;
      const auto storage = storage_bytes(zip, prefix, r);
      const size_t element = dtype_size(r.dtype);
      const uint64_t numel = check_view(r);
      if (numel == 0 || is_contiguous(r.shape, r.stride)) {
        view.bytes = storage.subspan(static_cast<size_t>(r.storage_offset) * element, static_cast<size_t>(numel) * element);
      } else {
        // One copy per distinct view (tied weights that are the same transposed view share it).
        auto key = std::make_tuple(r.storage_key, r.storage_offset, r.shape, r.stride);
        auto [it, inserted] = copied.emplace(std::move(key), copy_bytes);
        if (inserted) {
          const uint64_t bytes = numel * element;
          // Copies are bounded by the file's own size: a view larger than everything stored
          // (a broadcast or overlapping strides) would let a few bytes claim gigabytes.
          if (bytes > file.size() - std::min<uint64_t>(copy_bytes, file.size())) {
            fail(ErrorCategory::kUnsupported, origin_, ": tensor '", r.name, "': its non-contiguous view (shape ",
                 view.shape_string(), ", stride ", shape_text(r.stride), ") needs ", bytes,
                 " bytes once copied, more than the file holds (", file.size(), " bytes, ", copy_bytes,
                 " already copied); a broadcast or overlapping view?");
          }
          copies.push_back({tensors_.size(), storage, copy_bytes});
          copy_bytes += (static_cast<size_t>(bytes) + 63) / 64 * 64;  // keep every copy 64-byte aligned
        } else {
          copies.push_back({tensors_.size(), storage, it->second});
        }
      }
      if (!index_.emplace(view.name, tensors_.size()).second) bad("tensor '", view.name, "' appears twice");
      tensors_.push_back(std::move(view));
    }
    if (copy_bytes > 0) copies_ = LargePageBuffer(copy_bytes);
    std::set<size_t> done;  // copies_ offsets already filled
    for (const Copy& c : copies) {
      const TorchTensorRecord& r = records[c.tensor];
      TensorView& view = tensors_[c.tensor];
      const size_t bytes = static_cast<size_t>(view.numel()) * dtype_size(view.dtype);
      std::byte* out = copies_.data() + c.offset;
      if (done.insert(c.offset).second) gather(c.storage, r, out);
      view.bytes = std::span<const std::byte>(out, bytes);
    }
  }

  // Legacy files (torch < 1.6, or _use_new_zipfile_serialization=False) are a pickle stream
  // starting with a magic number; anything else that is not a zip is not a torch.save file.
  void check_magic(std::span<const std::byte> file) const {
    static constexpr unsigned char kLegacyMagic[] = {0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c,
                                                     0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19};
    const auto starts_with = [&](std::span<const unsigned char> prefix) {
      return file.size() >= prefix.size() && std::memcmp(file.data(), prefix.data(), prefix.size()) == 0;
    };
    if (starts_with(kLegacyMagic)) {
      fail(ErrorCategory::kUnsupported, origin_, ": the legacy torch.save format (torch < 1.6, or ",
           "_use_new_zipfile_serialization=False), which genarm does not read: re-save with torch>=1.6 ",
           "(torch.save(torch.load(path), path)) or convert to safetensors");
    }
    if (!file.empty() && static_cast<unsigned char>(file[0]) == 0x80) {
      fail(ErrorCategory::kUnsupported, origin_, ": a bare pickle, not a torch.save zip archive: re-save with ",
           "torch>=1.6 or convert to safetensors");
    }
    static constexpr unsigned char kZipLocal[] = {'P', 'K', 3, 4};
    static constexpr unsigned char kZipEmpty[] = {'P', 'K', 5, 6};
    if (!starts_with(kZipLocal) && !starts_with(kZipEmpty)) {
      bad("not a torch.save checkpoint (no zip signature PK\\x03\\x04 at its start)");
    }
  }

  // The storage entry of `r`, checked to hold the storage's declared elements.
  std::span<const std::byte> storage_bytes(const ZipArchive& zip, const std::string& prefix,
                                           const TorchTensorRecord& r) const {
    const std::string name = prefix + "data/" + r.storage_key;
    const ZipEntry* entry = zip.find(name);
    if (entry == nullptr) {
      bad("tensor '", r.name, "': its storage '", r.storage_key, "' is not in the archive (no entry '", name, "')");
    }
    const auto bytes = zip.data(*entry);
    const size_t element = dtype_size(r.dtype);
    if (r.storage_numel > bytes.size() / element) {
      bad("tensor '", r.name, "': storage '", r.storage_key, "' declares ", r.storage_numel, " ", dtype_name(r.dtype),
          " elements (", r.storage_numel, " x ", element, " bytes) but entry '", name, "' holds ", bytes.size(), " bytes");
    }
    return bytes.first(static_cast<size_t>(r.storage_numel) * element);
  }

  // Checks the view against its storage; returns its element count.
  uint64_t check_view(const TorchTensorRecord& r) const {
    if (r.shape.size() > 8) bad("tensor '", r.name, "': shape has ", r.shape.size(), " dimensions (at most 8)");
    uint64_t numel = 1;
    for (const int64_t d : r.shape) {
      const auto dim = static_cast<uint64_t>(d);
      if (dim > (uint64_t{1} << 40) || (dim != 0 && numel > (uint64_t{1} << 50) / dim)) {
        bad("tensor '", r.name, "': shape ", shape_text(r.shape), " is too large");
      }
      numel *= dim;
    }
    const auto offset = static_cast<uint64_t>(r.storage_offset);
    if (numel == 0) {
      if (offset > r.storage_numel) {
        bad("tensor '", r.name, "': storage offset ", offset, " is past the end of storage '", r.storage_key, "' (",
            r.storage_numel, " elements)");
      }
      return 0;
    }
    // The last element the view reaches: offset + sum((shape_i - 1) * stride_i), all within 2^62.
    constexpr uint64_t kLimit = uint64_t{1} << 62;
    uint64_t last = offset;
    bool overflow = offset > kLimit;
    for (size_t i = 0; i < r.shape.size() && !overflow; ++i) {
      const auto extent = static_cast<uint64_t>(r.shape[i] - 1);
      const auto stride = static_cast<uint64_t>(r.stride[i]);
      if (extent != 0 && stride > (kLimit - last) / extent) {
        overflow = true;
      } else {
        last += extent * stride;
      }
    }
    if (overflow || last >= r.storage_numel) {
      bad("tensor '", r.name, "': its view (offset ", offset, ", shape ", shape_text(r.shape), ", stride ",
          shape_text(r.stride), ") reaches ", overflow ? "beyond element 2^62" : "element " + std::to_string(last),
          " of storage '", r.storage_key, "', which has ", r.storage_numel, " elements");
    }
    return numel;
  }

  // Row-major with no gaps; dimensions of size 1 may have any stride (torch's own rule).
  static bool is_contiguous(const std::vector<int64_t>& shape, const std::vector<int64_t>& stride) {
    int64_t expected = 1;
    for (size_t i = shape.size(); i-- > 0;) {
      if (shape[i] == 1) continue;
      if (stride[i] != expected) return false;
      expected *= shape[i];
    }
    return true;
  }

  static std::string shape_text(const std::vector<int64_t>& v) {
    std::string s = "[";
    for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + std::to_string(v[i]);
    return s + "]";
  }

  // Copies the strided view `r` of `storage` to `out` in row-major order.
  static void gather(std::span<const std::byte> storage, const TorchTensorRecord& r, std::byte* out) {
    const size_t element = dtype_size(r.dtype);
    const size_t rank = r.shape.size();
    std::vector<int64_t> index(rank, 0);
    const int64_t inner = r.shape[rank - 1];
    const int64_t inner_stride = r.stride[rank - 1];
    int64_t base = r.storage_offset;  // element offset of index[0..rank-2], 0
    for (;;) {
      const std::byte* src = storage.data() + static_cast<size_t>(base) * element;
      if (inner_stride == 1) {
        std::memcpy(out, src, static_cast<size_t>(inner) * element);
        out += static_cast<size_t>(inner) * element;
      } else {
        for (int64_t k = 0; k < inner; ++k, out += element) {
          std::memcpy(out, src + static_cast<size_t>(k * inner_stride) * element, element);
        }
      }
      // Next index over the outer dimensions (an odometer).
      size_t d = rank - 1;
      while (d-- > 0) {
        base += r.stride[d];
        if (++index[d] < r.shape[d]) break;
        base -= r.stride[d] * r.shape[d];
        index[d] = 0;
      }
      if (d == static_cast<size_t>(-1)) return;
    }
  }

  std::string origin_;
  std::shared_ptr<const MappedFile> mapping_;
  std::vector<TensorView> tensors_;
  std::unordered_map<std::string, size_t> index_;
  LargePageBuffer copies_;  // the non-contiguous views, row-major, each 64-byte aligned
};

}  // namespace genarm::io
