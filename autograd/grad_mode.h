#pragma once

namespace sg {

// Whether ops record the graph. Per thread, so a data-loading thread never affects training.
class GradMode {
 public:
  static bool is_enabled();
  static void set_enabled(bool enabled);
};

// Disables recording while alive: evaluation, optimizer and EMA updates, backward itself.
class NoGradGuard {
 public:
  NoGradGuard() : previous_(GradMode::is_enabled()) { GradMode::set_enabled(false); }
  ~NoGradGuard() { GradMode::set_enabled(previous_); }
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool previous_;
};

// While alive, the graph keeps every node a detach() cut from (held by the edge of the op that
// consumed the detached tensor), so graph_to_dot can draw both sides of each cut even where
// nothing else uses the cut node's output (GSG's target rows). Off by default: training frees
// what a stop-gradient cut off, as PyTorch does. Per thread, like GradMode.
class GraphCaptureGuard {
 public:
  GraphCaptureGuard() : previous_(is_enabled()) { set_enabled(true); }
  ~GraphCaptureGuard() { set_enabled(previous_); }
  GraphCaptureGuard(const GraphCaptureGuard&) = delete;
  GraphCaptureGuard& operator=(const GraphCaptureGuard&) = delete;
  static bool is_enabled();

 private:
  static void set_enabled(bool enabled);
  bool previous_;
};

}  // namespace sg
