// LAPACKE, the C interface to LAPACK (Debian's liblapacke-dev; with libopenblas-dev installed,
// Debian's alternatives route it to OpenBLAS's LAPACK): the symmetric eigensolver behind PCA
// and the small SVDs of iterative quantization (`alexnet features --codes`).
#include <lapacke.h>
