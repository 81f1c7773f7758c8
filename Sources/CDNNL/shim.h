// oneDNN 2.6's C API (Debian's libdnnl-dev), and the OpenMP calls that set its thread count.
#include <oneapi/dnnl/dnnl.h>

// Argument indices are macros defined through other macros, which Swift does not import.
static const int CDNNL_ARG_SRC = DNNL_ARG_SRC;
static const int CDNNL_ARG_DST = DNNL_ARG_DST;
static const int CDNNL_ARG_FROM = DNNL_ARG_FROM;
static const int CDNNL_ARG_TO = DNNL_ARG_TO;
static const int CDNNL_ARG_WEIGHTS = DNNL_ARG_WEIGHTS;
static const int CDNNL_ARG_BIAS = DNNL_ARG_BIAS;
static const int CDNNL_ARG_MEAN = DNNL_ARG_MEAN;
static const int CDNNL_ARG_VARIANCE = DNNL_ARG_VARIANCE;
static const int CDNNL_ARG_SCALE = DNNL_ARG_SCALE;
static const int CDNNL_ARG_SHIFT = DNNL_ARG_SHIFT;
static const int CDNNL_ARG_WORKSPACE = DNNL_ARG_WORKSPACE;
static const int CDNNL_ARG_SCRATCHPAD = DNNL_ARG_SCRATCHPAD;
static const int CDNNL_ARG_DIFF_SRC = DNNL_ARG_DIFF_SRC;
static const int CDNNL_ARG_DIFF_DST = DNNL_ARG_DIFF_DST;
static const int CDNNL_ARG_DIFF_WEIGHTS = DNNL_ARG_DIFF_WEIGHTS;
static const int CDNNL_ARG_DIFF_BIAS = DNNL_ARG_DIFF_BIAS;
static const int CDNNL_ARG_DIFF_SCALE = DNNL_ARG_DIFF_SCALE;
static const int CDNNL_ARG_DIFF_SHIFT = DNNL_ARG_DIFF_SHIFT;

// "Let the library allocate" is the pointer value -1, a macro Swift cannot see.
static inline void *cdnnl_memory_allocate(void) { return DNNL_MEMORY_ALLOCATE; }

// libgomp, which runs oneDNN's threads.
void omp_set_num_threads(int count);
int omp_get_max_threads(void);
