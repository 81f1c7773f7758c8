// The parts of NVIDIA's C APIs the cuda backend calls, declared by hand as function-pointer
// types: nothing NVIDIA is needed to build. The libraries (libcuda.so.1, libnvrtc, libcublasLt,
// libcudnn) are opened with dlopen at run time and each function looked up with dlsym
// (Sources/AlexNetBackends/CUDA/CUDALibraries.swift). Signatures follow the public headers
// cuda.h (driver API), nvrtc.h, cublasLt.h and cudnn_version.h.
#ifndef ALEXNET_CCUDA_SHIM_H
#define ALEXNET_CCUDA_SHIM_H

#include <stddef.h>

// Driver API.
typedef int CUresult;            // CUDA_SUCCESS is 0
typedef int CUdevice;
typedef int CUdevice_attribute;
#define ALEXNET_CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT 16
#define ALEXNET_CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR 75
#define ALEXNET_CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR 76
typedef CUresult (*alexnet_cuInit)(unsigned int flags);
typedef CUresult (*alexnet_cuDriverGetVersion)(int *version);
typedef CUresult (*alexnet_cuDeviceGetCount)(int *count);
typedef CUresult (*alexnet_cuDeviceGet)(CUdevice *device, int ordinal);
typedef CUresult (*alexnet_cuDeviceGetName)(char *name, int length, CUdevice device);
typedef CUresult (*alexnet_cuDeviceGetAttribute)(int *value, CUdevice_attribute attribute, CUdevice device);
typedef CUresult (*alexnet_cuDeviceTotalMem)(size_t *bytes, CUdevice device);
typedef CUresult (*alexnet_cuGetErrorString)(CUresult error, const char **text);

// NVRTC: CUDA C++ compiled at run time, here to a cubin for the device's architecture.
typedef int nvrtcResult;         // NVRTC_SUCCESS is 0
typedef struct _nvrtcProgram *nvrtcProgram;
typedef nvrtcResult (*alexnet_nvrtcVersion)(int *major, int *minor);
typedef nvrtcResult (*alexnet_nvrtcCreateProgram)(nvrtcProgram *program, const char *source, const char *name,
                                                  int headerCount, const char *const *headers,
                                                  const char *const *includeNames);
typedef nvrtcResult (*alexnet_nvrtcCompileProgram)(nvrtcProgram program, int optionCount, const char *const *options);
typedef nvrtcResult (*alexnet_nvrtcGetProgramLogSize)(nvrtcProgram program, size_t *size);
typedef nvrtcResult (*alexnet_nvrtcGetProgramLog)(nvrtcProgram program, char *log);
typedef nvrtcResult (*alexnet_nvrtcGetCUBINSize)(nvrtcProgram program, size_t *size);
typedef nvrtcResult (*alexnet_nvrtcGetCUBIN)(nvrtcProgram program, char *cubin);
typedef nvrtcResult (*alexnet_nvrtcDestroyProgram)(nvrtcProgram *program);
typedef const char *(*alexnet_nvrtcGetErrorString)(nvrtcResult result);

// cuBLASLt and cuDNN: their versions, to say what was found.
typedef size_t (*alexnet_cublasLtGetVersion)(void);
typedef size_t (*alexnet_cudnnGetVersion)(void);

#endif
