#pragma once
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "engine/bfloat16.h"
#include "engine/error.h"

namespace sg {

// Element types. Int64 holds indices (argmin, gather, labels); the half types are declared so
// the fast backends can add them without changing this enum's users.
enum class DType : uint8_t { Float32, Float64, Int64, BFloat16, Float16 };

constexpr size_t element_size(DType t) {
  switch (t) {
    case DType::Float32:
      return 4;
    case DType::Float64:
      return 8;
    case DType::Int64:
      return 8;
    case DType::BFloat16:
      return 2;
    case DType::Float16:
      return 2;
  }
  return 0;
}

constexpr std::string_view dtype_name(DType t) {
  switch (t) {
    case DType::Float32:
      return "float32";
    case DType::Float64:
      return "float64";
    case DType::Int64:
      return "int64";
    case DType::BFloat16:
      return "bfloat16";
    case DType::Float16:
      return "float16";
  }
  return "?";
}

constexpr bool is_floating(DType t) { return t != DType::Int64; }

template <typename T>
constexpr DType dtype_of();
template <>
constexpr DType dtype_of<float>() {
  return DType::Float32;
}
template <>
constexpr DType dtype_of<double>() {
  return DType::Float64;
}
template <>
constexpr DType dtype_of<int64_t>() {
  return DType::Int64;
}
template <>
constexpr DType dtype_of<bfloat16>() {
  return DType::BFloat16;
}

// Calls f.template operator()<T>() with T the C++ type of a float32/float64 dtype.
template <typename F>
decltype(auto) dispatch_floating(DType t, std::string_view what, F&& f) {
  switch (t) {
    case DType::Float32:
      return f.template operator()<float>();
    case DType::Float64:
      return f.template operator()<double>();
    default:
      SG_CHECK(false, what, ": expected float32 or float64, got ", dtype_name(t));
  }
}

// Like dispatch_floating, but int64 is accepted too.
template <typename F>
decltype(auto) dispatch_all(DType t, std::string_view what, F&& f) {
  switch (t) {
    case DType::Float32:
      return f.template operator()<float>();
    case DType::Float64:
      return f.template operator()<double>();
    case DType::Int64:
      return f.template operator()<int64_t>();
    default:
      SG_CHECK(false, what, ": dtype ", dtype_name(t), " is not supported here");
  }
}

// Like dispatch_all, plus bfloat16: for kernels that only move or fill values.
template <typename F>
decltype(auto) dispatch_storage(DType t, std::string_view what, F&& f) {
  if (t == DType::BFloat16) return f.template operator()<bfloat16>();
  return dispatch_all(t, what, std::forward<F>(f));
}

}  // namespace sg
