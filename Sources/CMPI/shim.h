// Open MPI from Debian (libopenmpi-dev). Its handles are casts of global objects, which Swift
// does not import: these getters stand in for them.
#include <mpi.h>

static inline MPI_Comm alexnet_mpi_comm_world(void) { return MPI_COMM_WORLD; }
static inline MPI_Datatype alexnet_mpi_float(void) { return MPI_FLOAT; }
static inline MPI_Datatype alexnet_mpi_double(void) { return MPI_DOUBLE; }
static inline MPI_Datatype alexnet_mpi_char(void) { return MPI_CHAR; }
static inline MPI_Op alexnet_mpi_sum(void) { return MPI_SUM; }
static inline void *alexnet_mpi_in_place(void) { return MPI_IN_PLACE; }
static inline MPI_Errhandler alexnet_mpi_errors_return(void) { return MPI_ERRORS_RETURN; }
