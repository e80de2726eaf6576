#pragma once
// Progress of long work (an epoch, a kNN pass). On a terminal one line, redrawn in place; when
// stdout is a log (`tail -f`, a file) a plain line at every 10% instead. Flushed at each print.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <string>

namespace sg {

// "1h02m", "3m05s", "12s": times left in progress lines.
inline std::string duration_text(double seconds) {
  auto s = int64_t(std::max(0.0, seconds) + 0.5);
  char buf[32];
  if (s >= 3600)
    std::snprintf(buf, sizeof buf, "%ldh%02ldm", long(s / 3600), long(s / 60 % 60));
  else if (s >= 60)
    std::snprintf(buf, sizeof buf, "%ldm%02lds", long(s / 60), long(s % 60));
  else
    std::snprintf(buf, sizeof buf, "%lds", long(s));
  return buf;
}

// Seconds since construction.
class Stopwatch {
 public:
  double elapsed() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  }

 private:
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
};

class ProgressLine {
 public:
  explicit ProgressLine(int64_t total)
      : total_(std::max<int64_t>(total, 1)), tty_(::isatty(::fileno(stdout))) {}
  double elapsed() const { return clock_.elapsed(); }
  // Seconds left for the whole work at the pace so far, after `done` of `total` units.
  double left(int64_t done) const {
    return done > 0 ? elapsed() / double(done) * double(total_ - done) : 0.0;
  }
  // After `done` units: prints `text` with a bar on a terminal, or as a plain line when `done`
  // crossed a tenth of the total.
  void show(int64_t done, const std::string& text) {
    bool tenth = done * 10 / total_ != last_ * 10 / total_;
    last_ = done;
    if (!tty_ && !tenth) return;
    if (tty_) {
      int bar = int(20 * std::min(done, total_) / total_);
      std::printf("\r[%-20s] %s   ", std::string(size_t(bar), '#').c_str(), text.c_str());
    } else {
      std::printf("%s\n", text.c_str());
    }
    std::fflush(stdout);
  }
  // A line that replaces the progress line on a terminal.
  const char* line_start() const { return tty_ ? "\r\033[K" : ""; }

 private:
  int64_t total_, last_ = 0;
  bool tty_;
  Stopwatch clock_;
};

}  // namespace sg
