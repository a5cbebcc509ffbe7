//! Rebuilds apigen when an embedded template, the runtime crate or the starter spec changes
//! (include_dir does not tell cargo about the files it reads on stable Rust).
fn main() {
    println!("cargo:rerun-if-changed=templates");
    println!("cargo:rerun-if-changed=runtime/Cargo.toml");
    println!("cargo:rerun-if-changed=runtime/README.md");
    println!("cargo:rerun-if-changed=runtime/src");
    println!("cargo:rerun-if-changed=runtime/sql");
    println!("cargo:rerun-if-changed=specs/bookstore.yaml");
}
