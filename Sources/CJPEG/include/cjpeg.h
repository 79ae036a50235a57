#ifndef CJPEG_H
#define CJPEG_H
/* JPEG decoding through Debian's libjpeg-turbo (libjpeg62-turbo-dev). libjpeg's default error handler calls exit();
   this shim returns every error (and a truncated file) as a message instead. */
#include <stddef.h>

typedef struct {
    int width, height;        /* as stored, before the EXIF orientation is applied */
    int orientation;          /* EXIF orientation 1...8 (1: none or absent) */
    unsigned char *pixels;    /* width × height × 3 RGB bytes, row-major; free with cj_free */
    char message[200];        /* why decoding failed */
} cj_image;

/* 0 on success. Grayscale is expanded to RGB; CMYK and YCCK (Adobe or not) are converted as Pillow converts them.
   Images of more than `max_pixels` pixels are refused before any pixel memory is allocated. */
int cj_decode(const unsigned char *data, size_t size, size_t max_pixels, cj_image *out);
void cj_free(cj_image *image);

#endif
