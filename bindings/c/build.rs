//! Gives libworkerlife.so a versioned SONAME, so programs linked against
//! one ABI never load an incompatible one. Before 1.0 every minor version
//! may break the ABI, so the SONAME carries it: libworkerlife.so.0.1.

fn main() {
    let major = std::env::var("CARGO_PKG_VERSION_MAJOR").unwrap();
    let minor = std::env::var("CARGO_PKG_VERSION_MINOR").unwrap();
    let soname = if major == "0" {
        format!("libworkerlife.so.0.{minor}")
    } else {
        format!("libworkerlife.so.{major}")
    };
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,{soname}");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
