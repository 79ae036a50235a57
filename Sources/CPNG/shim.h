// Debian's libpng (libpng-dev), installed by scripts/bootstrap.sh when missing.
#include <png.h>
