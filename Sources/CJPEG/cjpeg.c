#include "cjpeg.h"

#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <jerror.h>

struct error_manager {
    struct jpeg_error_mgr base;
    jmp_buf jump;
    char *message;
};

/* libjpeg's fatal errors: keep the text and unwind to cj_decode instead of exit(). */
static void on_error(j_common_ptr cinfo) {
    struct error_manager *err = (struct error_manager *)cinfo->err;
    char text[JMSG_LENGTH_MAX];
    (*cinfo->err->format_message)(cinfo, text);
    snprintf(err->message, 200, "%s", text);
    longjmp(err->jump, 1);
}

/* Warnings: a file that ends early decodes to grey padding, which would be a silently wrong sample, so it fails;
   other warnings (extraneous bytes, say) are ignored as Pillow ignores them. */
static void on_message(j_common_ptr cinfo, int level) {
    if (level < 0 && cinfo->err->msg_code == JWRN_JPEG_EOF) on_error(cinfo);
}

static unsigned read16(const unsigned char *p, int little) { return little ? p[0] | p[1] << 8 : p[0] << 8 | p[1]; }
static unsigned long read32(const unsigned char *p, int little) {
    return little ? (unsigned long)p[0] | (unsigned long)p[1] << 8 | (unsigned long)p[2] << 16 | (unsigned long)p[3] << 24
                  : (unsigned long)p[0] << 24 | (unsigned long)p[1] << 16 | (unsigned long)p[2] << 8 | p[3];
}

/* The Orientation tag (0x0112) of IFD0 in an APP1 "Exif" segment; 1 when absent or malformed. */
static int exif_orientation(j_decompress_ptr cinfo) {
    for (jpeg_saved_marker_ptr m = cinfo->marker_list; m; m = m->next) {
        if (m->marker != JPEG_APP0 + 1 || m->data_length < 14 || memcmp(m->data, "Exif\0\0", 6) != 0) continue;
        const unsigned char *tiff = m->data + 6;
        size_t n = m->data_length - 6;
        int little = tiff[0] == 'I';
        if (!(little || tiff[0] == 'M') || read16(tiff + 2, little) != 42) return 1;
        unsigned long ifd = read32(tiff + 4, little);
        if (ifd + 2 > n) return 1;
        unsigned count = read16(tiff + ifd, little);
        for (unsigned i = 0; i < count; i++) {
            size_t entry = ifd + 2 + 12 * (size_t)i;
            if (entry + 12 > n) return 1;
            if (read16(tiff + entry, little) == 0x0112) {
                unsigned value = read16(tiff + entry + 8, little);
                return value >= 1 && value <= 8 ? (int)value : 1;
            }
        }
    }
    return 1;
}

/* Pillow's CMYK → RGB: (255 − K)(255 − C)/255 with its rounding. Pillow reads every CMYK JPEG with Adobe's
   polarity (channels stored inverted), marker or not; so does this shim. */
static unsigned char muldiv255(unsigned a, unsigned b) {
    unsigned t = a * b + 128;
    return (unsigned char)(((t >> 8) + t) >> 8);
}

int cj_decode(const unsigned char *data, size_t size, size_t max_pixels, cj_image *out) {
    struct jpeg_decompress_struct cinfo;
    struct error_manager err;
    unsigned char *volatile row = NULL;
    memset(out, 0, sizeof *out);
    out->orientation = 1;
    cinfo.err = jpeg_std_error(&err.base);
    err.base.error_exit = on_error;
    err.base.emit_message = on_message;
    err.message = out->message;
    if (setjmp(err.jump)) {
        jpeg_destroy_decompress(&cinfo);
        free(row);
        free(out->pixels);
        out->pixels = NULL;
        return 1;
    }
    jpeg_create_decompress(&cinfo);
    jpeg_mem_src(&cinfo, data, (unsigned long)size);
    jpeg_save_markers(&cinfo, JPEG_APP0 + 1, 0xFFFF);
    jpeg_read_header(&cinfo, TRUE);
    int cmyk = cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK;
    cinfo.out_color_space = cmyk ? JCS_CMYK : JCS_RGB;
    if ((size_t)cinfo.image_width * cinfo.image_height > max_pixels) {
        snprintf(out->message, sizeof out->message, "%u×%u pixels is more than the limit of %zu",
                 cinfo.image_width, cinfo.image_height, max_pixels);
        jpeg_destroy_decompress(&cinfo);
        return 1;
    }
    jpeg_start_decompress(&cinfo);
    out->width = (int)cinfo.output_width;
    out->height = (int)cinfo.output_height;
    out->orientation = exif_orientation(&cinfo);
    out->pixels = malloc((size_t)out->width * out->height * 3);
    row = malloc((size_t)out->width * cinfo.output_components);
    if (!out->pixels || !row) {
        snprintf(out->message, sizeof out->message, "out of memory for %d×%d pixels", out->width, out->height);
        longjmp(err.jump, 1);
    }
    while (cinfo.output_scanline < cinfo.output_height) {
        unsigned char *dst = out->pixels + (size_t)cinfo.output_scanline * out->width * 3;
        JSAMPROW rows[1] = {row};
        jpeg_read_scanlines(&cinfo, rows, 1);
        if (!cmyk) {
            memcpy(dst, row, (size_t)out->width * 3);
            continue;
        }
        for (int x = 0; x < out->width; x++) {
            const unsigned char *p = row + 4 * x;
            unsigned c = p[0], m = p[1], y = p[2], k = p[3];
            /* stored inverted: 255 − C etc.; R = nk − C·nk/255 = (255 − C)(255 − K)/255 */
            unsigned nk = k;
            dst[3 * x] = (unsigned char)(nk - muldiv255(255 - c, nk));
            dst[3 * x + 1] = (unsigned char)(nk - muldiv255(255 - m, nk));
            dst[3 * x + 2] = (unsigned char)(nk - muldiv255(255 - y, nk));
        }
    }
    jpeg_finish_decompress(&cinfo);
    jpeg_destroy_decompress(&cinfo);
    free(row);
    return 0;
}

void cj_free(cj_image *image) {
    free(image->pixels);
    image->pixels = NULL;
}
