// libpng's simplified API (png_image): the only part usable from Swift, which cannot setjmp.
#include <png.h>
