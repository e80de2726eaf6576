#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>

#include "layers/checkpoint.h"
#include "layers/resnet.h"
#include "tests/helpers.h"

using namespace sg;
using sg::testing::TempDir;
namespace fs = std::filesystem;

namespace {
std::shared_ptr<ResNet> small(uint64_t seed) {
  ResNetOptions o;
  o.stem = Stem::Cifar;
  o.width = 4;
  o.num_classes = 5;
  o.seed = seed;
  return make_resnet("resnet18", o);
}

std::vector<char> bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}
}  // namespace

TEST_CASE("checkpoint.round_trip_is_bit_exact") {
  TempDir dir;
  auto a = small(1), b = small(2);
  save_module(*a, dir.file("m.safetensors"), {{"arch", "resnet18"}});
  auto meta = load_module(*b, dir.file("m.safetensors"));
  CHECK(meta.at("arch") == "resnet18");
  auto sa = a->state_dict(), sb = b->state_dict();
  for (size_t i = 0; i < sa.size(); ++i) {
    CHECK(sa[i].first == sb[i].first);
    CHECK(sa[i].second.to_vector() == sb[i].second.to_vector());
  }
  save_module(*b, dir.file("again.safetensors"), {{"arch", "resnet18"}});
  CHECK(bytes(dir.file("m.safetensors")) == bytes(dir.file("again.safetensors")));
}

TEST_CASE("checkpoint.mismatches_are_named_and_nothing_changes") {
  TempDir dir;
  auto a = small(1);
  ResNetOptions o;
  o.stem = Stem::Cifar;
  o.width = 4;
  o.num_classes = 7;  // fc shapes differ
  auto other = make_resnet("resnet18", o);
  save_module(*other, dir.file("other.safetensors"));
  auto before = a->state_dict()[0].second.to_vector();
  CHECK_THROWS_WITH_AS(load_module(*a, dir.file("other.safetensors")),
                       doctest::Contains("fc.weight: shape [7, 32] in file, [5, 32] expected"),
                       Error);
  CHECK(a->state_dict()[0].second.to_vector() == before);

  NamedTensors partial = a->state_dict();
  partial.pop_back();  // drop fc.bias
  save_safetensors(dir.file("partial.safetensors"), partial);
  CHECK_THROWS_WITH_AS(load_module(*a, dir.file("partial.safetensors")),
                       doctest::Contains("missing tensor: fc.bias"), Error);
}

TEST_CASE("checkpoint.truncated_and_corrupt_files") {
  TempDir dir;
  auto a = small(1);
  std::string good = dir.file("good.safetensors");
  save_module(*a, good);
  auto data = bytes(good);
  std::string cut = dir.file("cut.safetensors");
  std::ofstream(cut, std::ios::binary).write(data.data(), std::streamsize(data.size() - 100));
  CHECK_THROWS_WITH_AS(load_module(*a, cut), doctest::Contains("file truncated?"), Error);
  std::string junk = dir.file("junk.safetensors");
  const char header[] = "\x10\0\0\0\0\0\0\0{not json at all}";
  std::ofstream(junk, std::ios::binary).write(header, sizeof(header) - 1);
  CHECK_THROWS_WITH_AS(load_safetensors(junk), doctest::Contains("not valid JSON"), Error);
  CHECK_THROWS_WITH_AS(load_safetensors(dir.file("absent.safetensors")),
                       doctest::Contains("cannot open"), Error);
  // A save that cannot complete leaves the existing file as it was.
  CHECK_THROWS_AS(save_module(*a, (dir.path / "no_such_dir" / "x.safetensors").string()), Error);
  CHECK(bytes(good) == data);
}

namespace {
// A safetensors file holding `header` and `data_bytes` zero bytes of tensor data.
std::string with_header(const TempDir& dir, const std::string& name, const std::string& header,
                        size_t data_bytes) {
  std::string path = dir.file(name);
  std::ofstream out(path, std::ios::binary);
  uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) out.put(char(n >> (8 * i)));
  out << header << std::string(data_bytes, '\0');
  return path;
}
}  // namespace

TEST_CASE("checkpoint.malformed_headers_name_the_file_and_field") {
  TempDir dir;
  struct Case {
    const char* header;
    const char* says;
  };
  const Case cases[] = {
      {R"({"w":{"dtype":5,"shape":[2],"data_offsets":[0,8]}})", "'w'"},
      {R"({"w":{"dtype":"F32","shape":"2","data_offsets":[0,8]}})", "'w'"},
      {R"({"w":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", "'w'"},
      {R"({"w":{"dtype":"F32","shape":[2.5],"data_offsets":[0,8]}})", "'w'"},
      {R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[-8,0]}})", "'w'"},
      {R"({"w":{"dtype":"F32","shape":[2],"data_offsets":{"a":1}}})", "'w'"},
      {R"({"w":{"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,0]}})", "'w'"},
      {R"({"w":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,0]}})", "'w'"},
      {R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"__metadata__":[1,2]})",
       "__metadata__"},
      {R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"__metadata__":{"k":{"x":1}}})",
       ""},
      {R"([1,2,3])", "not a JSON object"},
      {R"({"w":7})", "'w'"},
  };
  int i = 0;
  for (const Case& c : cases) {
    std::string header = c.header;
    CAPTURE(header);
    std::string path = with_header(dir, "bad" + std::to_string(i++) + ".safetensors", c.header, 8);
    try {
      load_safetensors(path);
      CHECK(std::string(c.says).empty());  // only the nested-metadata file is valid
    } catch (const Error& e) {
      CHECK(std::string(e.what()).find(path) != std::string::npos);
      CHECK(std::string(e.what()).find(c.says) != std::string::npos);
    } catch (const std::exception& e) {
      std::string what = e.what();
      CAPTURE(what);
      CHECK_MESSAGE(false, "not an sg::Error");
    }
  }
}
