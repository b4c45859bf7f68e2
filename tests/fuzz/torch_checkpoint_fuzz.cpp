// Fuzzes genarm::io::TorchCheckpointFile::parse on whole `.bin` files (a torch.save zip archive:
// data.pkl, storages, version). Bad bytes must end in a genarm::Error, and nothing in the pickle
// may run. A file that is accepted must give tensors of exactly numel x dtype size bytes, each
// either inside the input or in the file's own copies, whose every element is the element of its
// storage that the pickle's strided view names (checked against a naive re-indexing).
// Mutations: half are libFuzzer's on the whole file; the other half unpack the archive, mutate
// data.pkl (or one storage) with libFuzzer's mutator and write the archive again, so that most
// mutants get past the zip layer and exercise the pickle interpreter and the view checks.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <random>
#include <set>
#include <span>
#include <string>
#include <vector>

#include "../io/zip_test_helpers.hpp"
#include "fuzz_support.hpp"
#include "genarm/io/pickle.hpp"
#include "genarm/io/torch_checkpoint.hpp"
#include "genarm/io/zip_archive.hpp"

extern "C" size_t LLVMFuzzerMutate(uint8_t* data, size_t size, size_t max_size);

namespace {

std::span<const std::byte> as_bytes(const uint8_t* data, size_t size) {
  return {reinterpret_cast<const std::byte*>(data), size};
}

// Re-zips `data` with entry `target` mutated; 0 if it is not a readable archive.
size_t mutate_entry(uint8_t* data, size_t size, size_t max_size, unsigned seed) {
  std::vector<genarm::testing::ZipBuildEntry> entries;
  try {
    const auto zip = genarm::io::ZipArchive::parse(as_bytes(data, size), "fuzz.bin");
    for (const genarm::io::ZipEntry& e : zip.entries()) {
      const auto d = zip.data(e);
      entries.push_back({e.name, std::string(reinterpret_cast<const char*>(d.data()), d.size()), 0, 8});
    }
  } catch (const genarm::Error&) {
    return 0;
  }
  if (entries.empty()) return 0;
  std::minstd_rand rng(seed);
  // Mostly data.pkl (the first entry torch writes), sometimes any entry.
  size_t target = 0;
  for (size_t i = 0; i < entries.size(); ++i) {
    if (entries[i].name.ends_with("/data.pkl")) target = i;
  }
  if (rng() % 4 == 0) target = rng() % entries.size();
  std::string& bytes = entries[target].data;
  const size_t old_size = bytes.size();
  bytes.resize(std::max(old_size, std::min<size_t>(max_size, old_size * 2 + 64)));
  bytes.resize(LLVMFuzzerMutate(reinterpret_cast<uint8_t*>(bytes.data()), old_size, bytes.size()));
  genarm::testing::ZipBuildOptions options;
  options.zip64 = rng() % 8 == 0;
  const std::string out = genarm::testing::build_zip(entries, options).bytes;
  if (out.size() > max_size) return 0;
  std::memcpy(data, out.data(), out.size());
  return out.size();
}

}  // namespace

extern "C" size_t LLVMFuzzerCustomMutator(uint8_t* data, size_t size, size_t max_size, unsigned int seed) {
  if (seed % 2 == 0) {
    if (const size_t n = mutate_entry(data, size, max_size, seed)) return n;
  }
  return LLVMFuzzerMutate(data, size, max_size);
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // A copy of exactly `size` bytes, so that ASan flags a read one past the end.
  const std::vector<std::byte> file(reinterpret_cast<const std::byte*>(data), reinterpret_cast<const std::byte*>(data) + size);
  std::optional<genarm::io::TorchCheckpointFile> ckpt;
  const bool ok = genarm::fuzz::accepts("TorchCheckpointFile::parse", [&] {
    ckpt.emplace(genarm::io::TorchCheckpointFile::parse(std::span<const std::byte>(file), "fuzz.bin"));
  });
  if (!ok) return 0;

  // It opened: the archive and the pickle are valid, so read them again for the oracle.
  const auto zip = genarm::io::ZipArchive::parse(std::span<const std::byte>(file), "fuzz.bin");
  const std::string& first = zip.entries().front().name;
  const std::string prefix = first.substr(0, first.find('/') + 1);
  const auto records = genarm::io::read_torch_state_dict(zip.data(prefix + "data.pkl"), "fuzz.bin:data.pkl");
  GENARM_FUZZ_CHECK(records.size() == ckpt->tensors().size());
  std::set<const std::byte*> copies;  // distinct copied views (tied names share one)
  size_t outside = 0;
  unsigned checksum = 0;
  for (size_t i = 0; i < records.size(); ++i) {
    const genarm::io::TorchTensorRecord& r = records[i];
    const genarm::io::TensorView& t = ckpt->tensors()[i];
    GENARM_FUZZ_CHECK(t.name == r.name && t.dtype == r.dtype && t.shape == r.shape, "tensor ", r.name);
    GENARM_FUZZ_CHECK(ckpt->find(t.name) == &t, "tensor ", r.name);
    const size_t element = genarm::dtype_size(t.dtype);
    GENARM_FUZZ_CHECK(t.bytes.size() == static_cast<size_t>(t.numel()) * element, "tensor ", r.name);
    const bool inside = t.bytes.empty() || (t.bytes.data() >= file.data() && t.bytes.data() + t.bytes.size() <= file.data() + file.size());
    if (!inside && copies.insert(t.bytes.data()).second) outside += t.bytes.size();
    for (const std::byte b : t.bytes) checksum += static_cast<unsigned>(b);
    // Element k (row-major) is storage element offset + sum(index_d * stride_d).
    const auto storage = zip.data(prefix + "data/" + r.storage_key);
    std::vector<int64_t> index(r.shape.size(), 0);
    for (int64_t k = 0; k < t.numel(); ++k) {
      int64_t at = r.storage_offset;
      for (size_t d = 0; d < index.size(); ++d) at += index[d] * r.stride[d];
      GENARM_FUZZ_CHECK(static_cast<uint64_t>(at) < r.storage_numel, "tensor ", r.name, " element ", k);
      GENARM_FUZZ_CHECK(std::memcmp(t.bytes.data() + static_cast<size_t>(k) * element,
                                    storage.data() + static_cast<size_t>(at) * element, element) == 0,
                        "tensor ", r.name, " element ", k, " differs from storage element ", at);
      for (size_t d = index.size(); d-- > 0;) {
        if (++index[d] < r.shape[d]) break;
        index[d] = 0;
      }
    }
  }
  GENARM_FUZZ_CHECK(outside <= ckpt->materialized_bytes(), "tensors outside the input: ", outside, " bytes, copies: ",
                    ckpt->materialized_bytes());
  GENARM_FUZZ_CHECK(ckpt->materialized_bytes() <= file.size() + 64 * records.size());
  volatile unsigned sink = checksum;  // keep the reads
  (void)sink;
  return 0;
}
