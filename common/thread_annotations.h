#pragma once
// Clang thread-safety annotations (as in LevelDB's port/thread_annotations.h). They document
// which mutex guards what; clang checks them, other compilers ignore them.

#if defined(__clang__)
#define WB_THREAD_ANNOTATION(x) __attribute__((x))
#else
#define WB_THREAD_ANNOTATION(x)
#endif

#define WB_GUARDED_BY(x) WB_THREAD_ANNOTATION(guarded_by(x))
#define WB_EXCLUSIVE_LOCKS_REQUIRED(...) WB_THREAD_ANNOTATION(exclusive_locks_required(__VA_ARGS__))
#define WB_LOCKS_EXCLUDED(...) WB_THREAD_ANNOTATION(locks_excluded(__VA_ARGS__))
