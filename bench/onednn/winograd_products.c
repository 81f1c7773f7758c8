/* The 16 matrix products of a Winograd F(2x2, 3x3) convolution, timed alone with oneDNN's
 * sgemm: what `WinogradConvolution` spends outside its transforms. For a layer with C input
 * and K output channels over T tiles (batch x ceil(H/2) x ceil(W/2)), 16 products of
 * (T x C) . (C x K). Prints four rounds.
 *
 *   cc -O2 bench/onednn/winograd_products.c -o /tmp/winograd_products -ldnnl
 *   OMP_NUM_THREADS=2 /tmp/winograd_products 3136 192 384   # torchvision conv3, batch 64
 *   OMP_NUM_THREADS=2 /tmp/winograd_products 3136 384 256   # conv4
 *   OMP_NUM_THREADS=2 /tmp/winograd_products 3136 256 256   # conv5
 */
#include <dnnl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: %s TILES INPUT_CHANNELS OUTPUT_CHANNELS\n", argv[0]);
        return 2;
    }
    long t = atol(argv[1]), c = atol(argv[2]), k = atol(argv[3]);
    float *v = malloc(sizeof(float) * 16 * t * c), *u = malloc(sizeof(float) * 16 * c * k), *m = malloc(sizeof(float) * 16 * t * k);
    if (!v || !u || !m) return 1;
    for (long i = 0; i < 16 * t * c; i++) v[i] = (float)(i % 7) * 0.1f;
    for (long i = 0; i < 16 * c * k; i++) u[i] = (float)(i % 5) * 0.1f;
    for (int round = 0; round < 4; round++) {
        double start = now();
        for (int xi = 0; xi < 16; xi++)
            dnnl_sgemm('N', 'N', t, k, c, 1.f, v + xi * t * c, c, u + xi * c * k, k, 0.f, m + xi * t * k, k);
        double seconds = now() - start;
        printf("T=%ld C=%ld K=%ld: %.1f ms, %.1f GFLOP/s\n", t, c, k, seconds * 1e3, 2.0 * 16 * t * c * k / seconds / 1e9);
    }
    return 0;
}
