#pragma once
#include <initializer_list>
#include <iosfwd>
#include <memory>
#include <string>
#include <vector>

#include "engine/device.h"
#include "engine/dtype.h"
#include "engine/shape.h"
#include "engine/storage.h"

namespace sg {

struct Node;  // autograd/node.h: the engine stores it, never looks inside.
struct TensorImpl;

// A physical layout that strides cannot describe, such as oneDNN's blocked formats
// (nChw16c). A backend that produces one subclasses this; everything else reads such a tensor
// only after engine::to_strided() converts it.
class OpaqueLayout {
 public:
  virtual ~OpaqueLayout() = default;
  virtual size_t nbytes() const = 0;
  virtual std::string name() const = 0;
  virtual bool same_as(const OpaqueLayout& other) const = 0;
};

// A handle to an n-dimensional strided view of shared storage. Copying a Tensor copies the
// handle, not the data. Operations on tensors live in free functions: sg::engine:: for raw
// kernels, sg:: (autograd/) for the differentiable versions.
class Tensor {
 public:
  Tensor() = default;

  // Factories. Values are given in logical (row-major) order.
  static Tensor empty(const Shape& shape, DType dtype = DType::Float32,
                      Device device = Device::cpu());
  static Tensor zeros(const Shape& shape, DType dtype = DType::Float32,
                      Device device = Device::cpu());
  static Tensor ones(const Shape& shape, DType dtype = DType::Float32,
                     Device device = Device::cpu());
  static Tensor full(const Shape& shape, double value, DType dtype = DType::Float32,
                     Device device = Device::cpu());
  static Tensor scalar(double value, DType dtype = DType::Float32, Device device = Device::cpu());
  static Tensor from_vector(const std::vector<double>& values, const Shape& shape,
                            DType dtype = DType::Float32);
  static Tensor arange(int64_t n, DType dtype = DType::Int64);
  // Storage sized by `layout`, holding a tensor of logical shape `shape`.
  static Tensor empty_opaque(const Shape& shape, DType dtype, Device device,
                             std::shared_ptr<const OpaqueLayout> layout);

  bool defined() const { return impl_ != nullptr; }
  const Shape& shape() const;
  const Strides& strides() const;
  int64_t offset() const;
  int64_t dim() const { return static_cast<int64_t>(shape().size()); }
  int64_t size(int64_t d) const;
  int64_t numel() const;
  DType dtype() const;
  Device device() const;
  bool is_contiguous() const;  // strided, row-major, no gaps
  // False when the data is in an opaque layout; strides() are then meaningless.
  bool is_strided() const;
  const std::shared_ptr<const OpaqueLayout>& layout() const;

  // Pointer to the element at index (0, ..., 0); checks that T matches the dtype.
  template <typename T>
  T* data() const {
    SG_CHECK(dtype() == dtype_of<T>(), "data<", dtype_name(dtype_of<T>()), ">() on a ",
             dtype_name(dtype()), " tensor");
    check_strided("data()");
    return static_cast<T*>(raw_data());
  }
  void* raw_data() const;

  // Element access for tests and small host-side work (CPU tensors only).
  double item() const;
  double at(const std::vector<int64_t>& index) const;
  void set(const std::vector<int64_t>& index, double value);
  std::vector<double> to_vector() const;

  // A view with explicit geometry over the same storage (all view ops end here).
  Tensor as_strided(const Shape& shape, const Strides& strides, int64_t offset) const;
  // Same storage, no autograd history: the stop-gradient.
  Tensor detach() const;
  // Makes every handle of this tensor see `source`'s data, shape and dtype (its storage is
  // shared, not copied); autograd fields stay. How modules move or load parameters in place.
  void set_data(const Tensor& source) const;

  const std::shared_ptr<Storage>& storage() const;
  bool shares_storage_with(const Tensor& other) const;
  // Whether this handle is the only way to reach the tensor and its storage (no other handle,
  // view or detached alias exists) and the tensor is contiguous and spans its whole storage:
  // then its data may be adopted instead of copied.
  bool is_sole_compact_owner() const;
  uint64_t version() const;
  void bump_version() const;
  bool same(const Tensor& other) const { return impl_ == other.impl_; }
  // Whether no other Tensor shares this one's handle (copies of a Tensor share it; views have
  // their own, and share the storage instead).
  bool sole_handle() const { return impl_.use_count() == 1; }
  // The tensor's identity (what same() compares), as a key for maps of tensors.
  const void* id() const { return impl_.get(); }

  // Autograd's fields. Only autograd/ gives them meaning.
  bool requires_grad() const;
  Tensor& set_requires_grad(bool requires_grad);
  Tensor grad() const;
  void set_grad(const Tensor& grad) const;
  const std::shared_ptr<Node>& grad_fn() const;
  void set_grad_fn(std::shared_ptr<Node> node) const;
  // For a tensor made by autograd's detach() (or computed from one without a graph): the node
  // the stop-gradient cut it from, held weakly. Only drawing the graph reads it.
  const std::weak_ptr<Node>& detached_from() const;
  void set_detached_from(std::weak_ptr<Node> node) const;
  bool is_leaf() const { return grad_fn() == nullptr; }

  std::string str() const;

 private:
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}
  TensorImpl& impl() const;
  void check_strided(const char* what) const;
  int64_t element_offset(const std::vector<int64_t>& index) const;  // checked, CPU only
  std::shared_ptr<TensorImpl> impl_;
};

struct TensorImpl {
  std::shared_ptr<Storage> storage;
  Shape shape;
  Strides strides;
  int64_t offset = 0;
  DType dtype = DType::Float32;
  std::shared_ptr<const OpaqueLayout> layout;  // null: described by shape/strides/offset
  bool requires_grad = false;
  Tensor grad;
  std::shared_ptr<Node> grad_fn;
  std::weak_ptr<Node> detached_from;
};

std::ostream& operator<<(std::ostream& out, const Tensor& t);

using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

}  // namespace sg
