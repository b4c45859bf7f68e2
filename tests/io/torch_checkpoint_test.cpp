#include "genarm/io/torch_checkpoint.hpp"

#include <cstring>
#include <string>
#include <vector>

#include "genarm/core/half.hpp"
#include "genarm/io/checkpoint.hpp"
#include "io_test_helpers.hpp"
#include "torch_test_helpers.hpp"

namespace genarm::io {
namespace {

using genarm::testing::build_zip;
using genarm::testing::fixture_model;
using genarm::testing::fixtures_dir;
using genarm::testing::pk_dict;
using genarm::testing::pk_tensor;
using genarm::testing::read_file;
using genarm::testing::TempDir;
using genarm::testing::torch_archive;
using genarm::testing::write_file;
using genarm::testing::ZipBuildEntry;
using genarm::testing::ZipBuildOptions;

std::filesystem::path torch_fixture(const std::string& path) { return fixtures_dir() / "torch" / path; }

std::vector<float> torch_floats(const TensorView& t) {
  std::vector<float> out(static_cast<size_t>(t.numel()));
  for (size_t i = 0; i < out.size(); ++i) {
    if (t.dtype == DType::kF32) {
      std::memcpy(&out[i], t.bytes.data() + 4 * i, 4);
    } else {
      uint16_t h;
      std::memcpy(&h, t.bytes.data() + 2 * i, 2);
      out[i] = t.dtype == DType::kF16 ? f16_to_float(h) : bf16_to_float(h);
    }
  }
  return out;
}

bool in_mapping(const TensorView& t, const MappedFile& m) {
  return t.bytes.data() >= m.data() && t.bytes.data() + t.bytes.size() <= m.data() + m.size();
}

void expect_torch_refused(const std::filesystem::path& file, ErrorCategory category, const std::vector<std::string>& fragments) {
  try {
    (void)TorchCheckpointFile::open(file);
    ADD_FAILURE() << "accepted " << file;
  } catch (const Error& e) {
    EXPECT_EQ(e.category(), category) << e.what();
    EXPECT_EQ(std::string(e.what()).rfind(file.string() + ":", 0), 0u) << e.what();
    for (const auto& f : fragments) {
      EXPECT_NE(std::string(e.what()).find(f), std::string::npos) << "message '" << e.what() << "' lacks '" << f << "'";
    }
  }
}

// --- the .bin twins of the safetensors fixtures ---

class TorchTwin : public ::testing::TestWithParam<std::string> {};

// Every tensor of the safetensors file is in the .bin twin with the same dtype, shape and bytes;
// contiguous ones are viewed in the mapped file, the others copied.
TEST_P(TorchTwin, HoldsTheSafetensorsTensorsByteForByte) {
  const std::string name = GetParam();
  const auto st = Checkpoint::open(fixture_model(name));
  const auto bin = Checkpoint::open(torch_fixture("models/" + name));
  EXPECT_NE(bin.origin().find(".bin"), std::string::npos) << bin.origin();
  for (const std::string& n : st.names()) {
    const TensorView& a = st.require(n);
    const TensorView* b = bin.find(n);
    ASSERT_NE(b, nullptr) << name << ": " << n;
    EXPECT_EQ(b->dtype, a.dtype) << n;
    EXPECT_EQ(b->shape, a.shape) << n;
    ASSERT_EQ(b->bytes.size(), a.bytes.size()) << n;
    EXPECT_EQ(std::memcmp(b->bytes.data(), a.bytes.data(), a.bytes.size()), 0) << name << ": " << n;
    if (!b->bytes.empty()) {
      EXPECT_EQ(reinterpret_cast<uintptr_t>(b->bytes.data()) % dtype_size(b->dtype), 0u) << n;
    }
  }
  // Nothing but what the safetensors file has, and the buffers old GPT-2 files carry.
  for (const std::string& n : bin.names()) {
    if (st.find(n) == nullptr) {
      EXPECT_TRUE(n == "lm_head.weight" || n.ends_with(".attn.bias") || n.ends_with(".attn.masked_bias")) << n;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, TorchTwin,
                         ::testing::Values("llama-tiny", "llama-tiny-f16", "llama-tiny-bf16", "gpt2-tiny", "llama-rm-tiny",
                                           "llama-tiny-arm", "llama-tiny-arm2"),
                         [](const auto& info) {
                           std::string n = info.param;
                           std::replace(n.begin(), n.end(), '-', '_');
                           return n;
                         });

TEST(TorchCheckpoint, ContiguousTensorsAreViewedInTheMapping) {
  const auto f = TorchCheckpointFile::open(torch_fixture("models/llama-tiny/pytorch_model.bin"));
  ASSERT_NE(f.mapping(), nullptr);
  EXPECT_EQ(f.materialized_bytes(), 0u);
  EXPECT_EQ(f.tensors().size(), 21u);
  for (const TensorView& t : f.tensors()) {
    EXPECT_TRUE(in_mapping(t, *f.mapping())) << t.name;
    EXPECT_EQ(reinterpret_cast<uintptr_t>(t.bytes.data()) % 64, 0u) << t.name << " (torch.save aligns storages)";
    EXPECT_EQ(t.origin, f.origin());
  }
}

TEST(TorchCheckpoint, TiedWeightsAreTwoViewsOfOneStorage) {
  const auto f = TorchCheckpointFile::open(torch_fixture("models/gpt2-tiny/pytorch_model.bin"));
  const TensorView* wte = f.find("transformer.wte.weight");
  const TensorView* head = f.find("lm_head.weight");
  ASSERT_NE(wte, nullptr);
  ASSERT_NE(head, nullptr);
  EXPECT_EQ(head->bytes.data(), wte->bytes.data());
  EXPECT_EQ(head->bytes.size(), wte->bytes.size());
  // The buffers: a bool causal mask and a scalar.
  const TensorView* mask = f.find("transformer.h.0.attn.bias");
  ASSERT_NE(mask, nullptr);
  EXPECT_EQ(mask->dtype, DType::kBool);
  EXPECT_EQ(mask->shape, (std::vector<int64_t>{1, 1, 128, 128}));
  EXPECT_EQ(static_cast<uint8_t>(mask->bytes[1]), 0u);
  EXPECT_EQ(static_cast<uint8_t>(mask->bytes[128]), 1u);
  const TensorView* scalar = f.find("transformer.h.1.attn.masked_bias");
  ASSERT_NE(scalar, nullptr);
  EXPECT_TRUE(scalar->shape.empty());
  EXPECT_EQ(torch_floats(*scalar), std::vector<float>{-1e4f});
}

TEST(TorchCheckpoint, ViewsAreCopiedOnlyWhenNotContiguous) {
  const auto f = TorchCheckpointFile::open(torch_fixture("models/llama-tiny-arm2/pytorch_model.bin"));
  const std::string p = "model.layers.0.self_attn.";
  // Transposed and column-sliced: copied once, 64-byte aligned; 32x32 F32 each.
  for (const char* name : {"q_proj.weight", "o_proj.weight"}) {
    const TensorView* t = f.find(p + name);
    ASSERT_NE(t, nullptr);
    EXPECT_FALSE(in_mapping(*t, *f.mapping())) << name;
    EXPECT_EQ(reinterpret_cast<uintptr_t>(t->bytes.data()) % 64, 0u) << name;
  }
  EXPECT_EQ(f.materialized_bytes(), 2u * 32 * 32 * 4);
  // Two contiguous slices of one fused storage: the second right after the first.
  const TensorView* k = f.find(p + "k_proj.weight");
  const TensorView* v = f.find(p + "v_proj.weight");
  ASSERT_TRUE(k && v);
  EXPECT_TRUE(in_mapping(*k, *f.mapping()) && in_mapping(*v, *f.mapping()));
  EXPECT_EQ(v->bytes.data(), k->bytes.data() + k->bytes.size());
  // A row of a 2-D storage, at an offset.
  EXPECT_TRUE(in_mapping(*f.find("model.norm.weight"), *f.mapping()));
}

TEST(TorchCheckpoint, ReadsEveryTensorKindTorchSaveWrites) {
  for (const char* file : {"small/small.bin", "small/protocol4.bin"}) {
    SCOPED_TRACE(file);
    const auto f = TorchCheckpointFile::open(torch_fixture(file));
    ASSERT_EQ(f.tensors().size(), 10u);
    const auto floats = [&](const char* name) {
      const TensorView* t = f.find(name);
      EXPECT_NE(t, nullptr) << name;
      return t ? torch_floats(*t) : std::vector<float>{};
    };
    EXPECT_EQ(floats("a"), (std::vector<float>{-2.5f, -1.5f, -0.5f, 0.5f, 1.5f, 2.5f}));
    EXPECT_EQ(f.find("tied")->bytes.data(), f.find("a")->bytes.data());
    EXPECT_EQ(f.find("a_t")->shape, (std::vector<int64_t>{3, 2}));
    EXPECT_EQ(floats("a_t"), (std::vector<float>{-2.5f, 0.5f, -1.5f, 1.5f, -0.5f, 2.5f}));
    EXPECT_EQ(floats("half"), (std::vector<float>{1.0f, -2.0f, 65504.0f}));
    EXPECT_EQ(f.find("half")->dtype, DType::kF16);
    EXPECT_EQ(floats("bf16"), (std::vector<float>{1.0f, -2.0f, 3.140625f}));
    EXPECT_EQ(f.find("bf16")->dtype, DType::kBF16);
    EXPECT_EQ(floats("scalar"), std::vector<float>{0.5f});
    EXPECT_TRUE(f.find("empty")->bytes.empty());
    EXPECT_EQ(f.find("empty")->shape, (std::vector<int64_t>{0, 4}));
    EXPECT_EQ(floats("param"), (std::vector<float>{3.0f, 4.0f}));
    EXPECT_EQ(floats("slice"), (std::vector<float>{5.0f, 6.0f, 9.0f, 10.0f}));
    EXPECT_EQ(floats("expanded"), (std::vector<float>{1.0f, 2.0f, 1.0f, 2.0f, 1.0f, 2.0f}));
    // a_t, slice and expanded were copied, each to a 64-byte boundary.
    EXPECT_EQ(f.materialized_bytes(), 3u * 64);
  }
}

TEST(TorchCheckpoint, OtherDtypesOpenAndAreNamed) {
  const auto f = TorchCheckpointFile::open(torch_fixture("small/other-dtypes.bin"));
  EXPECT_EQ(f.find("f64")->dtype, DType::kF64);
  double d[2];
  std::memcpy(d, f.find("f64")->bytes.data(), sizeof d);
  EXPECT_EQ(d[0], 1.5);
  EXPECT_EQ(f.find("i64")->dtype, DType::kI64);
  EXPECT_EQ(f.find("mask")->dtype, DType::kBool);
  expect_torch_refused(torch_fixture("small/complex.bin"), ErrorCategory::kUnsupported,
                       {"complex/data.pkl: byte ", "storage '0' is torch.ComplexFloatStorage (complex64), a type genarm cannot read"});
}

TEST(TorchCheckpoint, Zip64ArchivesReadTheSame) {
  // small.bin's entries rewritten with ZIP64 end records and extra fields (as torch writes
  // files over 4 GiB).
  const std::string original = read_file(torch_fixture("small/small.bin"));
  const auto bytes = std::span(reinterpret_cast<const std::byte*>(original.data()), original.size());
  const ZipArchive zip = ZipArchive::parse(bytes, "small.bin");
  std::vector<ZipBuildEntry> entries;
  for (const ZipEntry& e : zip.entries()) {
    const auto d = zip.data(e);
    entries.push_back({e.name, std::string(reinterpret_cast<const char*>(d.data()), d.size()), 0, 8});
  }
  ZipBuildOptions zip64;
  zip64.zip64 = true;
  const std::string rebuilt = build_zip(entries, zip64).bytes;
  const auto a = TorchCheckpointFile::parse(bytes, "small.bin");
  const auto b = TorchCheckpointFile::parse(std::span(reinterpret_cast<const std::byte*>(rebuilt.data()), rebuilt.size()),
                                            "small64.bin");
  ASSERT_EQ(a.tensors().size(), b.tensors().size());
  for (size_t i = 0; i < a.tensors().size(); ++i) {
    EXPECT_EQ(a.tensors()[i].name, b.tensors()[i].name);
    EXPECT_EQ(torch_floats(a.tensors()[i]), torch_floats(b.tensors()[i])) << a.tensors()[i].name;
  }
}

TEST(TorchCheckpoint, CrcsAreCheckedOnRequest) {
  TempDir dir("torch");
  std::string bytes = read_file(torch_fixture("small/one.bin"));
  TorchCheckpointOptions verify;
  verify.zip.verify_crc = true;
  write_file(dir / "one.bin", bytes);
  EXPECT_NO_THROW(TorchCheckpointFile::open(dir / "one.bin", verify));
  const auto f = TorchCheckpointFile::open(dir / "one.bin");
  const size_t at = static_cast<size_t>(f.find("w")->bytes.data() - f.mapping()->data());
  bytes[at] ^= 0x40;
  write_file(dir / "one.bin", bytes);
  EXPECT_NO_THROW(TorchCheckpointFile::open(dir / "one.bin"));
  GENARM_EXPECT_ERROR(TorchCheckpointFile::open(dir / "one.bin", verify), ErrorCategory::kFormat,
                      (dir / "one.bin").string() + ": zip entry 'one/data/0' fails its CRC-32 check");
}

// --- hostile and broken files ---

TEST(TorchCheckpoint, CodeInThePickleIsNeverRun) {
  const auto hostile = [](const char* f) { return torch_fixture(std::string("hostile/") + f); };
  // torch.save pickled these itself, from objects whose __reduce__ runs a command.
  expect_torch_refused(hostile("posix-system.bin"), ErrorCategory::kUnsupported,
                       {"posix-system/data.pkl: byte ", ": global 'posix.system' is not allowed",
                        "nothing in a checkpoint is ever imported or run"});
  expect_torch_refused(hostile("builtins-eval.bin"), ErrorCategory::kUnsupported, {": global '__builtin__.eval' is not allowed"});
  expect_torch_refused(hostile("os-system.bin"), ErrorCategory::kUnsupported,
                       {"os-system.bin:archive/data.pkl: byte 2: global 'os.system' is not allowed"});
  expect_torch_refused(hostile("stack-global-exec.bin"), ErrorCategory::kUnsupported,
                       {"archive/data.pkl: byte 29: global 'builtins.exec' is not allowed"});
  expect_torch_refused(hostile("opcode-inst.bin"), ErrorCategory::kUnsupported,
                       {"archive/data.pkl: byte 3: pickle opcode INST (0x69) is not supported"});
  expect_torch_refused(hostile("opcode-unknown.bin"), ErrorCategory::kFormat, {"archive/data.pkl: byte 3: unknown pickle opcode 0xff"});
  expect_torch_refused(hostile("deep-marks.bin"), ErrorCategory::kFormat, {"byte 258: more than 256 nested MARKs"});
  expect_torch_refused(hostile("deep-tuples.bin"), ErrorCategory::kFormat, {"byte 66: values nested deeper than 64 levels"});
}

TEST(TorchCheckpoint, BrokenArchivesAreNamed) {
  const auto hostile = [](const char* f) { return torch_fixture(std::string("hostile/") + f); };
  expect_torch_refused(hostile("missing-storage.bin"), ErrorCategory::kFormat,
                       {"tensor 'w': its storage '0' is not in the archive (no entry 'good/data/0')"});
  expect_torch_refused(hostile("storage-key-not-in-zip.bin"), ErrorCategory::kFormat,
                       {"tensor 'w': its storage '../../etc/passwd' is not in the archive"});
  expect_torch_refused(hostile("short-storage.bin"), ErrorCategory::kFormat,
                       {"tensor 'w': storage '0' declares 4 F32 elements (4 x 4 bytes) but entry 'good/data/0' holds 12 bytes"});
  expect_torch_refused(hostile("view-out-of-bounds.bin"), ErrorCategory::kFormat,
                       {"tensor 'w': its view (offset 2, shape [2, 2], stride [2, 1]) reaches element 5 of storage '0', which has 4 elements"});
  expect_torch_refused(hostile("truncated.bin"), ErrorCategory::kFormat,
                       {"no zip end-of-central-directory record (not a zip archive, or a truncated one)"});
  expect_torch_refused(hostile("compressed.bin"), ErrorCategory::kUnsupported,
                       {"zip entry 'good/data/0' is compressed (method 8, deflate)"});
  expect_torch_refused(hostile("compressed-pickle.bin"), ErrorCategory::kUnsupported,
                       {"zip entry 'good/data.pkl' is compressed (method 8, deflate)"});
  expect_torch_refused(hostile("legacy.bin"), ErrorCategory::kUnsupported,
                       {"the legacy torch.save format", "re-save with torch>=1.6", "or convert to safetensors"});
}

TEST(TorchCheckpoint, ViewsAndArchivesAreValidated) {
  TempDir dir("torch");
  const auto refused = [&](const std::string& bytes, ErrorCategory category, const std::vector<std::string>& fragments) {
    write_file(dir / "t.bin", bytes);
    expect_torch_refused(dir / "t.bin", category, fragments);
  };
  const std::map<std::string, std::string> four = {{"0", std::string(16, '\x01')}};
  refused(torch_archive(pk_dict({{"w", pk_tensor("0", 4, 5, {0}, {1})}}), four), ErrorCategory::kFormat,
          {"tensor 'w': storage offset 5 is past the end of storage '0' (4 elements)"});
  refused(torch_archive(pk_dict({{"w", pk_tensor("0", 4, 0, {2, 2}, {1, int64_t{1} << 62})}}), four), ErrorCategory::kFormat,
          {"reaches beyond element 2^62 of storage '0'"});
  refused(torch_archive(pk_dict({{"w", pk_tensor("0", 4, 0, {int64_t{1} << 41}, {0})}}), four), ErrorCategory::kFormat,
          {"tensor 'w': shape [2199023255552] is too large"});
  refused(torch_archive(pk_dict({{"w", pk_tensor("0", 4, 0, {1, 1, 1, 1, 1, 1, 1, 1, 1}, {1, 1, 1, 1, 1, 1, 1, 1, 1})}}), four),
          ErrorCategory::kFormat, {"tensor 'w': shape has 9 dimensions (at most 8)"});
  // A broadcast view that would copy far more than the file holds.
  refused(torch_archive(pk_dict({{"w", pk_tensor("0", 4, 0, {1 << 20, 1 << 10}, {0, 0})}}), four), ErrorCategory::kUnsupported,
          {"tensor 'w': its non-contiguous view (shape [1048576, 1024], stride [0, 0]) needs 4294967296 bytes once copied, "
           "more than the file holds"});
  // Not a zip, or a zip without data.pkl.
  refused("{\"not\": \"a zip\"}", ErrorCategory::kFormat, {"not a torch.save checkpoint (no zip signature PK\\x03\\x04 at its start)"});
  refused("\x80\x02}.", ErrorCategory::kUnsupported, {"a bare pickle, not a torch.save zip archive"});
  refused(build_zip({{"archive/other.pkl", "x", 0, 0}}).bytes, ErrorCategory::kFormat,
          {"no archive/data.pkl in the archive (not a torch.save checkpoint)"});
  refused(build_zip({{"data.pkl", "x", 0, 0}}).bytes, ErrorCategory::kFormat,
          {"zip entry 'data.pkl' is not inside an archive folder"});
  refused(build_zip({}).bytes, ErrorCategory::kFormat, {"an empty zip archive, not a torch.save checkpoint"});
  refused(build_zip({{"archive/data.pkl", pk_dict({}), 0, 0}, {"archive/byteorder", "big", 0, 0}}).bytes,
          ErrorCategory::kUnsupported, {"the storages are big-endian (archive/byteorder)"});
  // The archive folder is whatever the first entry's is (torch names it after the file).
  write_file(dir / "t.bin", build_zip({{"weights/data.pkl", pk_dict({{"w", pk_tensor("0", 4, 0, {4}, {1})}}), 0, 0},
                                       {"weights/byteorder", "little", 0, 0},
                                       {"weights/data/0", std::string(16, '\0'), 0, 0}})
                                .bytes);
  EXPECT_EQ(TorchCheckpointFile::open(dir / "t.bin").tensors().size(), 1u);
}

// --- through Checkpoint ---

TEST(TorchCheckpoint, CheckpointOpensBinFilesAndFolders) {
  // A single file by path, whatever its name (sniffed), and a folder with pytorch_model.bin.
  const auto file = torch_fixture("models/llama-tiny/pytorch_model.bin");
  EXPECT_EQ(Checkpoint::open(file).origin(), file.string());
  EXPECT_EQ(Checkpoint::open_file(file).size(), 21u);
  TempDir dir("torchckpt");
  std::filesystem::copy_file(file, dir / "weights");
  EXPECT_EQ(Checkpoint::open_file(dir / "weights").size(), 21u);
  EXPECT_EQ(Checkpoint::open(torch_fixture("models/llama-tiny")).origin(), file.string());
  // Sharded: origin is the index.
  const auto sharded = Checkpoint::open(torch_fixture("models/llama-tiny-arm"));
  EXPECT_EQ(sharded.origin(), torch_fixture("models/llama-tiny-arm/pytorch_model.bin.index.json").string());
  EXPECT_EQ(sharded.mappings().size(), 2u);
  // PEFT adapters: adapter_model.bin when there is no adapter_model.safetensors.
  std::filesystem::copy_file(torch_fixture("small/one.bin"), dir / "adapter_model.bin");
  EXPECT_NE(Checkpoint::open(dir.path(), kAdapterFiles).find("w"), nullptr);
}

TEST(TorchCheckpoint, SafetensorsArePreferredOverBin) {
  TempDir dir("both");
  std::filesystem::copy_file(fixture_model("llama-tiny-arm2") / "model.safetensors", dir / "model.safetensors");
  write_file(dir / "pytorch_model.bin", "never read");
  write_file(dir / "pytorch_model.bin.index.json", "never read");
  EXPECT_EQ(Checkpoint::open(dir.path()).origin(), (dir / "model.safetensors").string());
  std::filesystem::remove(dir / "model.safetensors");
  write_file(dir / "model.safetensors.index.json", "{}");
  GENARM_EXPECT_ERROR(Checkpoint::open(dir.path()), ErrorCategory::kFormat,
                      (dir / "model.safetensors.index.json").string() + ": weight_map: missing required key");
  std::filesystem::remove(dir / "model.safetensors.index.json");
  GENARM_EXPECT_ERROR(Checkpoint::open(dir.path()), ErrorCategory::kFormat,
                      (dir / "pytorch_model.bin").string() + ": not a torch.save checkpoint");
  std::filesystem::remove(dir / "pytorch_model.bin");
  GENARM_EXPECT_ERROR(Checkpoint::open(dir.path()), ErrorCategory::kFormat,
                      (dir / "pytorch_model.bin.index.json").string() + ": not valid JSON");
}

TEST(TorchCheckpoint, ShardIndexesAreCheckedLikeSafetensorsOnes) {
  TempDir dir("torchshards");
  for (const auto& e : std::filesystem::directory_iterator(torch_fixture("models/llama-tiny-arm"))) {
    std::filesystem::copy_file(e.path(), dir / e.path().filename());
  }
  const std::string index = (dir / "pytorch_model.bin.index.json").string();
  std::filesystem::remove(dir / "pytorch_model-00002-of-00002.bin");
  GENARM_EXPECT_ERROR(Checkpoint::open(dir.path()), ErrorCategory::kIo, (dir / "pytorch_model-00002-of-00002.bin").string(),
                      "cannot open");
  std::filesystem::copy_file(torch_fixture("models/llama-tiny-arm/pytorch_model-00001-of-00002.bin"),
                             dir / "pytorch_model-00002-of-00002.bin");
  GENARM_EXPECT_ERROR(Checkpoint::open(dir.path()), ErrorCategory::kFormat,
                      (dir / "pytorch_model-00002-of-00002.bin").string() + ": tensor '", "' also appears in " +
                      (dir / "pytorch_model-00001-of-00002.bin").string());
}

TEST(TorchCheckpoint, MappingsKeepCopiedViewsAlive) {
  std::vector<std::shared_ptr<const MappedFile>> keep;
  std::span<const std::byte> q;
  std::vector<std::byte> expected;
  {
    const auto ckpt = Checkpoint::open(torch_fixture("models/llama-tiny-arm2"));
    q = ckpt.require("model.layers.0.self_attn.q_proj.weight").bytes;
    expected.assign(q.begin(), q.end());
    keep = ckpt.mappings();
    ASSERT_EQ(keep.size(), 1u);
    EXPECT_EQ(keep[0]->path(), torch_fixture("models/llama-tiny-arm2/pytorch_model.bin"));
  }
  // The Checkpoint is gone; the copy of the transposed view lives on with the mapping pointer.
  EXPECT_TRUE(std::equal(q.begin(), q.end(), expected.begin()));
}

}  // namespace
}  // namespace genarm::io
