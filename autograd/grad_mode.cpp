#include "autograd/grad_mode.h"

namespace sg {

namespace {
thread_local bool grad_enabled = true;
thread_local bool capture_cuts = false;
}  // namespace

bool GradMode::is_enabled() { return grad_enabled; }
void GradMode::set_enabled(bool enabled) { grad_enabled = enabled; }
bool GraphCaptureGuard::is_enabled() { return capture_cuts; }
void GraphCaptureGuard::set_enabled(bool enabled) { capture_cuts = enabled; }

}  // namespace sg
