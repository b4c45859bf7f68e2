// ZipArchive: a read-only zip archive over bytes in memory (normally a MappedFile), enough for
// the archives torch.save writes since torch 1.6 (<archive>/data.pkl, <archive>/data/<key>, ...,
// every entry stored uncompressed, 64-byte aligned, with ZIP64 records for big files).
// Stored entries are returned as zero-copy spans into the mapping; compressed or encrypted
// entries are refused (kUnsupported) when read, naming the entry. Everything the archive says
// about itself is checked before use (PKWARE APPNOTE 6.3): the end-of-central-directory record
// and its ZIP64 locator and record, every central directory entry and its ZIP64 extra field,
// every local header (signature, name, sizes, its own ZIP64 extra), and the byte ranges of the
// entries, which must lie inside the file, before the central directory and not overlap.
// CRC-32s are checked only on request: reading every byte of a multi-GB checkpoint at open
// would defeat memory mapping.
// Ownership: keeps its MappedFile alive (when opened from one); spans point into it.
// Thread-safety: immutable after open, thread-safe.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "genarm/core/error.hpp"
#include "genarm/io/mapped_file.hpp"

namespace genarm::io {

// One member of a zip archive, from its central directory entry.
struct ZipEntry {
  std::string name;
  uint16_t method = 0;  // 0 stored, 8 deflate, ...
  uint16_t flags = 0;   // general purpose bit flags (bit 0: encrypted, bit 3: data descriptor)
  uint32_t crc32 = 0;
  uint64_t compressed_size = 0;  // bytes of data in the archive
  uint64_t size = 0;             // bytes once uncompressed
  uint64_t header_offset = 0;    // of the local file header
  uint64_t data_offset = 0;      // of the first data byte, after the local header

  bool stored() const { return method == 0; }
  bool encrypted() const { return (flags & 1u) != 0; }
};

struct ZipOptions {
  // Check every stored entry's CRC-32 at open (reads the whole file).
  bool verify_crc = false;
};

namespace detail {

inline uint16_t zip_u16(const std::byte* p) {
  return static_cast<uint16_t>(static_cast<unsigned>(p[0]) | static_cast<unsigned>(p[1]) << 8);
}
inline uint32_t zip_u32(const std::byte* p) {
  return static_cast<uint32_t>(zip_u16(p)) | static_cast<uint32_t>(zip_u16(p + 2)) << 16;
}
inline uint64_t zip_u64(const std::byte* p) {
  return static_cast<uint64_t>(zip_u32(p)) | static_cast<uint64_t>(zip_u32(p + 4)) << 32;
}

// True if [offset, offset + length) lies inside [0, limit), without overflow.
inline bool zip_range_fits(uint64_t offset, uint64_t length, uint64_t limit) {
  return offset <= limit && length <= limit - offset;
}

inline const std::array<uint32_t, 256>& crc32_table() {
  static const std::array<uint32_t, 256> table = [] {
    std::array<uint32_t, 256> t{};
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1u) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  return table;
}

inline constexpr uint32_t kZipLocalHeaderSig = 0x04034b50;
inline constexpr uint32_t kZipCentralHeaderSig = 0x02014b50;
inline constexpr uint32_t kZipEndSig = 0x06054b50;
inline constexpr uint32_t kZip64EndSig = 0x06064b50;
inline constexpr uint32_t kZip64LocatorSig = 0x07064b50;
inline constexpr size_t kZipEndBytes = 22;
inline constexpr size_t kZip64LocatorBytes = 20;
inline constexpr size_t kZip64EndBytes = 56;
inline constexpr size_t kZipCentralHeaderBytes = 46;
inline constexpr size_t kZipLocalHeaderBytes = 30;
inline constexpr uint16_t kZip64ExtraId = 0x0001;

inline std::string_view zip_method_name(uint16_t method) {
  switch (method) {
    case 8: return "deflate";
    case 9: return "deflate64";
    case 12: return "bzip2";
    case 14: return "lzma";
    case 93: return "zstd";
    case 95: return "xz";
    default: return "unknown";
  }
}

}  // namespace detail

// The CRC-32 (ISO-HDLC, as zip uses) of `bytes`.
inline uint32_t crc32(std::span<const std::byte> bytes) {
  const auto& table = detail::crc32_table();
  uint32_t c = 0xFFFFFFFFu;
  for (const std::byte b : bytes) c = table[(c ^ static_cast<uint32_t>(b)) & 0xFFu] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}

class ZipArchive {
 public:
  // Maps and indexes `path`: Error(kIo) if it cannot be mapped, Error(kFormat) naming the file
  // (and entry) if it is not a well-formed zip archive.
  static ZipArchive open(const std::filesystem::path& path, ZipOptions options = {}) {
    return open(MappedFile::open(path), options);
  }
  static ZipArchive open(std::shared_ptr<const MappedFile> file, ZipOptions options = {}) {
    ZipArchive a = parse(file->bytes(), file->path().string(), options);
    a.mapping_ = std::move(file);
    return a;
  }
  // Indexes `bytes`, which must outlive the archive; `origin` names them in errors.
  static ZipArchive parse(std::span<const std::byte> bytes, std::string origin, ZipOptions options = {}) {
    ZipArchive a;
    a.bytes_ = bytes;
    a.origin_ = std::move(origin);
    a.read_central_directory();
    if (options.verify_crc) {
      for (const ZipEntry& e : a.entries_) {
        if (e.stored() && !e.encrypted()) a.verify_crc(e);
      }
    }
    return a;
  }

  // Entries in central directory order.
  const std::vector<ZipEntry>& entries() const { return entries_; }
  const ZipEntry* find(std::string_view name) const {
    const auto it = index_.find(std::string(name));
    return it == index_.end() ? nullptr : &entries_[it->second];
  }
  // The entry `name`; Error(kFormat) naming the archive if it has none.
  const ZipEntry& require(std::string_view name) const {
    const ZipEntry* e = find(name);
    if (e == nullptr) fail(ErrorCategory::kFormat, origin_, ": no zip entry '", name, "'");
    return *e;
  }

  // The bytes of a stored entry, in place. Error(kUnsupported) naming the entry if it is
  // compressed or encrypted.
  std::span<const std::byte> data(const ZipEntry& e) const {
    if (e.encrypted()) {
      fail(ErrorCategory::kUnsupported, origin_, ": zip entry '", e.name, "' is encrypted");
    }
    if (!e.stored()) {
      fail(ErrorCategory::kUnsupported, origin_, ": zip entry '", e.name, "' is compressed (method ", e.method,
           ", ", detail::zip_method_name(e.method), "); only stored entries can be read in place, as torch.save writes them");
    }
    return bytes_.subspan(e.data_offset, e.size);
  }
  std::span<const std::byte> data(std::string_view name) const { return data(require(name)); }

  // Error(kFormat) naming the entry if its bytes do not match the CRC-32 its header records.
  void verify_crc(const ZipEntry& e) const {
    const uint32_t actual = crc32(data(e));
    if (actual != e.crc32) {
      fail(ErrorCategory::kFormat, origin_, ": zip entry '", e.name, "' fails its CRC-32 check (recorded ",
           hex(e.crc32), ", computed ", hex(actual), ")");
    }
  }

  const std::string& origin() const { return origin_; }
  std::span<const std::byte> bytes() const { return bytes_; }
  // The mapping the archive was opened from (null for parse()).
  const std::shared_ptr<const MappedFile>& mapping() const { return mapping_; }

 private:
  ZipArchive() = default;

  static std::string hex(uint32_t v) {
    static constexpr char kDigits[] = "0123456789abcdef";
    std::string s = "0x00000000";
    for (int i = 0; i < 8; ++i) s[static_cast<size_t>(9 - i)] = kDigits[(v >> (4 * i)) & 0xFu];
    return s;
  }

  template <typename... Args>
  [[noreturn]] void bad(const Args&... args) const {
    fail(ErrorCategory::kFormat, origin_, ": ", args...);
  }

  const std::byte* at(uint64_t offset) const { return bytes_.data() + offset; }

  // The end-of-central-directory record (and, when present, its ZIP64 twin), then every entry.
  void read_central_directory() {
    const uint64_t size = bytes_.size();
    if (size < detail::kZipEndBytes) {
      bad("file is ", size, " bytes, too short for a zip archive (its end record alone is 22 bytes)");
    }
    // The end record is the last 22 bytes plus a comment of up to 65535 bytes: search backwards
    // for a signature whose comment length reaches exactly the end of the file.
    uint64_t end = size;  // offset of the end record
    const uint64_t lowest = size > detail::kZipEndBytes + 0xFFFF ? size - detail::kZipEndBytes - 0xFFFF : 0;
    for (uint64_t pos = size - detail::kZipEndBytes + 1; pos-- > lowest;) {
      if (detail::zip_u32(at(pos)) == detail::kZipEndSig &&
          pos + detail::kZipEndBytes + detail::zip_u16(at(pos + 20)) == size) {
        end = pos;
        break;
      }
    }
    if (end == size) {
      bad("no zip end-of-central-directory record (not a zip archive, or a truncated one)");
    }
    const std::byte* e = at(end);
    uint64_t disk = detail::zip_u16(e + 4);
    uint64_t cd_disk = detail::zip_u16(e + 6);
    uint64_t disk_entries = detail::zip_u16(e + 8);
    uint64_t total_entries = detail::zip_u16(e + 10);
    uint64_t cd_size = detail::zip_u32(e + 12);
    uint64_t cd_offset = detail::zip_u32(e + 16);
    uint64_t cd_limit = end;  // the central directory ends before the end record(s)

    // ZIP64: a locator right before the end record points at the ZIP64 end record, whose 64-bit
    // fields replace the saturated 16- and 32-bit ones.
    if (end >= detail::kZip64LocatorBytes && detail::zip_u32(at(end - detail::kZip64LocatorBytes)) == detail::kZip64LocatorSig) {
      const std::byte* loc = at(end - detail::kZip64LocatorBytes);
      const uint64_t record = detail::zip_u64(loc + 8);
      if (detail::zip_u32(loc + 4) != 0 || detail::zip_u32(loc + 16) > 1) {
        fail(ErrorCategory::kUnsupported, origin_, ": zip archive spans several disks");
      }
      const uint64_t locator = end - detail::kZip64LocatorBytes;
      if (!detail::zip_range_fits(record, detail::kZip64EndBytes, locator)) {
        bad("ZIP64 end record offset ", record, " is not inside the ", locator, " bytes before its locator");
      }
      const std::byte* r = at(record);
      if (detail::zip_u32(r) != detail::kZip64EndSig) {
        bad("no ZIP64 end record signature at offset ", record, " (where its locator points)");
      }
      const uint64_t record_size = detail::zip_u64(r + 4);  // after the signature and this field
      if (record_size < detail::kZip64EndBytes - 12 || record_size > locator - record - 12) {
        bad("ZIP64 end record at offset ", record, " gives its size as ", record_size, " bytes (",
            detail::kZip64EndBytes - 12, " to ", locator - record - 12, " fit)");
      }
      disk = detail::zip_u32(r + 16);
      cd_disk = detail::zip_u32(r + 20);
      disk_entries = detail::zip_u64(r + 24);
      total_entries = detail::zip_u64(r + 32);
      cd_size = detail::zip_u64(r + 40);
      cd_offset = detail::zip_u64(r + 48);
      cd_limit = record;
    }
    if (disk != 0 || cd_disk != 0 || disk_entries != total_entries) {
      fail(ErrorCategory::kUnsupported, origin_, ": zip archive spans several disks");
    }
    if (!detail::zip_range_fits(cd_offset, cd_size, cd_limit)) {
      bad("central directory (offset ", cd_offset, ", ", cd_size, " bytes) does not fit in the ", cd_limit,
          " bytes before the end record (truncated file?)");
    }
    if (total_entries > cd_size / detail::kZipCentralHeaderBytes) {
      bad("end record claims ", total_entries, " entries, but the central directory of ", cd_size,
          " bytes holds at most ", cd_size / detail::kZipCentralHeaderBytes);
    }
    cd_offset_ = cd_offset;

    entries_.reserve(static_cast<size_t>(total_entries));
    uint64_t cursor = cd_offset;
    const uint64_t cd_end = cd_offset + cd_size;
    for (uint64_t i = 0; i < total_entries; ++i) {
      cursor = read_central_entry(i, cursor, cd_end);
    }
    for (size_t i = 0; i < entries_.size(); ++i) {
      if (!index_.emplace(entries_[i].name, i).second) bad("zip entry '", entries_[i].name, "' appears twice");
    }
    for (ZipEntry& entry : entries_) read_local_header(entry);
    check_no_overlap();
  }

  // Parses central directory entry `i` at `pos`; returns the offset of the next one.
  uint64_t read_central_entry(uint64_t i, uint64_t pos, uint64_t cd_end) {
    if (!detail::zip_range_fits(pos, detail::kZipCentralHeaderBytes, cd_end)) {
      bad("central directory entry ", i, " at offset ", pos, " runs past the end of the central directory");
    }
    const std::byte* h = at(pos);
    if (detail::zip_u32(h) != detail::kZipCentralHeaderSig) {
      bad("no central directory signature for entry ", i, " at offset ", pos);
    }
    const uint64_t name_len = detail::zip_u16(h + 28);
    const uint64_t extra_len = detail::zip_u16(h + 30);
    const uint64_t comment_len = detail::zip_u16(h + 32);
    const uint64_t total = detail::kZipCentralHeaderBytes + name_len + extra_len + comment_len;
    if (!detail::zip_range_fits(pos, total, cd_end)) {
      bad("central directory entry ", i, " at offset ", pos, " (", total, " bytes with its name, extra field and comment) runs past the end of the central directory");
    }
    ZipEntry e;
    e.name.assign(reinterpret_cast<const char*>(h + detail::kZipCentralHeaderBytes), name_len);
    if (e.name.empty()) bad("central directory entry ", i, " at offset ", pos, " has an empty name");
    e.flags = detail::zip_u16(h + 8);
    e.method = detail::zip_u16(h + 10);
    e.crc32 = detail::zip_u32(h + 16);
    e.compressed_size = detail::zip_u32(h + 20);
    e.size = detail::zip_u32(h + 24);
    uint64_t disk = detail::zip_u16(h + 34);
    e.header_offset = detail::zip_u32(h + 42);

    // A saturated field's real value is in the ZIP64 extra field, in this order.
    const bool big_size = e.size == 0xFFFFFFFFu;
    const bool big_compressed = e.compressed_size == 0xFFFFFFFFu;
    const bool big_offset = e.header_offset == 0xFFFFFFFFu;
    const bool big_disk = disk == 0xFFFFu;
    if (big_size || big_compressed || big_offset || big_disk) {
      const auto zip64 = find_zip64_extra(
          std::span<const std::byte>(h + detail::kZipCentralHeaderBytes + name_len, extra_len), e.name, "central directory");
      const size_t needed = 8 * (big_size + big_compressed + big_offset) + 4 * big_disk;
      if (zip64.size() < needed) {
        bad("zip entry '", e.name, "': its central directory ZIP64 extra field has ", zip64.size(),
            " bytes, but the saturated fields need ", needed, zip64.empty() ? " (no ZIP64 extra field)" : "");
      }
      size_t k = 0;
      if (big_size) e.size = detail::zip_u64(zip64.data() + 8 * k++);
      if (big_compressed) e.compressed_size = detail::zip_u64(zip64.data() + 8 * k++);
      if (big_offset) e.header_offset = detail::zip_u64(zip64.data() + 8 * k++);
      if (big_disk) disk = detail::zip_u32(zip64.data() + 8 * k);
    }
    if (disk != 0) fail(ErrorCategory::kUnsupported, origin_, ": zip entry '", e.name, "' is on another disk");
    if (e.stored() && !e.encrypted() && e.compressed_size != e.size) {
      bad("zip entry '", e.name, "' is stored but its sizes differ (", e.compressed_size, " bytes in the archive, ",
          e.size, " uncompressed)");
    }
    entries_.push_back(std::move(e));
    return pos + total;
  }

  // The data of the ZIP64 extra block (id 0x0001) among `extra`'s blocks, or an empty span.
  std::span<const std::byte> find_zip64_extra(std::span<const std::byte> extra, const std::string& name,
                                              std::string_view where) const {
    size_t pos = 0;
    while (extra.size() - pos >= 4) {  // fewer trailing bytes are padding, as zipfile reads it
      const uint16_t id = detail::zip_u16(extra.data() + pos);
      const size_t len = detail::zip_u16(extra.data() + pos + 2);
      if (len > extra.size() - pos - 4) {
        bad("zip entry '", name, "': ", where, " extra field block 0x", hex(id).substr(6), " of ", len,
            " bytes runs past the end of the extra field (", extra.size() - pos - 4, " bytes left)");
      }
      if (id == detail::kZip64ExtraId) return extra.subspan(pos + 4, len);
      pos += 4 + len;
    }
    return {};
  }

  // Checks the local header of `e` against its central directory entry and finds its data.
  void read_local_header(ZipEntry& e) {
    if (!detail::zip_range_fits(e.header_offset, detail::kZipLocalHeaderBytes, cd_offset_)) {
      bad("zip entry '", e.name, "': local header offset ", e.header_offset, " is not before the central directory at ",
          cd_offset_, " (truncated file?)");
    }
    const std::byte* h = at(e.header_offset);
    if (detail::zip_u32(h) != detail::kZipLocalHeaderSig) {
      bad("zip entry '", e.name, "': no local header signature at offset ", e.header_offset);
    }
    const uint64_t name_len = detail::zip_u16(h + 26);
    const uint64_t extra_len = detail::zip_u16(h + 28);
    const uint64_t header_len = detail::kZipLocalHeaderBytes + name_len + extra_len;
    if (!detail::zip_range_fits(e.header_offset, header_len, cd_offset_)) {
      bad("zip entry '", e.name, "': local header at offset ", e.header_offset, " (", header_len,
          " bytes) runs into the central directory");
    }
    const std::string_view local_name(reinterpret_cast<const char*>(h + detail::kZipLocalHeaderBytes), name_len);
    if (local_name != e.name) {
      bad("zip entry '", e.name, "': its local header at offset ", e.header_offset, " names '", local_name, "'");
    }
    // Without a data descriptor (flag bit 3) the local header repeats the sizes; with one they
    // may be zero there (torch.save writes zeros), and the central directory is authoritative.
    if ((e.flags & 8u) == 0) {
      uint64_t size = detail::zip_u32(h + 22);
      uint64_t compressed = detail::zip_u32(h + 18);
      if (size == 0xFFFFFFFFu || compressed == 0xFFFFFFFFu) {
        // A local ZIP64 extra field holds both sizes, uncompressed first.
        const auto zip64 = find_zip64_extra(
            std::span<const std::byte>(h + detail::kZipLocalHeaderBytes + name_len, extra_len), e.name, "local header");
        if (zip64.size() < 16) {
          bad("zip entry '", e.name, "': its local header ZIP64 extra field has ", zip64.size(),
              " bytes, but the two sizes need 16");
        }
        size = detail::zip_u64(zip64.data());
        compressed = detail::zip_u64(zip64.data() + 8);
      }
      if (size != e.size || compressed != e.compressed_size) {
        bad("zip entry '", e.name, "': local header sizes (", compressed, " in the archive, ", size,
            " uncompressed) differ from the central directory's (", e.compressed_size, ", ", e.size, ")");
      }
    }
    e.data_offset = e.header_offset + header_len;
    if (!detail::zip_range_fits(e.data_offset, e.compressed_size, cd_offset_)) {
      bad("zip entry '", e.name, "': its ", e.compressed_size, " bytes of data at offset ", e.data_offset,
          " run past the start of the central directory at ", cd_offset_, " (truncated file?)");
    }
  }

  // Entries (local header and data) may not share bytes: an archive whose entries overlap is
  // either corrupt or built to make two names read the same bytes differently.
  void check_no_overlap() const {
    std::vector<const ZipEntry*> order;
    order.reserve(entries_.size());
    for (const ZipEntry& e : entries_) order.push_back(&e);
    std::sort(order.begin(), order.end(), [](const ZipEntry* a, const ZipEntry* b) {
      return a->header_offset < b->header_offset;
    });
    for (size_t i = 1; i < order.size(); ++i) {
      const ZipEntry& prev = *order[i - 1];
      const ZipEntry& next = *order[i];
      const uint64_t prev_end = prev.data_offset + prev.compressed_size;
      if (next.header_offset < prev_end) {
        bad("zip entries '", prev.name, "' (bytes ", prev.header_offset, "..", prev_end, ") and '", next.name,
            "' (from byte ", next.header_offset, ") overlap");
      }
    }
  }

  std::span<const std::byte> bytes_;
  std::string origin_;
  std::shared_ptr<const MappedFile> mapping_;
  std::vector<ZipEntry> entries_;
  std::unordered_map<std::string, size_t> index_;
  uint64_t cd_offset_ = 0;
};

}  // namespace genarm::io
