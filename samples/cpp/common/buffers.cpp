#include "buffers.h"

#include <algorithm>
#include <string>

#include "error.h"

namespace natx {

void checkCuda(cudaError_t status, const char* what) {
  if (status != cudaSuccess) fail(std::string(what) + ": " + cudaGetErrorString(status));
}

DeviceBuffer::DeviceBuffer(size_t bytes) : bytes_(bytes) {
  checkCuda(cudaMalloc(&ptr_, std::max<size_t>(bytes, 1)), "cudaMalloc");
}

DeviceBuffer::~DeviceBuffer() {
  if (ptr_) cudaFree(ptr_);
}

HostBuffer::HostBuffer(size_t bytes) : bytes_(bytes) {
  checkCuda(cudaMallocHost(&ptr_, std::max<size_t>(bytes, 1)), "cudaMallocHost");
}

HostBuffer::~HostBuffer() {
  if (ptr_) cudaFreeHost(ptr_);
}

CudaStream::CudaStream() {
  checkCuda(cudaStreamCreate(&stream_), "cudaStreamCreate");
}

CudaStream::~CudaStream() {
  if (stream_) cudaStreamDestroy(stream_);
}

CudaEvent::CudaEvent() {
  checkCuda(cudaEventCreate(&event_), "cudaEventCreate");
}

CudaEvent::~CudaEvent() {
  if (event_) cudaEventDestroy(event_);
}

}  // namespace natx
