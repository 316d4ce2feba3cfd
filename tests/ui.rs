//! Compile-time behaviour of the macros: every mistake a user can make gets a clear error at the
//! offending token (`tests/ui/fail/*.rs` with their `.stderr`), and tricky but valid signatures
//! compile (`tests/ui/pass/*.rs`).
//!
//! The `.stderr` files are what rustc 1.95 prints: another compiler words its notes and spans
//! differently, so on any other toolchain the test prints a notice and checks nothing. Set
//! `CACHEX_UI_TESTS=1` to run the UI tests on any toolchain anyway (`=0` to skip them).

use std::process::Command;

/// The toolchain the `.stderr` files were written with.
const PINNED: &str = "rustc 1.95.";

fn ui_tests_apply() -> bool {
    match std::env::var("CACHEX_UI_TESTS").as_deref() {
        Ok("1") => return true,
        Ok("0") => {
            eprintln!("notice: CACHEX_UI_TESTS=0: the UI tests are skipped");
            return false;
        }
        _ => {}
    }
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_owned());
    let version = Command::new(rustc)
        .arg("--version")
        .output()
        .map(|out| String::from_utf8_lossy(&out.stdout).into_owned())
        .unwrap_or_default();
    if version.starts_with(PINNED) {
        return true;
    }
    eprintln!(
        "notice: the UI tests are pinned to {PINNED}x and this is {:?}; skipped \
         (set CACHEX_UI_TESTS=1 to run them anyway)",
        version.trim()
    );
    false
}

#[test]
fn ui() {
    if !ui_tests_apply() {
        return;
    }
    let t = trybuild::TestCases::new();
    t.pass("tests/ui/pass/*.rs");
    t.compile_fail("tests/ui/fail/*.rs");
}
