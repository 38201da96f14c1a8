//! Every input under `fuzz/regressions/<target>/` (crashes and hangs the fuzzers found, kept once
//! fixed) and `fuzz/seeds/<target>/` through its fuzz target: no panic, no broken output rule
//! (the targets assert them), and within the bounds.

use std::path::{Path, PathBuf};

use crate::bounds::{MIB, Turn, bounded, turn};
use crate::targets;

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

fn replay(turn: &Turn, kind: &str) -> usize {
    let mut ran = 0;
    for (name, run) in targets::TARGETS {
        let dir = fuzz_dir().join(kind).join(name);
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        let mut files: Vec<PathBuf> = entries.map(|e| e.unwrap().path()).filter(|p| p.is_file()).collect();
        files.sort();
        for file in files {
            let data = std::fs::read(&file).unwrap();
            let what = format!("{name} {}", file.display());
            // Fuzz inputs are small (AFL's limit is 1 MB): any of them taking seconds or
            // hundreds of MiB is a finding.
            let run = *run;
            bounded(turn, &what, 30, 256 * MIB, move || run(&data));
            ran += 1;
        }
    }
    ran
}

#[test]
fn every_kept_fuzz_finding_runs_clean() {
    let turn = turn();
    // The directory may be empty (nothing found yet); the seeds below make sure the replay runs.
    let ran = replay(&turn, "regressions");
    eprintln!("{ran} regression inputs");
}

#[test]
fn every_fuzz_seed_runs_clean() {
    let turn = turn();
    let ran = replay(&turn, "seeds");
    assert!(ran >= targets::TARGETS.len(), "no seeds found under {}", fuzz_dir().join("seeds").display());
    for (name, _) in targets::TARGETS {
        assert!(fuzz_dir().join("seeds").join(name).is_dir(), "no seeds for the {name} target");
    }
}
