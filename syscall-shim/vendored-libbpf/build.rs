//! libbpf-sys builds libbpf.a and installs its headers under its OUT_DIR and says where
//! (`cargo:include`, seen here as `DEP_BPF_INCLUDE`); this passes both places on.

fn main() {
    let include = std::env::var("DEP_BPF_INCLUDE")
        .expect("libbpf-sys (vendored-libbpf) says where it installed libbpf's headers");
    let lib = std::path::Path::new(&include)
        .parent()
        .expect("the headers are under libbpf-sys's OUT_DIR, beside libbpf.a")
        .to_path_buf();
    assert!(
        lib.join("libbpf.a").exists(),
        "no libbpf.a in {}",
        lib.display()
    );
    println!("cargo:rustc-env=UXDP_VENDORED_LIBBPF_INCLUDE={include}");
    println!("cargo:rustc-env=UXDP_VENDORED_LIBBPF_LIB={}", lib.display());
}
