// zlib (Debian's zlib1g-dev). inflateInit2 is a macro, which Swift does not import.
#include <zlib.h>

static inline int czlib_inflate_init_gzip(z_streamp stream) {
    // 15 + 32: a 32 KiB window, and accept both zlib and gzip headers.
    return inflateInit2_(stream, 15 + 32, ZLIB_VERSION, (int)sizeof(z_stream));
}
