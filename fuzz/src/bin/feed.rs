//! The `feed` fuzz target (see `newswire_fuzz::feed`).

fn main() {
    afl::fuzz!(|data: &[u8]| newswire_fuzz::feed(data));
}
