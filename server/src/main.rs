//! The `kizuna` relay binary.

fn main() {
    println!("kizuna relay: not yet built (see issue 3)");
}
