#include "engine/onednn/context.h"

#include "engine/bfloat16.h"
#include "engine/onednn/kernel_choice.h"
#include "engine/ops.h"
#include "engine/parallel.h"

#include <memory>
#include <mutex>
#include <sstream>

namespace sg::onednn {

using dnnl::memory;

dnnl::engine& cpu_engine() {
  static dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  return engine;
}

dnnl::stream& cpu_stream() {
  static dnnl::stream stream(cpu_engine());
  return stream;
}

memory::data_type data_type(DType dtype) {
  switch (dtype) {
    case DType::Float32:
      return memory::data_type::f32;
    case DType::BFloat16:
      return memory::data_type::bf16;
    case DType::Float16:
      return memory::data_type::f16;
    default:
      SG_CHECK(false, "oneDNN has no ", dtype_name(dtype), " kernels");
  }
}

memory::dims dims(const Shape& shape) { return memory::dims(shape.begin(), shape.end()); }

std::string desc_key(const memory::desc& d) {
  std::ostringstream key;
  const auto& data = d.data;
  key << int(data.data_type) << ":" << int(data.format_kind) << ":";
  for (int i = 0; i < data.ndims; ++i) key << data.dims[i] << (i + 1 < data.ndims ? "x" : "");
  if (data.format_kind == dnnl_blocked) {
    const auto& b = data.format_desc.blocking;
    key << ":s";
    for (int i = 0; i < data.ndims; ++i) key << b.strides[i] << ",";
    for (int i = 0; i < b.inner_nblks; ++i) key << "b" << b.inner_idxs[i] << "/" << b.inner_blks[i];
  }
  key << ":o" << data.offset0;
  return key.str();
}

std::string BlockedLayout::name() const {
  const auto& b = desc_.data.format_desc.blocking;
  std::ostringstream s;
  s << "oneDNN blocked(";
  for (int i = 0; i < b.inner_nblks; ++i)
    s << (i ? "," : "") << b.inner_blks[i] << "@dim" << b.inner_idxs[i];
  s << ")";
  return s.str();
}

bool BlockedLayout::same_as(const OpaqueLayout& other) const {
  auto* o = dynamic_cast<const BlockedLayout*>(&other);
  return o != nullptr && o->desc_ == desc_;
}

memory::desc desc_of(const Tensor& t) {
  if (!t.is_strided()) {
    auto* blocked = dynamic_cast<const BlockedLayout*>(t.layout().get());
    SG_CHECK(blocked != nullptr, "oneDNN cannot read the layout ", t.layout()->name());
    return blocked->desc();
  }
  if (t.dim() == 0) return memory::desc({1}, data_type(t.dtype()), memory::dims{1});
  return memory::desc(dims(t.shape()), data_type(t.dtype()), dims(t.strides()));
}

memory memory_of(const Tensor& t) { return memory_of(t, desc_of(t)); }

memory memory_of(const Tensor& t, const memory::desc& desc) {
  return memory(desc, cpu_engine(), t.raw_data());
}

Tensor empty_like_desc(const memory::desc& desc, const Shape& shape, DType dtype) {
  memory::desc dense(dims(shape), data_type(dtype), dims(contiguous_strides(shape)));
  if (shape.empty() || desc == dense) return Tensor::empty(shape, dtype);
  return Tensor::empty_opaque(shape, dtype, Device::cpu(), std::make_shared<BlockedLayout>(desc));
}

Tensor empty_same_layout(const Tensor& like) {
  if (like.is_strided()) return Tensor::empty(like.shape(), like.dtype());
  return Tensor::empty_opaque(like.shape(), like.dtype(), Device::cpu(), like.layout());
}

void reorder(const memory& src, const memory& dst) {
  std::string key = "reorder|" + desc_key(src.get_desc()) + "|" + desc_key(dst.get_desc());
  const auto& p = cached_primitive(key, [&] {
    dnnl::reorder::primitive_desc pd(cpu_engine(), src.get_desc(), cpu_engine(), dst.get_desc(),
                                     default_attr());
    return CachedPrimitive{pd, dnnl::reorder(pd)};
  });
  execute(p, {{DNNL_ARG_FROM, src}, {DNNL_ARG_TO, dst}});
}

DType dtype_of(const memory::desc& desc) {
  switch (desc.data_type()) {
    case memory::data_type::f32:
      return DType::Float32;
    case memory::data_type::bf16:
      return DType::BFloat16;
    case memory::data_type::f16:
      return DType::Float16;
    default:
      SG_CHECK(false, "unexpected oneDNN data type ", int(desc.data_type()));
  }
}

bool emulate_bf16(const Tensor& t) {
  return t.defined() && t.dtype() == DType::BFloat16 && !kernel_choice().bf16_native;
}

bool bf16_conv_via_fp32(const Tensor& t) {
  return t.defined() && t.dtype() == DType::BFloat16 && kernel_choice().bf16_conv_via_fp32;
}

namespace {
// The two conversion loops, cloned per ISA (GCC picks the clone when the library loads). At
// the baseline x86-64 ISA (SSE2) the rounding loop cannot vectorise its NaN test and runs at a
// quarter of memory speed: 4.5 ms per 4 M floats on one core against 1.3 with AVX2 and 1.0 with
// AVX-512 (Intel Xeon model 167), and where bf16 convolutions run as fp32 kernels on rounded
// operands these loops are a fifth of the training step.
[[gnu::target_clones("avx512f", "avx2", "default")]] void round_to_bf16(const float* src,
                                                                        bfloat16* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] = bfloat16(src[i]);
}

[[gnu::target_clones("avx512f", "avx2", "default")]] void widen_bf16(const uint16_t* src,
                                                                     uint32_t* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] = uint32_t(src[i]) << 16;
}
}  // namespace

// float32 <-> bf16 over a flat buffer (both in the same layout, element for element, padding
// included): oneDNN 2.6's reorder does this conversion with a scalar loop below AVX-512 (3 s of
// a 3.1 s emulated bf16 step at width 16), these loops vectorise.
bool convert_flat(const Tensor& from, const Tensor& to, size_t n) {
  if (n == 0) return from.dtype() != to.dtype();
  if (from.dtype() == DType::Float32 && to.dtype() == DType::BFloat16) {
    const float* src = static_cast<const float*>(from.raw_data());
    bfloat16* dst = static_cast<bfloat16*>(to.raw_data());
    parallel_for(int64_t(n), [&](int64_t b, int64_t e) { round_to_bf16(src + b, dst + b, e - b); });
    return true;
  }
  if (from.dtype() == DType::BFloat16 && to.dtype() == DType::Float32) {
    const uint16_t* src = static_cast<const uint16_t*>(from.raw_data());
    uint32_t* dst = static_cast<uint32_t*>(to.raw_data());
    parallel_for(int64_t(n), [&](int64_t b, int64_t e) { widen_bf16(src + b, dst + b, e - b); });
    return true;
  }
  return false;
}

Tensor converted(const Tensor& t, DType dtype) {
  if (t.dtype() == dtype) return t;
  // The same layout with the other dtype: plain contiguous for strided tensors, else t's blocks.
  memory::desc d = t.is_strided() ? memory::desc(dims(t.shape()), data_type(dtype),
                                                 dims(contiguous_strides(t.shape())))
                                  : desc_of(t);
  d.data.data_type = dnnl_data_type_t(data_type(dtype));
  Tensor out = empty_like_desc(d, t.shape(), dtype);
  // Element for element when t's bytes are one flat array (contiguous, or blocked: padding
  // included); otherwise, and for other dtype pairs, oneDNN's reorder.
  if (t.is_contiguous() && convert_flat(t, out, size_t(t.numel()))) return out;
  if (!t.is_strided() && convert_flat(t, out, t.layout()->nbytes() / element_size(t.dtype())))
    return out;
  reorder(memory_of(t), memory_of(out, d));
  return out;
}

memory::desc nhwc_bf16(const Shape& shape) {
  return memory::desc(dims(shape), memory::data_type::bf16, memory::format_tag::nhwc);
}

memory::desc nchw16c_bf16(const Shape& shape) {
  return memory::desc(dims(shape), memory::data_type::bf16, memory::format_tag::nChw16c);
}

char* ScratchBuffer::get(size_t bytes) {
  if (bytes_.size() < bytes + 64) bytes_.resize(bytes + 64);
  return reinterpret_cast<char*>((reinterpret_cast<uintptr_t>(bytes_.data()) + 63) &
                                 ~uintptr_t(63));
}

Tensor float32_contiguous(const Tensor& w) {
  return engine::contiguous(engine::to(w, DType::Float32));
}

Tensor in_layout(const Tensor& t, const memory::desc& desc) {
  if (desc_of(t) == desc) return t;
  Tensor out = empty_like_desc(desc, t.shape(), dtype_of(desc));
  reorder(memory_of(t), memory_of(out, desc));
  return out;
}

// ---- caches ----------------------------------------------------------------------------------
namespace {
struct Caches {
  std::mutex mutex;
  std::unordered_map<std::string, std::unique_ptr<CachedPrimitive>> primitives;
  struct WeightEntry {
    std::weak_ptr<Storage> storage;
    uint64_t version;
    Tensor derived;
  };
  std::unordered_map<std::string, WeightEntry> weights;
};

// One scratchpad per thread, grown to the largest any primitive has asked for.
thread_local ScratchBuffer scratchpad;

Caches& caches() {
  static Caches c;
  return c;
}
}  // namespace

const CachedPrimitive& cached_primitive(const std::string& key,
                                        const std::function<CachedPrimitive()>& create) {
  Caches& c = caches();
  std::lock_guard lock(c.mutex);
  auto it = c.primitives.find(key);
  if (it == c.primitives.end())
    it = c.primitives.emplace(key, std::make_unique<CachedPrimitive>(create())).first;
  return *it->second;
}

dnnl::primitive_attr default_attr() {
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  return attr;
}

void execute(const CachedPrimitive& p, std::unordered_map<int, memory> args) {
  size_t need = p.pd.scratchpad_desc().get_size();
  if (need > 0)
    args.emplace(DNNL_ARG_SCRATCHPAD,
                 memory(p.pd.scratchpad_desc(), cpu_engine(), scratchpad.get(need)));
  p.primitive.execute(cpu_stream(), args);
  cpu_stream().wait();
}

void run_matmul(const memory::desc& a, const void* a_data, const memory::desc& b,
                const void* b_data, const memory::desc& c, void* c_data) {
  const auto& p =
      cached_primitive("matmul|" + desc_key(a) + "|" + desc_key(b) + "|" + desc_key(c), [&] {
        dnnl::matmul::primitive_desc pd({a, b, c}, default_attr(), cpu_engine());
        return CachedPrimitive{pd, dnnl::matmul(pd)};
      });
  // oneDNN takes non-const handles; a matmul only reads its sources.
  execute(p, {{DNNL_ARG_SRC, memory(a, cpu_engine(), const_cast<void*>(a_data))},
              {DNNL_ARG_WEIGHTS, memory(b, cpu_engine(), const_cast<void*>(b_data))},
              {DNNL_ARG_DST, memory(c, cpu_engine(), c_data)}});
}

Tensor cached_weights(const Tensor& w, const memory::desc& desc) {
  if (desc_of(w) == desc) return w;
  return cached_derived(w, desc_key(desc), [&](const Tensor& t, Tensor out) {
    if (!out.defined()) return in_layout(t, desc);
    reorder(memory_of(t), memory_of(out, desc));
    return out;
  });
}

Tensor cached_derived(const Tensor& w, const std::string& tag,
                      const std::function<Tensor(const Tensor& w, Tensor out)>& derive) {
  Caches& c = caches();
  std::string key = std::to_string(reinterpret_cast<uintptr_t>(w.storage().get())) + "@" +
                    std::to_string(w.offset()) + "|" + tag;
  Tensor stale;
  {
    std::lock_guard lock(c.mutex);
    auto it = c.weights.find(key);
    if (it != c.weights.end()) {
      auto alive = it->second.storage.lock();
      if (alive == w.storage() && it->second.version == w.version()) return it->second.derived;
      // Only this entry holds the old result (no copy of it, no view of its storage): hand it
      // over to be overwritten.
      if (alive == w.storage() && it->second.derived.sole_handle() &&
          it->second.derived.storage().use_count() == 1)
        stale = std::move(it->second.derived);
      c.weights.erase(it);
    }
    // Drop entries whose weights are gone, so the cache tracks the live parameters only.
    for (auto e = c.weights.begin(); e != c.weights.end();)
      e = e->second.storage.expired() ? c.weights.erase(e) : std::next(e);
  }
  Tensor derived = derive(w, std::move(stale));
  std::lock_guard lock(c.mutex);
  c.weights[key] = {w.storage(), w.version(), derived};
  return derived;
}

size_t primitive_cache_size() { return caches().primitives.size(); }
size_t weight_cache_size() { return caches().weights.size(); }

}  // namespace sg::onednn
