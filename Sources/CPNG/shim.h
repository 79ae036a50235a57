// Debian's libpng (libpng-dev) and zlib (zlib1g-dev), installed by scripts/bootstrap.sh when missing.
#include <png.h>
#include <zlib.h>
