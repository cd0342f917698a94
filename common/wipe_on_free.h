// Wipe on free: in the wbagent executable, every heap block is zeroed as it is freed, whoever
// allocated it.
//
// Why: libraries copy passwords into ordinary heap buffers that the agent never sees. libldap
// encodes each Password Modify request, each AD unicodePwd modify and the service account's
// bind into BER buffers, grows them with realloc and frees them with plain free; the JSON and
// command-line libraries and every growing std::string do the same with whatever they hold.
// Wiping the agent's own buffers (common/secure_memory.h) cannot reach those copies; wiping
// every block as it is freed does. What is still in use is not covered: that is what the
// agent's own secure buffers are for.
//
// How: wipe_on_free.cc, linked into the wbagent executable only (the object library
// wb_wipe_on_free), defines free and realloc. The dynamic linker binds every library's calls
// to the executable's definitions, glibc's own included (glibc calls them through the PLT so
// that an allocator can be replaced). They wrap glibc's allocator (__libc_malloc, __libc_free),
// so there is still one heap:
//   - free zeroes the block's usable size, then frees it. A block glibc took from mmap is not
//     zeroed: munmap hands its pages back, and the kernel zeroes a page before any reuse.
//   - realloc never lets glibc move a block, which would free the old one inside glibc,
//     unwiped: a block that must grow is copied into a new one, and the old one freed here.
//     A block that shrinks, or grows within its usable size, stays where it is.
// In a sanitizer build the sanitizer's allocator owns free and realloc; there the object sets
// AddressSanitizer's max_free_fill_size instead (its default options), which fills every
// freed block, so that the same property holds and is tested in both builds.
//
// Cost: one memset of each freed block (measured in bench/README.md, "Wipe on free").
#pragma once

namespace wb {

// True when this executable wipes every block it frees: wipe_on_free.cc is linked in, by its
// own free or by the sanitizer's fill. False in a binary without it (a test that does not
// link the object).
bool WipesOnFree();

namespace internal {
// Whether glibc took the block `p` (from malloc) from a mapping of its own: bit 1 (IS_MMAPPED)
// of its chunk's size word, the word before the block, which malloc_usable_size reads too.
// Meaningless in a sanitizer build, whose allocator has no glibc chunks.
bool GlibcChunkIsMmapped(const void* p);
}  // namespace internal

}  // namespace wb
