// Test helper: writes zip archives byte by byte (stored entries, optional ZIP64 records, data
// aligned as torch.save aligns them) and reports where each structure landed, so that tests
// can corrupt one field at a time.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "genarm/io/zip_archive.hpp"

namespace genarm::testing {

struct ZipBuildEntry {
  std::string name;
  std::string data;
  uint16_t method = 0;  // written as is; the data is never compressed
  uint16_t flags = 0;   // bit 3: data descriptor (local sizes written as zero, as torch.save does)
};

struct ZipBuildOptions {
  bool zip64 = false;   // every size and offset through ZIP64 extra fields and end records
  size_t align = 64;    // data offsets are multiples of this (padding in the local extra field)
  std::string comment;  // archive comment after the end record
};

struct ZipLayout {
  std::string bytes;
  std::vector<size_t> local_headers;  // offset of each entry's local header
  std::vector<size_t> data;           // offset of each entry's data
  std::vector<size_t> central;        // offset of each entry's central directory header
  size_t central_offset = 0;
  size_t end_offset = 0;  // of the (32-bit) end-of-central-directory record
};

inline void put_u16(std::string& s, uint64_t v) {
  for (int i = 0; i < 2; ++i) s.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
inline void put_u32(std::string& s, uint64_t v) {
  for (int i = 0; i < 4; ++i) s.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
inline void put_u64(std::string& s, uint64_t v) {
  for (int i = 0; i < 8; ++i) s.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
// Overwrites 2, 4 or 8 little-endian bytes at `offset`.
inline void poke(std::string& s, size_t offset, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) s[offset + static_cast<size_t>(i)] = static_cast<char>((v >> (8 * i)) & 0xff);
}

inline ZipLayout build_zip(const std::vector<ZipBuildEntry>& entries, const ZipBuildOptions& options = {}) {
  ZipLayout z;
  std::string& s = z.bytes;
  for (const ZipBuildEntry& e : entries) {
    const uint32_t crc = io::crc32(std::span(reinterpret_cast<const std::byte*>(e.data.data()), e.data.size()));
    const bool descriptor = (e.flags & 8u) != 0;
    z.local_headers.push_back(s.size());
    put_u32(s, 0x04034b50);
    put_u16(s, options.zip64 ? 45 : 20);
    put_u16(s, e.flags);
    put_u16(s, e.method);
    put_u32(s, 0);  // time, date
    put_u32(s, descriptor ? 0 : crc);
    const uint64_t size32 = descriptor ? 0 : options.zip64 ? 0xFFFFFFFFu : e.data.size();
    put_u32(s, size32);
    put_u32(s, size32);
    put_u16(s, e.name.size());
    std::string extra;
    if (options.zip64 && !descriptor) {
      put_u16(extra, 0x0001);
      put_u16(extra, 16);
      put_u64(extra, e.data.size());
      put_u64(extra, e.data.size());
    }
    // Pad with an unknown block ("FB", as torch.save) so that the data is aligned.
    const size_t unpadded = s.size() + 2 + e.name.size() + extra.size();
    if (options.align > 1) {
      size_t pad = (options.align - (unpadded + 4) % options.align) % options.align;
      put_u16(extra, 0x4246);
      put_u16(extra, pad);
      extra.append(pad, 'Z');
    }
    put_u16(s, extra.size());
    s += e.name;
    s += extra;
    z.data.push_back(s.size());
    s += e.data;
    if (descriptor) {
      put_u32(s, 0x08074b50);
      put_u32(s, crc);
      if (options.zip64) {
        put_u64(s, e.data.size());
        put_u64(s, e.data.size());
      } else {
        put_u32(s, e.data.size());
        put_u32(s, e.data.size());
      }
    }
  }
  z.central_offset = s.size();
  for (size_t i = 0; i < entries.size(); ++i) {
    const ZipBuildEntry& e = entries[i];
    const uint32_t crc = io::crc32(std::span(reinterpret_cast<const std::byte*>(e.data.data()), e.data.size()));
    z.central.push_back(s.size());
    put_u32(s, 0x02014b50);
    put_u16(s, 45);
    put_u16(s, options.zip64 ? 45 : 20);
    put_u16(s, e.flags);
    put_u16(s, e.method);
    put_u32(s, 0);
    put_u32(s, crc);
    put_u32(s, options.zip64 ? 0xFFFFFFFFu : e.data.size());
    put_u32(s, options.zip64 ? 0xFFFFFFFFu : e.data.size());
    put_u16(s, e.name.size());
    put_u16(s, options.zip64 ? 28 : 0);
    put_u16(s, 0);  // comment
    put_u16(s, 0);  // disk
    put_u16(s, 0);
    put_u32(s, 0);
    put_u32(s, options.zip64 ? 0xFFFFFFFFu : z.local_headers[i]);
    s += e.name;
    if (options.zip64) {
      put_u16(s, 0x0001);
      put_u16(s, 24);
      put_u64(s, e.data.size());
      put_u64(s, e.data.size());
      put_u64(s, z.local_headers[i]);
    }
  }
  const size_t cd_size = s.size() - z.central_offset;
  if (options.zip64) {
    const size_t record = s.size();
    put_u32(s, 0x06064b50);
    put_u64(s, 44);
    put_u16(s, 45);
    put_u16(s, 45);
    put_u32(s, 0);
    put_u32(s, 0);
    put_u64(s, entries.size());
    put_u64(s, entries.size());
    put_u64(s, cd_size);
    put_u64(s, z.central_offset);
    put_u32(s, 0x07064b50);
    put_u32(s, 0);
    put_u64(s, record);
    put_u32(s, 1);
  }
  z.end_offset = s.size();
  put_u32(s, 0x06054b50);
  put_u16(s, 0);
  put_u16(s, 0);
  put_u16(s, options.zip64 ? 0xFFFF : entries.size());
  put_u16(s, options.zip64 ? 0xFFFF : entries.size());
  put_u32(s, options.zip64 ? 0xFFFFFFFFu : cd_size);
  put_u32(s, options.zip64 ? 0xFFFFFFFFu : z.central_offset);
  put_u16(s, options.comment.size());
  s += options.comment;
  return z;
}

}  // namespace genarm::testing
