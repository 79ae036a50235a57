// Debian's zlib (zlib1g-dev, installed by scripts/bootstrap.sh when missing): gzip for open_clip's BPE vocabulary.
#include <zlib.h>
