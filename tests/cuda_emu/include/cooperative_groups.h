#pragma once
// cooperative_groups for the CUDA emulator (tests/cuda_emu/cuda_emu.h): the
// grid and block groups the kernels use.
#include "../cuda_emu.h"

namespace cooperative_groups {

class grid_group {
 public:
  void sync() const { ::cuemu::grid_sync(); }
  bool is_valid() const { return ::cuemu::in_cooperative_launch(); }
  unsigned long long num_blocks() const {
    const dim3 g = ::cuemu::ctx().gdim;
    return static_cast<unsigned long long>(g.x) * g.y * g.z;
  }
  unsigned long long block_rank() const {
    const auto& c = ::cuemu::ctx();
    return c.bid.x + static_cast<unsigned long long>(c.gdim.x) * (c.bid.y + static_cast<unsigned long long>(c.gdim.y) * c.bid.z);
  }
  unsigned long long size() const {
    const dim3 b = ::cuemu::ctx().bdim;
    return num_blocks() * b.x * b.y * b.z;
  }
  unsigned long long thread_rank() const {
    const dim3 b = ::cuemu::ctx().bdim;
    return block_rank() * b.x * b.y * b.z + ::cuemu::ctx().linear;
  }
};
inline grid_group this_grid() { return grid_group(); }

class thread_block {
 public:
  void sync() const { ::cuemu::syncthreads(); }
  unsigned thread_rank() const { return ::cuemu::ctx().linear; }
  unsigned size() const {
    const dim3 b = ::cuemu::ctx().bdim;
    return b.x * b.y * b.z;
  }
};
inline thread_block this_thread_block() { return thread_block(); }

}  // namespace cooperative_groups
