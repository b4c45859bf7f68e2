// Fuzzes genarm::io::parse_safetensors on raw bytes, the validation every mapped checkpoint file
// goes through before any tensor is read. Bad bytes must end in a genarm::Error; a header that is
// accepted must describe tensors that tile the data section exactly, inside the buffer, with
// byte ranges that match shape x dtype size (every tensor byte is read, so ASan sees a range
// that leaves the buffer).
#include <cstddef>
#include <cstdint>
#include <span>

#include "fuzz_support.hpp"
#include "genarm/io/safetensors.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // A copy of exactly `size` bytes, so that ASan flags a read one past the end.
  const std::vector<std::byte> file(reinterpret_cast<const std::byte*>(data),
                                    reinterpret_cast<const std::byte*>(data) + size);
  genarm::io::SafetensorsHeader header;
  const bool ok = genarm::fuzz::accepts("parse_safetensors", [&] {
    header = genarm::io::parse_safetensors(std::span<const std::byte>(file), "fuzz.safetensors");
  });
  if (!ok) return 0;

  GENARM_FUZZ_CHECK(header.data_offset >= 8 && header.data_offset <= file.size());
  const std::byte* cursor = file.data() + header.data_offset;
  unsigned checksum = 0;
  for (const genarm::io::TensorView& t : header.tensors) {
    GENARM_FUZZ_CHECK(!t.name.empty());
    GENARM_FUZZ_CHECK(t.shape.size() <= 8, "tensor ", t.name);
    uint64_t numel = 1;
    for (const int64_t d : t.shape) {
      GENARM_FUZZ_CHECK(d >= 0, "tensor ", t.name);
      numel *= static_cast<uint64_t>(d);
    }
    GENARM_FUZZ_CHECK(static_cast<uint64_t>(t.numel()) == numel, "tensor ", t.name);
    GENARM_FUZZ_CHECK(t.bytes.size() == numel * genarm::dtype_size(t.dtype), "tensor ", t.name);
    GENARM_FUZZ_CHECK(t.bytes.data() == cursor, "tensor ", t.name, " does not follow the previous one");
    cursor += t.bytes.size();
    for (const std::byte b : t.bytes) checksum += static_cast<unsigned>(b);
  }
  GENARM_FUZZ_CHECK(cursor == file.data() + file.size(), "the tensors do not cover the data section");
  for (const auto& [key, value] : header.metadata) checksum += static_cast<unsigned>(key.size() + value.size());
  volatile unsigned sink = checksum;  // keep the reads
  (void)sink;
  return 0;
}
