//! The `config` fuzz target (see `newswire_fuzz::config`).

fn main() {
    afl::fuzz!(|data: &[u8]| newswire_fuzz::config(data));
}
