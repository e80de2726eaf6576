// stb_image's decoders compiled into the image fuzzer itself, so that they carry the fuzzer's
// coverage counters and AddressSanitizer's checks: Debian's libstb is a prebuilt library, in
// which neither would see anything. The executable's definitions take precedence over libstb's.
#define STB_IMAGE_IMPLEMENTATION
#include <stb_image.h>
