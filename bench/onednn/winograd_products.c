/* The 16 matrix products of a Winograd F(2x2, 3x3) convolution, timed alone with oneDNN's
 * sgemm: what `WinogradConvolution` spends outside its transforms. For a layer with C input
 * and K output channels over T tiles (batch x ceil(H/2) x ceil(W/2)), 16 products of
 * (T x C) . (C x K). Prints four rounds.
 *
 * With a fourth argument `int8`, the same products in u8 x s8 -> s32 (`dnnl_gemm_u8s8s32`):
 * what an int8 Winograd would spend outside its transforms, an upper bound on its gain over
 * oneDNN's direct int8 convolution (BENCHMARKS.md, "int8 Winograd on AVX2").
 *
 *   cc -O2 bench/onednn/winograd_products.c -o /tmp/winograd_products -ldnnl
 *   OMP_NUM_THREADS=2 /tmp/winograd_products 3136 192 384   # torchvision conv3, batch 64
 *   OMP_NUM_THREADS=2 /tmp/winograd_products 3136 384 256   # conv4
 *   OMP_NUM_THREADS=2 /tmp/winograd_products 3136 256 256   # conv5
 *   OMP_NUM_THREADS=2 /tmp/winograd_products 3136 192 384 int8
 */
#include <dnnl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
    if (argc != 4 && !(argc == 5 && strcmp(argv[4], "int8") == 0)) {
        fprintf(stderr, "usage: %s TILES INPUT_CHANNELS OUTPUT_CHANNELS [int8]\n", argv[0]);
        return 2;
    }
    long t = atol(argv[1]), c = atol(argv[2]), k = atol(argv[3]);
    int integers = argc == 5;
    size_t element = integers ? 1 : sizeof(float);
    void *v = malloc(element * 16 * t * c), *u = malloc(element * 16 * c * k), *m = malloc(4 * 16 * t * k);
    if (!v || !u || !m) return 1;
    for (long i = 0; i < 16 * t * c; i++) {
        if (integers) ((uint8_t *)v)[i] = (uint8_t)(i % 251);
        else ((float *)v)[i] = (float)(i % 7) * 0.1f;
    }
    for (long i = 0; i < 16 * c * k; i++) {
        if (integers) ((int8_t *)u)[i] = (int8_t)(i % 200 - 100);
        else ((float *)u)[i] = (float)(i % 5) * 0.1f;
    }
    const int32_t no_offset = 0;
    for (int round = 0; round < 4; round++) {
        double start = now();
        for (int xi = 0; xi < 16; xi++) {
            if (integers)
                dnnl_gemm_u8s8s32('N', 'N', 'F', t, k, c, 1.f, (uint8_t *)v + xi * t * c, c, 0, (int8_t *)u + xi * c * k, k, 0,
                                  0.f, (int32_t *)m + xi * t * k, k, &no_offset);
            else
                dnnl_sgemm('N', 'N', t, k, c, 1.f, (float *)v + xi * t * c, c, (float *)u + xi * c * k, k, 0.f,
                           (float *)m + xi * t * k, k);
        }
        double seconds = now() - start;
        printf("T=%ld C=%ld K=%ld%s: %.1f ms, %.1f G%s/s\n", t, c, k, integers ? " int8" : "", seconds * 1e3,
               (integers ? 1.0 : 2.0) * 16 * t * c * k / seconds / 1e9, integers ? "MAC" : "FLOP");
    }
    return 0;
}
