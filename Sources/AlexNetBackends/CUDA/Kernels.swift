/// The cuda backend's own kernels, as CUDA C compiled at run time by NVRTC for the device's
/// architecture (`NVRTC.compile`). Each mirrors a host implementation that is the reference for
/// it, named in its comment; the rest of the network runs in cuDNN and cuBLASLt.
///
/// Not yet launched anywhere: the cuda backend's plans are still to be written (issue 17), and
/// this machine has no GPU to check them on. What is checked here is that every kernel compiles
/// (`CUDATests`, when NVRTC is found).
public enum CUDAKernels {
    /// Every kernel source, by name.
    public static let all: [(name: String, source: String)] = [
        ("philox.cu", philox), ("dropout.cu", dropout), ("normalize.cu", normalize), ("sgd.cu", sgd),
        ("softmax_cross_entropy.cu", softmaxCrossEntropy),
    ]

    /// Philox4x32-10, as `AlexNetCore.Philox.block(at:)`: counter (index, stream), key (seed),
    /// the same rounds, so masks drawn on the GPU are the CPU's bit for bit.
    public static let philox = """
        struct philox_words { unsigned int w[4]; };

        __device__ __forceinline__ philox_words philox_block(unsigned int key0, unsigned int key1,
                                                             unsigned long long stream, unsigned long long index) {
            unsigned int c0 = (unsigned int)index, c1 = (unsigned int)(index >> 32);
            unsigned int c2 = (unsigned int)stream, c3 = (unsigned int)(stream >> 32);
            unsigned int k0 = key0, k1 = key1;
            #pragma unroll
            for (int round = 0; round < 10; ++round) {
                if (round > 0) { k0 += 0x9E3779B9u; k1 += 0xBB67AE85u; }
                unsigned long long p0 = 0xD2511F53ull * (unsigned long long)c0;
                unsigned long long p1 = 0xCD9E8D57ull * (unsigned long long)c2;
                unsigned int n0 = (unsigned int)(p1 >> 32) ^ c1 ^ k0;
                unsigned int n1 = (unsigned int)p1;
                unsigned int n2 = (unsigned int)(p0 >> 32) ^ c3 ^ k1;
                unsigned int n3 = (unsigned int)p0;
                c0 = n0; c1 = n1; c2 = n2; c3 = n3;
            }
            philox_words r = {{c0, c1, c2, c3}};
            return r;
        }
        """

    /// Dropout's factors, as `Dropout.fillMask`: element `first + i` is dropped when word
    /// (first + i) % 4 of block (first + i) / 4, as a 24-bit integer, is below p * 2^24; kept
    /// elements are scaled by 1 / (1 - p). Forward multiplies the activation by the mask,
    /// backward the gradient.
    public static let dropout = philox + """

        extern "C" __global__ void dropout_mask(float *mask, long long count, long long first,
                                                unsigned int key0, unsigned int key1, unsigned long long stream,
                                                float probability) {
            long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
            if (i >= count) return;
            unsigned long long element = (unsigned long long)(first + i);
            philox_words words = philox_block(key0, key1, stream, element / 4);
            float keep = probability < 1.0f ? 1.0f / (1.0f - probability) : 0.0f;
            float threshold = probability * 16777216.0f;
            mask[i] = (float)(words.w[element % 4] >> 8) < threshold ? 0.0f : keep;
        }

        extern "C" __global__ void multiply(float *y, const float *x, const float *mask, long long count) {
            long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
            if (i < count) y[i] = x[i] * mask[i];
        }
        """

    /// A uint8 batch [N, H, W, C] from the loader to the network's float [N, C, H, W], as
    /// `Preprocessing.normalize` without augmentation: (value * scale - mean[c]) / std[c].
    public static let normalize = """
        extern "C" __global__ void normalize_u8(float *output, const unsigned char *pixels, long long images,
                                                int channels, int plane, float scale,
                                                const float *mean, const float *inverse_std) {
            long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
            long long total = images * channels * plane;
            if (i >= total) return;
            int p = (int)(i % plane);
            int c = (int)((i / plane) % channels);
            long long n = i / ((long long)plane * channels);
            float value = (float)pixels[(n * plane + p) * channels + c];
            output[i] = (value * scale - mean[c]) * inverse_std[c];
        }
        """

    /// The paper's SGD over the flat parameter buffer, as `Optimizer.apply` for `.sgd`:
    /// v <- momentum v - decay eps w - eps g; w <- w + v (`rate` per element run: 0 freezes).
    public static let sgd = """
        extern "C" __global__ void sgd_momentum(float *w, float *v, const float *g, long long count,
                                                float eps, float momentum, float weight_decay) {
            long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
            if (i >= count) return;
            float velocity = momentum * v[i] - weight_decay * eps * w[i] - eps * g[i];
            v[i] = velocity;
            w[i] += velocity;
        }
        """

    /// Softmax cross-entropy with label smoothing, as `SoftmaxCrossEntropy`: one block per row;
    /// loss[row] = -sum_k q_k log p_k, gradient (p - q) / rows, with q = (1 - s) onehot + s / K.
    public static let softmaxCrossEntropy = """
        extern "C" __global__ void softmax_cross_entropy(const float *logits, const int *labels, float *loss,
                                                         float *gradient, int rows, int classes, float smoothing) {
            extern __shared__ float shared[];
            int row = blockIdx.x;
            if (row >= rows) return;
            const float *z = logits + (long long)row * classes;
            float *dz = gradient + (long long)row * classes;
            // The row's maximum, then the sum of exp(z - max), each reduced over the block.
            float largest = __int_as_float(0xff800000);  // -infinity
            for (int k = threadIdx.x; k < classes; k += blockDim.x) largest = fmaxf(largest, z[k]);
            shared[threadIdx.x] = largest;
            __syncthreads();
            for (int stride = blockDim.x / 2; stride > 0; stride /= 2) {
                if (threadIdx.x < stride) shared[threadIdx.x] = fmaxf(shared[threadIdx.x], shared[threadIdx.x + stride]);
                __syncthreads();
            }
            largest = shared[0];
            __syncthreads();
            float sum = 0.0f;
            for (int k = threadIdx.x; k < classes; k += blockDim.x) sum += expf(z[k] - largest);
            shared[threadIdx.x] = sum;
            __syncthreads();
            for (int stride = blockDim.x / 2; stride > 0; stride /= 2) {
                if (threadIdx.x < stride) shared[threadIdx.x] += shared[threadIdx.x + stride];
                __syncthreads();
            }
            float log_sum = logf(shared[0]);
            __syncthreads();
            int label = labels[row];
            float off_target = smoothing / classes, on_target = 1.0f - smoothing + off_target;
            float row_loss = 0.0f;
            for (int k = threadIdx.x; k < classes; k += blockDim.x) {
                float log_p = z[k] - largest - log_sum;
                float q = k == label ? on_target : off_target;
                row_loss -= q * log_p;
                dz[k] = (expf(log_p) - q) / rows;
            }
            shared[threadIdx.x] = row_loss;
            __syncthreads();
            for (int stride = blockDim.x / 2; stride > 0; stride /= 2) {
                if (threadIdx.x < stride) shared[threadIdx.x] += shared[threadIdx.x + stride];
                __syncthreads();
            }
            if (threadIdx.x == 0) loss[row] = shared[0];
        }
        """
}
