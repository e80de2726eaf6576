#pragma once
// Per-pixel colour formulas shared by the CPU transforms and the GPU augmentation kernel, so both
// devices compute the same thing (torchvision's definitions: ITU-R 601 luma, HSV hue rotation).
#include <cmath>

#include "engine/host_device.h"

namespace sg::pixel {

SG_HOST_DEVICE inline float luma(float r, float g, float b) {
  return 0.299f * r + 0.587f * g + 0.114f * b;
}

// Rotates the hue of one RGB pixel (values in [0, 1]) by `shift` turns, via HSV.
SG_HOST_DEVICE inline void shift_hue(float& r, float& g, float& b, float shift) {
  float mx = fmaxf(r, fmaxf(g, b)), mn = fminf(r, fminf(g, b)), d = mx - mn;
  float h = 0, s = mx > 0 ? d / mx : 0, v = mx;
  if (d > 0) {
    if (mx == r)
      h = fmodf((g - b) / d, 6.0f);
    else if (mx == g)
      h = (b - r) / d + 2;
    else
      h = (r - g) / d + 4;
    h /= 6;
  }
  h = h + shift;
  h -= floorf(h);
  float hh = h * 6, f = hh - floorf(hh);
  float p = v * (1 - s), q = v * (1 - s * f), t = v * (1 - s * (1 - f));
  switch (int(hh) % 6) {
    case 0:
      r = v, g = t, b = p;
      break;
    case 1:
      r = q, g = v, b = p;
      break;
    case 2:
      r = p, g = v, b = t;
      break;
    case 3:
      r = p, g = q, b = v;
      break;
    case 4:
      r = t, g = p, b = v;
      break;
    default:
      r = v, g = p, b = q;
      break;
  }
}

}  // namespace sg::pixel
