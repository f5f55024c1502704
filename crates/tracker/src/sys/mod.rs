//! The system layer: every line of unsafe code in memsleuth lives below this
//! module. It talks to CPython (allocator hooks, the C shim that reads frames),
//! and walks the heap for snapshots), to the dynamic linker (the loaded objects, their GOTs, which `native`
//! rewrites to hook the C heap and mmap) and to the OS (`gettid`, `fork`
//! handlers). Everything above it is safe Rust
//! operating on plain integers.
//!
//! # Safety
//! The invariants each block relies on are argued next to it. Three hold
//! throughout: hooks only ever call the function they stand in for (through a
//! context pointer that is leaked and never freed, or the real function found
//! in the loaded objects before any GOT was rewritten); the shim and the
//! unwinder only read the calling thread's own frames and stack, except the
//! heap walk, which reads every object with the GIL held; and what is
//! read from a loaded object (headers, GOT slots, unwind tables) is read
//! while the object is loaded.

pub(crate) mod got;
pub(crate) mod heap_walk;
pub(crate) mod hooks;
pub(crate) mod mem_stats;
pub(crate) mod native;
pub(crate) mod objects;
pub(crate) mod os;
pub(crate) mod own_heap;
pub(crate) mod real;
pub(crate) mod shim;
pub(crate) mod unwind;
