//! The `text` fuzz target (see `newswire_fuzz::text`).

fn main() {
    afl::fuzz!(|data: &[u8]| newswire_fuzz::text(data));
}
