//! Turning linker names back into the names a programmer wrote.

/// Demangles Rust (legacy and v0) and Itanium C++ names; anything else, such
/// as a C name or a mangling neither demangler accepts, is returned as is so
/// the user still sees something searchable.
pub(crate) fn demangle(name: &str) -> String {
    // Rust first: legacy Rust names also start with `_ZN`, and the C++
    // demangler would keep their `::h<hash>` tail, which is noise to a reader.
    if let Ok(rust) = rustc_demangle::try_demangle(name) {
        return format!("{rust:#}");
    }
    if name.starts_with("_Z") {
        if let Some(cpp) = demangle_cpp(name) {
            return cpp;
        }
    }
    name.to_owned()
}

fn demangle_cpp(name: &str) -> Option<String> {
    let symbol = cpp_demangle::Symbol::new(name.as_bytes()).ok()?;
    symbol.demangle().ok()
}

#[cfg(test)]
mod tests {
    use super::demangle;

    #[test]
    fn rust_legacy_drops_the_hash() {
        assert_eq!(
            demangle("_ZN4core3fmt5write17h0123456789abcdefE"),
            "core::fmt::write"
        );
    }

    #[test]
    fn rust_v0() {
        assert_eq!(demangle("_RNvCs1234_7mycrate3foo"), "mycrate::foo");
    }

    #[test]
    fn cpp_with_parameters() {
        assert_eq!(demangle("_ZN2ns3Box4pushEi"), "ns::Box::push(int)");
    }

    #[test]
    fn c_names_and_garbage_pass_through() {
        assert_eq!(demangle("main"), "main");
        assert_eq!(demangle("_Z"), "_Z");
        assert_eq!(demangle(""), "");
    }
}
