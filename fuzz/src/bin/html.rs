//! The `html` fuzz target (see `newswire_fuzz::html`).

fn main() {
    afl::fuzz!(|data: &[u8]| newswire_fuzz::html(data));
}
