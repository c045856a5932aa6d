# cmake -DIN=x.cu -DOUT=x.cpp -P rewrite.cmake
# Turns a .cu file into C++ for the CUDA emulator (cuda_emu.h):
#   name<<<cfg>>>(args)                    ->  ::cuemu::Launch(cfg).kernel(name)(args)
#   extern __shared__ __align__(n) T v[];  ->  T* v = (T*)::cuemu::dynamic_shared(nullptr);
#   __shared__ T v[N];  /  __shared__ T v; ->  per-block storage (::cuemu::shared_var)
# and leaves a #line so that compiler errors name the .cu file.
file(READ "${IN}" src)
set(id "[A-Za-z_][A-Za-z0-9_]*")
set(ws "[ \t\r\n]*")
# Launches: the kernel name may carry template arguments and a line break.
# The line breaks stay, so the #line below keeps every line's number.
string(REGEX REPLACE "(${id}(::${id})*(<[^<>;{}()]*>)?)(${ws})<<<([^>]*)>>>(${ws})\\("
       "::cuemu::Launch(\\5).kernel(\\1)\\4\\6(" src "${src}")
string(REGEX REPLACE "extern[ \t]+__shared__[ \t]+(__align__\\([0-9]+\\)[ \t]+)?(((unsigned|signed)[ \t]+)?${id})[ \t]+(${id})\\[\\];"
       "\\2* \\5 = static_cast<\\2*>(::cuemu::dynamic_shared(nullptr));" src "${src}")
string(REGEX REPLACE "__shared__[ \t]+(${id}(::${id})*)[ \t]+(${id})(\\[[^];]*\\]);"
       "auto& \\3 = ::cuemu::shared_var<\\1\\4, __LINE__>();" src "${src}")
string(REGEX REPLACE "__shared__[ \t]+(${id}(::${id})*)[ \t]+(${id});"
       "auto& \\3 = ::cuemu::shared_var<\\1, __LINE__>();" src "${src}")
if(src MATCHES "<<<|__shared__")
  message(FATAL_ERROR "${IN}: a launch or __shared__ declaration the CUDA emulator's rewrite does not handle")
endif()
file(WRITE "${OUT}.tmp" "#line 1 \"${IN}\"\n${src}")
file(COPY_FILE "${OUT}.tmp" "${OUT}" ONLY_IF_DIFFERENT)
file(REMOVE "${OUT}.tmp")
