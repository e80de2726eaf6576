#include "engine/safetensors.h"

#include <cstdio>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "engine/atomic_file.h"
#include "engine/ops.h"

namespace sg {

namespace {

using json = nlohmann::json;

const std::map<DType, std::string>& dtype_names() {
  static const std::map<DType, std::string> names{{DType::Float32, "F32"},
                                                  {DType::Float64, "F64"},
                                                  {DType::Int64, "I64"},
                                                  {DType::BFloat16, "BF16"},
                                                  {DType::Float16, "F16"}};
  return names;
}

// Header fields, read strictly: a wrong JSON type is an error naming the file, tensor and field,
// never nlohmann's bare type_error or a silent conversion (2.5 -> 2, -8 -> 2^64 - 8).
struct EntryReader {
  const std::string& path;
  const std::string& name;
  const json& entry;

  const json& field(const char* key) const {
    SG_CHECK(entry.is_object() && entry.contains(key), path, ": tensor '", name, "' lacks '", key,
             "' (expected {dtype, shape, data_offsets})");
    return entry[key];
  }
  std::vector<uint64_t> unsigned_list(const char* key) const {
    const json& v = field(key);
    SG_CHECK(v.is_array(), path, ": tensor '", name, "': '", key, "' is ", v.dump(),
             ", expected a list of non-negative integers");
    std::vector<uint64_t> out;
    for (const json& x : v) {
      SG_CHECK(x.is_number_unsigned(), path, ": tensor '", name, "': '", key, "' is ", v.dump(),
               ", expected a list of non-negative integers");
      out.push_back(x.get<uint64_t>());
    }
    return out;
  }
  DType dtype() const {
    const json& v = field("dtype");
    for (const auto& [d, n] : dtype_names())
      if (v.is_string() && v.get<std::string>() == n) return d;
    SG_CHECK(false, path, ": tensor '", name, "' has unsupported dtype ", v.dump(),
             " (expected F32, F64, I64, BF16 or F16)");
  }
  // The shape and its size in bytes, refusing shapes whose byte count overflows 64 bits.
  std::pair<Shape, uint64_t> shape_and_bytes(DType dtype) const {
    Shape shape;
    uint64_t bytes = element_size(dtype);
    for (uint64_t s : unsigned_list("shape")) {
      SG_CHECK(s <= uint64_t(INT64_MAX) && !__builtin_mul_overflow(bytes, s, &bytes), path,
               ": tensor '", name, "' has shape ", field("shape").dump(), ", too large to address");
      shape.push_back(int64_t(s));
    }
    return {shape, bytes};
  }
};

}  // namespace

void save_safetensors(const std::string& path, const NamedTensors& tensors,
                      const std::map<std::string, std::string>& metadata) {
  json header = json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::vector<Tensor> data;
  std::set<std::string> names;
  size_t offset = 0;
  for (const auto& [name, t] : tensors) {
    SG_CHECK(names.insert(name).second, "save_safetensors: duplicate tensor name '", name, "'");
    Tensor c = engine::contiguous(engine::to_strided(engine::to(t, Device::cpu())));
    size_t bytes = size_t(c.numel()) * element_size(c.dtype());
    header[name] = {{"dtype", dtype_names().at(c.dtype())},
                    {"shape", c.shape()},
                    {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
    data.push_back(c);
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');  // keeps the data 8-byte aligned
  uint64_t n = text.size();

  write_file_atomically(path, [&](std::FILE* f) {
    unsigned char len[8];
    for (int i = 0; i < 8; ++i) len[i] = static_cast<unsigned char>(n >> (8 * i));
    bool ok = std::fwrite(len, 1, 8, f) == 8 &&
              std::fwrite(text.data(), 1, text.size(), f) == text.size();
    for (const Tensor& c : data) {
      size_t bytes = size_t(c.numel()) * element_size(c.dtype());
      ok = ok && std::fwrite(c.raw_data(), 1, bytes, f) == bytes;
    }
    return ok;
  });
}

SafetensorsContents load_safetensors(const std::string& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  SG_CHECK(in.good(), "cannot open '", path, "': ", std::strerror(errno));
  uint64_t file_size = uint64_t(in.tellg());
  in.seekg(0);
  SG_CHECK(file_size >= 8, path, ": file is ", file_size,
           " bytes, too short for a safetensors header");
  unsigned char len[8];
  in.read(reinterpret_cast<char*>(len), 8);
  uint64_t n = 0;
  for (int i = 0; i < 8; ++i) n |= uint64_t(len[i]) << (8 * i);
  SG_CHECK(n <= file_size - 8, path, ": header claims ", n, " bytes but the file has only ",
           file_size - 8, " after the length field (truncated or not a safetensors file)");
  std::string text(n, '\0');
  in.read(text.data(), std::streamsize(n));
  json header;
  try {
    header = json::parse(text);
  } catch (const json::exception& e) {
    SG_CHECK(false, path, ": header is not valid JSON: ", e.what());
  }
  SG_CHECK(header.is_object(), path, ": header is not a JSON object");
  uint64_t data_start = 8 + n, data_size = file_size - data_start;

  SafetensorsContents out;
  std::vector<std::tuple<uint64_t, uint64_t, std::string>> spans;
  for (auto& [name, entry] : header.items()) {
    if (name == "__metadata__") {
      SG_CHECK(entry.is_object(), path, ": __metadata__ is ", entry.dump(),
               ", expected an object of strings");
      for (auto& [k, v] : entry.items())
        out.metadata[k] = v.is_string() ? v.get<std::string>() : v.dump();
      continue;
    }
    EntryReader read{path, name, entry};
    DType dtype = read.dtype();
    auto [shape, expected] = read.shape_and_bytes(dtype);
    auto offsets = read.unsigned_list("data_offsets");
    SG_CHECK(offsets.size() == 2 && offsets[0] <= offsets[1], path, ": tensor '", name,
             "' has data_offsets ", entry["data_offsets"].dump(), ", expected [begin, end]");
    SG_CHECK(offsets[1] - offsets[0] == expected, path, ": tensor '", name, "' of shape ",
             shape_str(shape), " ", dtype_name(dtype), " needs ", expected,
             " bytes but its data_offsets span ", offsets[1] - offsets[0]);
    SG_CHECK(offsets[1] <= data_size, path, ": tensor '", name, "' ends at byte ", offsets[1],
             " of the data section, which has only ", data_size, " bytes (file truncated?)");
    spans.emplace_back(offsets[0], offsets[1], name);
    Tensor t = Tensor::empty(shape, dtype);
    in.seekg(std::streamoff(data_start + offsets[0]));
    in.read(static_cast<char*>(t.raw_data()), std::streamsize(expected));
    SG_CHECK(in.good(), path, ": could not read tensor '", name, "'");
    out.tensors.emplace_back(name, t);
  }
  std::sort(spans.begin(), spans.end());
  for (size_t i = 1; i < spans.size(); ++i)
    SG_CHECK(std::get<0>(spans[i]) >= std::get<1>(spans[i - 1]), path, ": tensors '",
             std::get<2>(spans[i - 1]), "' and '", std::get<2>(spans[i]), "' overlap");
  // Sorting by offset gives file order, which is the order they were saved in.
  NamedTensors ordered;
  for (const auto& [b, e, name] : spans)
    for (const auto& nt : out.tensors)
      if (nt.first == name) ordered.push_back(nt);
  out.tensors = std::move(ordered);
  return out;
}

}  // namespace sg
