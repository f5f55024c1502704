/* A minimal Python interpreter built as a non-PIE executable that takes the
 * address of the allocator, for tests/test_nonpie.py. The suite builds it with
 * `cc -no-pie -fno-pic -O0` against the shared libpython of the interpreter
 * running the tests.
 *
 * Why: in a non-PIE executable, code that takes the address of an external
 * function (here with absolute, non-PIC relocations) makes the linker give
 * that function a "canonical PLT entry": the executable exports `malloc` with
 * the address of its own PLT stub, and the dynamic linker then binds *every*
 * reference to `malloc`, in libpython, libc's callers and memsleuth alike, to
 * that stub, so that function pointers compare equal across objects. Debian's
 * /usr/bin/python3.11 is such an executable. A profiler that patches the
 * executable's GOT and then looks "the real malloc" up by symbol gets the stub
 * back, which jumps through the patched slot into its own hook: infinite
 * recursion. This program reproduces that layout on any machine. */
#include <Python.h>
#include <dlfcn.h>
#include <stdlib.h>
#include <sys/mman.h>

/* Python.h turns on _FILE_OFFSET_BITS=64, under which <sys/mman.h> names
 * `mmap64` when code says `mmap`; this declaration reaches the plain `mmap`
 * symbol too (the one memsleuth's own pass-through calls refer to). */
extern void *nonpie_plain_mmap(void *, size_t, int, int, int, long) __asm__("mmap");

/* Written from code (not only by static initialisers) so the addresses are
 * materialised with `mov $malloc, ...`-style absolute relocations, which a
 * non-PIE link can only satisfy with canonical PLT entries. `volatile` keeps
 * the compiler from dropping the stores. */
void *volatile nonpie_allocator_addresses[7];

static void take_allocator_addresses(void) {
    nonpie_allocator_addresses[0] = (void *)&malloc;
    nonpie_allocator_addresses[1] = (void *)&free;
    nonpie_allocator_addresses[2] = (void *)&calloc;
    nonpie_allocator_addresses[3] = (void *)&realloc;
    nonpie_allocator_addresses[4] = (void *)&nonpie_plain_mmap; /* mmap */
    nonpie_allocator_addresses[5] = (void *)&mmap;              /* mmap64 */
    nonpie_allocator_addresses[6] = (void *)&dlopen;
}

int main(int argc, char **argv) {
    take_allocator_addresses();
    return Py_BytesMain(argc, argv);
}
