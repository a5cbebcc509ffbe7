//! Rebuilds apigen when an embedded template or the starter spec changes (include_dir does
//! not tell cargo about the files it reads on stable Rust).
fn main() {
    println!("cargo:rerun-if-changed=templates");
    println!("cargo:rerun-if-changed=specs/bookstore.yaml");
}
