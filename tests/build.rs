//! Records the target triple, so `support` can tell whether this crate was
//! built with `--target` and build the example binaries the same way.
fn main() {
    let target = std::env::var("TARGET").expect("cargo sets TARGET for build scripts");
    println!("cargo:rustc-env=WEFT_TESTS_TARGET={target}");
    println!("cargo:rerun-if-changed=build.rs");
}
