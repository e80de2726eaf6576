#pragma once
// What every oneDNN kernel shares: the CPU engine and stream, memory descriptors for our
// tensors, the layout class that lets a tensor stay in oneDNN's blocked formats between
// layers, and two explicit caches (primitives, and weights reordered once per update).
#include <oneapi/dnnl/dnnl.hpp>

#include <functional>
#include <string>
#include <unordered_map>
#include <vector>

#include "engine/tensor.h"

namespace sg::onednn {

dnnl::engine& cpu_engine();
dnnl::stream& cpu_stream();

dnnl::memory::data_type data_type(DType dtype);
dnnl::memory::dims dims(const Shape& shape);
DType dtype_of(const dnnl::memory::desc& desc);

// A tensor stored in a oneDNN layout that strides cannot express (nChw16c, OIhw16i16o, ...).
class BlockedLayout final : public OpaqueLayout {
 public:
  explicit BlockedLayout(dnnl::memory::desc desc) : desc_(std::move(desc)) {}
  size_t nbytes() const override { return desc_.get_size(); }
  std::string name() const override;
  bool same_as(const OpaqueLayout& other) const override;
  const dnnl::memory::desc& desc() const { return desc_; }

 private:
  dnnl::memory::desc desc_;
};

// The descriptor of t's bytes: its blocked layout, or its shape and strides.
dnnl::memory::desc desc_of(const Tensor& t);
// A oneDNN memory object over t's storage (no copy).
dnnl::memory memory_of(const Tensor& t);
dnnl::memory memory_of(const Tensor& t, const dnnl::memory::desc& desc);
// A new tensor whose bytes follow `desc`: plain strided when desc is dense row-major.
Tensor empty_like_desc(const dnnl::memory::desc& desc, const Shape& shape, DType dtype);
// A new tensor in the same physical layout as `like` (strided contiguous, or its blocks).
Tensor empty_same_layout(const Tensor& like);
// t's data in layout `desc`: t itself when it already matches, else a reordered copy.
Tensor in_layout(const Tensor& t, const dnnl::memory::desc& desc);
// Runs a reorder between two memories (cached by their descriptors).
void reorder(const dnnl::memory& src, const dnnl::memory& dst);
// A stable text form of a descriptor, for cache keys.
std::string desc_key(const dnnl::memory::desc& desc);

// bf16 on a CPU where oneDNN has no bf16 kernels (kernel_choice.h, tier no-bf16): every oneDNN
// op then computes what its bf16 kernel would -- bf16 operands, float32 arithmetic, a bf16
// result -- by widening its bf16 operands with `converted` and narrowing what it returns.
bool emulate_bf16(const Tensor& t);
// The same for a bf16 convolution or matmul, which also run the fp32 kernels where this CPU's
// bf16 dot products are slower than its fp32 FMAs (or SG_BF16_CONV=fp32).
bool bf16_conv_via_fp32(const Tensor& t);
// t converted to `dtype` in the same physical layout (a blocked tensor stays blocked).
Tensor converted(const Tensor& t, DType dtype);
inline Tensor widened(const Tensor& t) {
  return t.defined() && t.dtype() == DType::BFloat16 ? converted(t, DType::Float32) : t;
}
inline Tensor narrowed(const Tensor& t) { return converted(t, DType::BFloat16); }
// float32 <-> bf16 of n elements from one buffer into another laid out alike (vectorised, round
// to nearest even as oneDNN); false for other dtype pairs.
bool convert_flat(const Tensor& from, const Tensor& to, size_t n);

// The nChw16c bf16 descriptor of an [N, C, H, W] tensor: the layout oneDNN's bf16
// convolutions and batch norm hand over, and the one our bf16 Winograd kernels read and write.
dnnl::memory::desc nchw16c_bf16(const Shape& shape);
// The NHWC bf16 descriptor of an [N, C, H, W] tensor: the layout oneDNN's AMX convolutions
// choose, and the one the AMX-tier weight-gradient product and BatchNorm kernels read.
dnnl::memory::desc nhwc_bf16(const Shape& shape);

// Scratch memory for kernels, 64-byte aligned (for whole-cache-line vector loads and stores),
// grown as needed and kept for the next call; its contents are not preserved.
class ScratchBuffer {
 public:
  char* get(size_t bytes);

 private:
  std::vector<char> bytes_;
};

// An explicit cache of primitives keyed by op, shapes, formats and attributes: creating a
// primitive descriptor costs far more than running a small primitive.
struct CachedPrimitive {
  dnnl::primitive_desc_base pd;
  dnnl::primitive primitive;
};
const CachedPrimitive& cached_primitive(const std::string& key,
                                        const std::function<CachedPrimitive()>& create);

// Runs a primitive on the CPU stream with a reusable scratchpad.
void execute(const CachedPrimitive& p, std::unordered_map<int, dnnl::memory> args);
// Attributes for every primitive: user-managed scratchpad (one buffer, grown as needed).
dnnl::primitive_attr default_attr();
// c = a x b with oneDNN's matmul on buffers the three descriptors describe (the primitive is
// cached by them). Throws dnnl::error where oneDNN's matmul takes no such descriptors.
void run_matmul(const dnnl::memory::desc& a, const void* a_data, const dnnl::memory::desc& b,
                const void* b_data, const dnnl::memory::desc& c, void* c_data);

// `w` reordered into `desc`, reused until w's storage is written again (its version moves):
// weights are reordered once per optimizer step, not once per call.
Tensor cached_weights(const Tensor& w, const dnnl::memory::desc& desc);
// w as a contiguous float32 tensor, the form our weight packers and transforms read (the
// master weights are already that, and come back as they are).
Tensor float32_contiguous(const Tensor& w);
// The same cache for any per-version function of a weight (`tag` names the function).
// `derive(w, out)` gets the previous version's result as `out` when nothing else holds it
// (else an undefined tensor), to write into: a fresh allocation of megabytes per optimizer
// step would cost page faults each time.
Tensor cached_derived(const Tensor& w, const std::string& tag,
                      const std::function<Tensor(const Tensor& w, Tensor out)>& derive);

// Number of entries in each cache (for tests).
size_t primitive_cache_size();
size_t weight_cache_size();

}  // namespace sg::onednn
