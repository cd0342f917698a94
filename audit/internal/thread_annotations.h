#pragma once
// Clang's thread-safety annotations; empty with compilers that do not check them.

#if defined(__clang__)
#define WB_GUARDED_BY(x) __attribute__((guarded_by(x)))
#define WB_REQUIRES(x) __attribute__((requires_capability(x)))
#else
#define WB_GUARDED_BY(x)
#define WB_REQUIRES(x)
#endif
