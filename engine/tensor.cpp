#include "engine/tensor.h"

#include <cstring>
#include <iomanip>
#include <ostream>
#include <sstream>

#include "engine/ops.h"

namespace sg {

TensorImpl& Tensor::impl() const {
  SG_CHECK(impl_ != nullptr, "use of an undefined tensor");
  return *impl_;
}

Tensor Tensor::empty(const Shape& shape, DType dtype, Device device) {
  for (int64_t s : shape) SG_CHECK(s >= 0, "negative dimension in shape ", shape_str(shape));
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = std::make_shared<Storage>(sg::numel(shape) * element_size(dtype), device);
  impl->shape = shape;
  impl->strides = contiguous_strides(shape);
  impl->dtype = dtype;
  return Tensor(std::move(impl));
}

Tensor Tensor::empty_opaque(const Shape& shape, DType dtype, Device device,
                            std::shared_ptr<const OpaqueLayout> layout) {
  SG_CHECK(layout != nullptr, "empty_opaque: no layout given");
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = std::make_shared<Storage>(layout->nbytes(), device);
  impl->shape = shape;
  impl->strides = contiguous_strides(shape);
  impl->dtype = dtype;
  impl->layout = std::move(layout);
  return Tensor(std::move(impl));
}

Tensor Tensor::full(const Shape& shape, double value, DType dtype, Device device) {
  Tensor t = empty(shape, dtype, device);
  engine::fill_(t, value);
  return t;
}
Tensor Tensor::zeros(const Shape& shape, DType dtype, Device device) {
  return full(shape, 0.0, dtype, device);
}
Tensor Tensor::ones(const Shape& shape, DType dtype, Device device) {
  return full(shape, 1.0, dtype, device);
}
Tensor Tensor::scalar(double value, DType dtype, Device device) {
  return full({}, value, dtype, device);
}

Tensor Tensor::from_vector(const std::vector<double>& values, const Shape& shape, DType dtype) {
  SG_CHECK(static_cast<int64_t>(values.size()) == sg::numel(shape), "from_vector: ", values.size(),
           " values for shape ", shape_str(shape));
  Tensor t = empty(shape, dtype);
  dispatch_all(dtype, "from_vector", [&]<typename T>() {
    T* p = t.data<T>();
    for (size_t i = 0; i < values.size(); ++i) p[i] = static_cast<T>(values[i]);
  });
  return t;
}

Tensor Tensor::arange(int64_t n, DType dtype) {
  Tensor t = empty({n}, dtype);
  dispatch_all(dtype, "arange", [&]<typename T>() {
    for (int64_t i = 0; i < n; ++i) t.data<T>()[i] = static_cast<T>(i);
  });
  return t;
}

const Shape& Tensor::shape() const { return impl().shape; }
const Strides& Tensor::strides() const { return impl().strides; }
int64_t Tensor::offset() const { return impl().offset; }
int64_t Tensor::size(int64_t d) const { return shape()[wrap_dim(d, dim())]; }
int64_t Tensor::numel() const { return sg::numel(shape()); }
DType Tensor::dtype() const { return impl().dtype; }
Device Tensor::device() const { return impl().storage->device(); }

bool Tensor::is_strided() const { return impl().layout == nullptr; }
const std::shared_ptr<const OpaqueLayout>& Tensor::layout() const { return impl().layout; }

void Tensor::check_strided(const char* what) const {
  SG_CHECK(is_strided(), what, " on a tensor of shape ", shape_str(shape()),
           " stored in the opaque layout ", layout()->name(),
           ": convert it with engine::to_strided() first");
}

bool Tensor::is_contiguous() const {
  if (!is_strided()) return false;
  int64_t expected = 1;
  for (size_t i = shape().size(); i-- > 0;) {
    if (shape()[i] == 1) continue;
    if (strides()[i] != expected) return false;
    expected *= shape()[i];
  }
  return true;
}

void* Tensor::raw_data() const {
  return static_cast<char*>(impl().storage->data()) + offset() * element_size(dtype());
}

int64_t Tensor::element_offset(const std::vector<int64_t>& index) const {
  check_strided("element access");
  SG_CHECK(device().is_cpu(), "element access on a ", device().str(),
           " tensor: copy it to the CPU");
  SG_CHECK(static_cast<int64_t>(index.size()) == dim(), "index of rank ", index.size(),
           " for a tensor of shape ", shape_str(shape()));
  int64_t off = 0;
  for (size_t d = 0; d < index.size(); ++d) {
    SG_CHECK(index[d] >= 0 && index[d] < shape()[d], "index ", index[d],
             " out of range for dimension ", d, " of size ", shape()[d]);
    off += index[d] * strides()[d];
  }
  return off;
}

double Tensor::at(const std::vector<int64_t>& index) const {
  int64_t off = element_offset(index);
  return dispatch_storage(dtype(), "at",
                          [&]<typename T>() { return static_cast<double>(data<T>()[off]); });
}

void Tensor::set(const std::vector<int64_t>& index, double value) {
  int64_t off = element_offset(index);
  dispatch_storage(dtype(), "set", [&]<typename T>() { data<T>()[off] = static_cast<T>(value); });
  bump_version();
}

double Tensor::item() const {
  SG_CHECK(numel() == 1, "item() on a tensor of shape ", shape_str(shape()), ": needs one element");
  // A GPU scalar is copied to the host (which waits for the kernels that produce it).
  if (!device().is_cpu()) return engine::to(*this, Device::cpu()).item();
  return at(std::vector<int64_t>(dim(), 0));
}

std::vector<double> Tensor::to_vector() const {
  Tensor c = engine::contiguous(engine::to_strided(engine::to(*this, Device::cpu())));
  std::vector<double> out(c.numel());
  dispatch_storage(dtype(), "to_vector", [&]<typename T>() {
    for (size_t i = 0; i < out.size(); ++i) out[i] = static_cast<double>(c.data<T>()[i]);
  });
  return out;
}

Tensor Tensor::as_strided(const Shape& shape, const Strides& strides, int64_t offset) const {
  check_strided("as_strided()");
  SG_CHECK(shape.size() == strides.size(), "as_strided: shape ", shape_str(shape), " and strides ",
           shape_str(strides), " differ in rank");
  int64_t last = offset;
  for (size_t d = 0; d < shape.size(); ++d)
    if (shape[d] > 0) last += (shape[d] - 1) * strides[d];
  SG_CHECK(offset >= 0 && (sg::numel(shape) == 0 || (last + 1) * int64_t(element_size(dtype())) <=
                                                        int64_t(storage()->nbytes())),
           "as_strided: view ", shape_str(shape), " at offset ", offset, " runs past its storage");
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = storage();
  impl->shape = shape;
  impl->strides = strides;
  impl->offset = offset;
  impl->dtype = dtype();
  return Tensor(std::move(impl));
}

Tensor Tensor::detach() const {
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = storage();
  impl->shape = shape();
  impl->strides = strides();
  impl->offset = offset();
  impl->dtype = dtype();
  impl->layout = layout();
  return Tensor(std::move(impl));
}

void Tensor::set_data(const Tensor& source) const {
  TensorImpl& me = impl();
  const TensorImpl& src = source.impl();
  me.storage = src.storage;
  me.shape = src.shape;
  me.strides = src.strides;
  me.offset = src.offset;
  me.dtype = src.dtype;
  me.layout = src.layout;
}

const std::shared_ptr<Storage>& Tensor::storage() const { return impl().storage; }
bool Tensor::shares_storage_with(const Tensor& other) const { return storage() == other.storage(); }
bool Tensor::is_sole_compact_owner() const {
  return impl_.use_count() == 1 && impl_->storage.use_count() == 1 && is_strided() &&
         is_contiguous() && offset() == 0 &&
         storage()->nbytes() == size_t(numel()) * element_size(dtype());
}
uint64_t Tensor::version() const { return storage()->version(); }
void Tensor::bump_version() const { storage()->bump_version(); }

bool Tensor::requires_grad() const { return impl().requires_grad; }
Tensor& Tensor::set_requires_grad(bool requires_grad) {
  SG_CHECK(!requires_grad || is_floating(dtype()),
           "only floating-point tensors can require grad, not ", dtype_name(dtype()));
  impl().requires_grad = requires_grad;
  return *this;
}
Tensor Tensor::grad() const { return impl().grad; }
void Tensor::set_grad(const Tensor& grad) const { impl().grad = grad; }
const std::shared_ptr<Node>& Tensor::grad_fn() const { return impl().grad_fn; }
void Tensor::set_grad_fn(std::shared_ptr<Node> node) const { impl().grad_fn = std::move(node); }

const std::weak_ptr<Node>& Tensor::detached_from() const { return impl().detached_from; }
void Tensor::set_detached_from(std::weak_ptr<Node> node) const {
  impl().detached_from = std::move(node);
}

namespace {
void print_rec(std::ostream& out, const Tensor& t, std::vector<int64_t>& index, int indent) {
  size_t d = index.size();
  if (static_cast<int64_t>(d) == t.dim()) {
    double v = t.at(index);
    if (t.dtype() == DType::Int64)
      out << static_cast<int64_t>(v);
    else
      out << std::fixed << std::setprecision(4) << v;
    return;
  }
  out << "[";
  for (int64_t i = 0; i < t.shape()[d]; ++i) {
    if (i > 0) {
      out << ",";
      if (static_cast<int64_t>(d) + 1 < t.dim())
        out << "\n" << std::string(indent + d + 1, ' ');
      else
        out << " ";
    }
    index.push_back(i);
    print_rec(out, t, index, indent);
    index.pop_back();
  }
  out << "]";
}
}  // namespace

std::string Tensor::str() const {
  std::ostringstream out;
  out << *this;
  return out.str();
}

std::ostream& operator<<(std::ostream& out, const Tensor& t) {
  if (!t.defined()) return out << "tensor(undefined)";
  out << "tensor(";
  Tensor host = engine::to_strided(engine::to(t, Device::cpu()));
  std::vector<int64_t> index;
  if (host.numel() <= 1000) {
    print_rec(out, host, index, 7);
  } else {
    out << "...";
  }
  out << ", shape=" << shape_str(t.shape()) << ", dtype=" << dtype_name(t.dtype());
  if (!t.device().is_cpu()) out << ", device=" << t.device().str();
  if (!t.is_strided()) out << ", layout=" << t.layout()->name();
  if (t.requires_grad()) out << ", requires_grad";
  return out << ")";
}

}  // namespace sg
