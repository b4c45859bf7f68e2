#include "genarm/io/zip_archive.hpp"

#include <string>
#include <vector>

#include "io_test_helpers.hpp"
#include "zip_test_helpers.hpp"

namespace genarm::io {
namespace {

using genarm::testing::build_zip;
using genarm::testing::poke;
using genarm::testing::TempDir;
using genarm::testing::write_file;
using genarm::testing::ZipBuildEntry;
using genarm::testing::ZipBuildOptions;
using genarm::testing::ZipLayout;

const ZipBuildOptions kZip64{.zip64 = true, .align = 64, .comment = ""};

std::span<const std::byte> zip_span(const std::string& s) {
  return {reinterpret_cast<const std::byte*>(s.data()), s.size()};
}
std::string zip_text(std::span<const std::byte> b) { return {reinterpret_cast<const char*>(b.data()), b.size()}; }

// An archive shaped like torch.save's: a pickle, two storages, a version record.
std::vector<ZipBuildEntry> torch_like_entries(uint16_t flags = 8) {
  return {{"archive/data.pkl", std::string("\x80\x02}q\x00.", 6), 0, flags},
          {"archive/data/0", std::string(24, '\x11'), 0, flags},
          {"archive/data/1", std::string(7, '\x22'), 0, flags},
          {"archive/version", "3\n", 0, flags}};
}

// Parses `z`, expecting a format error whose message has every fragment and names "t.zip".
void expect_zip_rejected(const std::string& bytes, const std::vector<std::string>& fragments,
                         ErrorCategory category = ErrorCategory::kFormat) {
  try {
    (void)ZipArchive::parse(zip_span(bytes), "t.zip");
    ADD_FAILURE() << "accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.category(), category) << e.what();
    EXPECT_EQ(std::string(e.what()).rfind("t.zip: ", 0), 0u) << e.what();
    for (const auto& f : fragments) {
      EXPECT_NE(std::string(e.what()).find(f), std::string::npos) << "message '" << e.what() << "' lacks '" << f << "'";
    }
  }
}

void expect_same_entries(const ZipArchive& a, const std::vector<ZipBuildEntry>& entries, const ZipLayout& z,
                         size_t align) {
  ASSERT_EQ(a.entries().size(), entries.size());
  for (size_t i = 0; i < entries.size(); ++i) {
    const ZipEntry& e = a.entries()[i];
    EXPECT_EQ(e.name, entries[i].name);
    EXPECT_EQ(e.size, entries[i].data.size());
    EXPECT_EQ(e.header_offset, z.local_headers[i]);
    EXPECT_EQ(e.data_offset, z.data[i]);
    EXPECT_EQ(e.data_offset % align, 0u);
    const auto bytes = a.data(e);
    // Zero-copy: the span points into the archive's own buffer.
    EXPECT_EQ(bytes.data(), a.bytes().data() + z.data[i]);
    EXPECT_EQ(zip_text(bytes), entries[i].data);
    EXPECT_EQ(a.find(e.name), &e);
    EXPECT_EQ(&a.require(e.name), &e);
  }
}

TEST(ZipArchive, ReadsStoredEntriesInPlace) {
  for (const uint16_t flags : {uint16_t{0}, uint16_t{8}, uint16_t{0x808}}) {
    const auto entries = torch_like_entries(flags);
    const ZipLayout z = build_zip(entries);
    const ZipArchive a = ZipArchive::parse(zip_span(z.bytes), "t.zip");
    expect_same_entries(a, entries, z, 64);
    EXPECT_EQ(a.find("archive/data/2"), nullptr);
    GENARM_EXPECT_ERROR(a.require("archive/data/2"), ErrorCategory::kFormat, "t.zip: no zip entry 'archive/data/2'");
    EXPECT_EQ(a.origin(), "t.zip");
    EXPECT_EQ(a.mapping(), nullptr);
  }
}

TEST(ZipArchive, ReadsZip64RecordsAndExtraFields) {
  for (const uint16_t flags : {uint16_t{0}, uint16_t{8}}) {
    const auto entries = torch_like_entries(flags);
    const ZipLayout z = build_zip(entries, kZip64);
    const ZipArchive a = ZipArchive::parse(zip_span(z.bytes), "t.zip");
    expect_same_entries(a, entries, z, 64);
  }
}

TEST(ZipArchive, ReadsAnArchiveCommentAndUnalignedData) {
  const auto entries = torch_like_entries(0);
  ZipBuildOptions options;
  options.align = 1;
  options.comment = std::string("PK\x05\x06 not the end", 17);
  const ZipLayout z = build_zip(entries, options);
  const ZipArchive a = ZipArchive::parse(zip_span(z.bytes), "t.zip");
  expect_same_entries(a, entries, z, 1);
}

TEST(ZipArchive, EmptyArchive) {
  const ZipLayout z = build_zip({});
  EXPECT_EQ(z.bytes.size(), 22u);
  EXPECT_TRUE(ZipArchive::parse(zip_span(z.bytes), "t.zip").entries().empty());
}

TEST(ZipArchive, OpensAMappedFileAndKeepsItAlive) {
  TempDir dir("zip");
  const auto entries = torch_like_entries();
  write_file(dir / "a.zip", build_zip(entries).bytes);
  const ZipArchive a = ZipArchive::open(dir / "a.zip");
  EXPECT_EQ(a.origin(), (dir / "a.zip").string());
  ASSERT_NE(a.mapping(), nullptr);
  EXPECT_EQ(a.bytes().data(), a.mapping()->data());
  EXPECT_EQ(zip_text(a.data("archive/data/1")), entries[2].data);
  GENARM_EXPECT_ERROR(ZipArchive::open(dir / "none.zip"), ErrorCategory::kIo, (dir / "none.zip").string(), "cannot open");
}

TEST(ZipArchive, Crc32OnlyWhenAsked) {
  // The reference value of the standard check string.
  EXPECT_EQ(crc32(zip_span("123456789")), 0xCBF43926u);
  const auto entries = torch_like_entries();
  ZipLayout z = build_zip(entries);
  EXPECT_NO_THROW(ZipArchive::parse(zip_span(z.bytes), "t.zip", {.verify_crc = true}));
  z.bytes[z.data[1] + 5] ^= 1;
  // Not checked by default (it would read every byte of a multi-GB file at open).
  const ZipArchive a = ZipArchive::parse(zip_span(z.bytes), "t.zip");
  GENARM_EXPECT_ERROR(a.verify_crc(a.require("archive/data/0")), ErrorCategory::kFormat,
                      "t.zip: zip entry 'archive/data/0' fails its CRC-32 check (recorded 0x");
  GENARM_EXPECT_ERROR(ZipArchive::parse(zip_span(z.bytes), "t.zip", {.verify_crc = true}), ErrorCategory::kFormat,
                      "zip entry 'archive/data/0' fails its CRC-32 check");
}

TEST(ZipArchive, CompressedAndEncryptedEntriesAreUnsupportedWhenRead) {
  auto entries = torch_like_entries(0);
  entries[1].method = 8;
  entries[2].flags = 1;
  const ZipLayout z = build_zip(entries);
  const ZipArchive a = ZipArchive::parse(zip_span(z.bytes), "t.zip");  // the other entries stay readable
  EXPECT_EQ(zip_text(a.data("archive/version")), "3\n");
  GENARM_EXPECT_ERROR(a.data("archive/data/0"), ErrorCategory::kUnsupported,
                      "t.zip: zip entry 'archive/data/0' is compressed (method 8, deflate); only stored entries");
  GENARM_EXPECT_ERROR(a.data("archive/data/1"), ErrorCategory::kUnsupported, "t.zip: zip entry 'archive/data/1' is encrypted");
}

TEST(ZipArchive, EveryTruncationIsAFormatError) {
  for (const bool zip64 : {false, true}) {
    const ZipLayout z = build_zip(torch_like_entries(), zip64 ? kZip64 : ZipBuildOptions{});
    for (size_t n = 0; n < z.bytes.size(); ++n) {
      try {
        (void)ZipArchive::parse(zip_span(z.bytes.substr(0, n)), "t.zip");
        ADD_FAILURE() << "accepted a prefix of " << n << " bytes";
      } catch (const Error& e) {
        EXPECT_EQ(e.category(), ErrorCategory::kFormat) << e.what();
      }
    }
  }
  expect_zip_rejected("PK\x05\x06", {"file is 4 bytes, too short for a zip archive"});
  const ZipLayout z = build_zip(torch_like_entries());
  expect_zip_rejected(z.bytes.substr(0, z.bytes.size() - 1), {"no zip end-of-central-directory record (not a zip archive, or a truncated one)"});
  // Cut before the central directory, with the end record kept: the offsets point past the data.
  expect_zip_rejected(z.bytes.substr(0, z.central_offset - 10) + z.bytes.substr(z.end_offset),
                      {"central directory (offset ", "does not fit in the", "(truncated file?)"});
  expect_zip_rejected(std::string(100, 'x'), {"no zip end-of-central-directory record"});
}

TEST(ZipArchive, BadSignaturesAreNamed) {
  const ZipLayout z = build_zip(torch_like_entries());
  std::string b = z.bytes;
  poke(b, z.central[2], 0x12345678, 4);
  expect_zip_rejected(b, {"no central directory signature for entry 2 at offset " + std::to_string(z.central[2])});
  b = z.bytes;
  poke(b, z.local_headers[1], 0, 4);
  expect_zip_rejected(b, {"zip entry 'archive/data/0': no local header signature at offset " + std::to_string(z.local_headers[1])});
  const ZipLayout z64 = build_zip(torch_like_entries(), kZip64);
  b = z64.bytes;
  poke(b, z64.end_offset - 20 - 56, 0, 4);  // the ZIP64 end record
  expect_zip_rejected(b, {"no ZIP64 end record signature at offset"});
}

TEST(ZipArchive, OutOfRangeOffsetsAndCountsAreNamed) {
  const ZipLayout z = build_zip(torch_like_entries(0));
  std::string b = z.bytes;
  poke(b, z.end_offset + 8, 900, 2);  // entries on this disk, and in all
  poke(b, z.end_offset + 10, 900, 2);
  expect_zip_rejected(b, {"end record claims 900 entries, but the central directory of"});
  b = z.bytes;
  poke(b, z.central[3] + 42, z.central_offset - 10, 4);  // local header offset
  expect_zip_rejected(b, {"zip entry 'archive/version': local header offset", "is not before the central directory"});
  b = z.bytes;
  poke(b, z.central[1] + 20, 1u << 30, 4);  // compressed size
  poke(b, z.central[1] + 24, 1u << 30, 4);
  expect_zip_rejected(b, {"zip entry 'archive/data/0': local header sizes (24 in the archive, 24 uncompressed) differ from the central directory's (1073741824, 1073741824)"});
  b = z.bytes;
  poke(b, z.central[1] + 24, 25, 4);  // stored, but the sizes differ
  expect_zip_rejected(b, {"zip entry 'archive/data/0' is stored but its sizes differ (24 bytes in the archive, 25 uncompressed)"});
  b = z.bytes;
  poke(b, z.central[0] + 28, 0xFFFF, 2);  // name length past the directory
  expect_zip_rejected(b, {"central directory entry 0 at offset", "runs past the end of the central directory"});
  b = z.bytes;
  poke(b, z.central[1] + 30, 8, 2);  // an extra field whose block claims more than it has
  poke(b, z.central[1] + 24, 0xFFFFFFFFu, 4);
  expect_zip_rejected(b, {"zip entry 'archive/data/0': central directory extra field block 0x", "runs past the end of the extra field"});
  // Data that runs into the central directory (with a data descriptor, local sizes are not checked).
  const ZipLayout d = build_zip(torch_like_entries(8));
  b = d.bytes;
  poke(b, d.central[3] + 20, 1000, 4);
  poke(b, d.central[3] + 24, 1000, 4);
  expect_zip_rejected(b, {"zip entry 'archive/version': its 1000 bytes of data at offset", "run past the start of the central directory"});
}

TEST(ZipArchive, OverlappingEntriesAreRefused) {
  // Entry 1's data made long enough to cover entry 2's local header (two names, one set of bytes).
  const ZipLayout z = build_zip(torch_like_entries(8));
  std::string b = z.bytes;
  const uint64_t size = z.local_headers[2] - z.data[1] + 10;
  poke(b, z.central[1] + 20, size, 4);
  poke(b, z.central[1] + 24, size, 4);
  expect_zip_rejected(b, {"zip entries 'archive/data/0' (bytes " + std::to_string(z.local_headers[1]) + "..",
                          "and 'archive/data/1' (from byte " + std::to_string(z.local_headers[2]) + ") overlap"});
  // Two central entries naming one local header.
  b = z.bytes;
  poke(b, z.central[2] + 42, z.local_headers[1], 4);
  expect_zip_rejected(b, {"zip entry 'archive/data/1': its local header at offset " + std::to_string(z.local_headers[1]) +
                          " names 'archive/data/0'"});
}

TEST(ZipArchive, DuplicateNamesAreRefused) {
  auto entries = torch_like_entries();
  entries[2].name = entries[1].name;
  expect_zip_rejected(build_zip(entries).bytes, {"zip entry 'archive/data/0' appears twice"});
}

TEST(ZipArchive, Zip64FieldsAreChecked) {
  const auto entries = torch_like_entries(0);
  const ZipLayout z = build_zip(entries, kZip64);
  // The central ZIP64 block cut from 24 to 16 bytes (the local header offset is then missing).
  std::string b = z.bytes;
  poke(b, z.central[0] + 46 + entries[0].name.size() + 2, 16, 2);
  poke(b, z.central[0] + 30, 20, 2);
  expect_zip_rejected(b, {"zip entry 'archive/data.pkl': its central directory ZIP64 extra field has 16 bytes, but the saturated fields need 24"});
  // A saturated size without any ZIP64 block.
  const ZipLayout plain = build_zip(entries);
  b = plain.bytes;
  poke(b, plain.central[1] + 24, 0xFFFFFFFFu, 4);
  expect_zip_rejected(b, {"zip entry 'archive/data/0': its central directory ZIP64 extra field has 0 bytes, but the saturated fields need 8 (no ZIP64 extra field)"});
  // The local ZIP64 sizes disagree with the central directory.
  b = z.bytes;
  poke(b, z.local_headers[1] + 30 + entries[1].name.size() + 4, 23, 8);
  expect_zip_rejected(b, {"zip entry 'archive/data/0': local header sizes (24 in the archive, 23 uncompressed) differ"});
  // The locator points outside the file, or at something else.
  b = z.bytes;
  poke(b, z.end_offset - 20 + 8, uint64_t{1} << 40, 8);
  expect_zip_rejected(b, {"ZIP64 end record offset 1099511627776 is not inside the"});
  b = z.bytes;
  poke(b, z.end_offset - 20 - 56 + 4, 1000, 8);
  expect_zip_rejected(b, {"ZIP64 end record at offset", "gives its size as 1000 bytes"});
}

TEST(ZipArchive, MultiDiskArchivesAreUnsupported) {
  const ZipLayout z = build_zip(torch_like_entries());
  std::string b = z.bytes;
  poke(b, z.end_offset + 4, 1, 2);
  expect_zip_rejected(b, {"zip archive spans several disks"}, ErrorCategory::kUnsupported);
}

}  // namespace
}  // namespace genarm::io
