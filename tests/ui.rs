//! Compile-time behaviour of the macros: every mistake a user can make gets a clear error at the
//! offending token (`tests/ui/fail/*.rs` with their `.stderr`), and tricky but valid signatures
//! compile (`tests/ui/pass/*.rs`). The `.stderr` files are pinned to the stable toolchain.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.pass("tests/ui/pass/*.rs");
    t.compile_fail("tests/ui/fail/*.rs");
}
