#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>

#include "engine/device.h"

namespace sg {

// Owned device memory: the pointer and the function that gives it back to its allocator.
using DataPtr = std::unique_ptr<void, std::function<void(void*)>>;

// Hands out memory for one kind of device. The CPU allocator is aligned for AVX-512; the
// CUDA backend adds a caching allocator behind the same interface.
class Allocator {
 public:
  virtual ~Allocator() = default;
  virtual DataPtr allocate(size_t nbytes) = 0;
};

Allocator& allocator_for(Device device);
// Host blocks of 128 KiB and more are cached by size when freed (engine/storage.cpp says why);
// this gives them back to the system (after a phase whose sizes will not come again).
void release_cached_host_memory();
// Whether that cache is on: it is off under AddressSanitizer, where every block goes back to
// free() so that a use after free is caught.
bool host_block_cache_enabled();

// A block of bytes shared by a tensor and all of its views. The version counter lives here so
// that an in-place write through any view is seen by every tensor that saved this storage.
class Storage {
 public:
  Storage(size_t nbytes, Device device);
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  void* data() const { return data_.get(); }
  size_t nbytes() const { return nbytes_; }
  Device device() const { return device_; }
  uint64_t version() const { return version_; }
  void bump_version() { ++version_; }

 private:
  DataPtr data_;
  size_t nbytes_;
  Device device_;
  uint64_t version_ = 0;
};

}  // namespace sg
