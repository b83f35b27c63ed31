//! `uniffi-bindgen generate target/debug/libkizuna_mobile.so --language kotlin --out-dir …`
fn main() {
    uniffi::uniffi_bindgen_main()
}
