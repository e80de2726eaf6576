#pragma once
// --dump-views: a PNG grid of augmented views, so users can see what their augmentations do.
// Each row is one image: its views side by side, un-normalised back to [0, 1].
#include <string>
#include <vector>

#include "data/transforms.h"

namespace sg {

// views: n_views tensors [B, 3, S, S] as the loader makes them (normalised with o's mean/std).
// Writes at most max_images rows; the file is written to a temporary name and renamed.
void write_view_grid(const std::string& png_path, const std::vector<Tensor>& views,
                     const AugmentOptions& o, int64_t max_images = 16);

}  // namespace sg
