//! The checker's findings, and the one line `kizuna-sim` prints of them.

/// The checker's findings.
#[derive(Clone, Debug, Default)]
pub struct Verdict {
    /// Every phone and the relay hold the same rooms, post numbers are dense and unique, no
    /// report is doubled, and the audit log is intact.
    pub converged: bool,
    /// Changes phones were told the relay accepted (documents synced without refusal, whole
    /// photos uploaded).
    pub acknowledged: u64,
    /// Changes saved on a phone or acknowledged by the relay that are missing anywhere: after a
    /// phone's kill in its own store, or at the end on any phone.
    pub lost: u64,
    /// Relay kills.
    pub relay_kills: u64,
    /// Times the relay was killed and restored from a backup taken earlier in the run.
    pub relay_restores: u64,
    /// Faults injected that took effect: cuts, resets, delays, duplicates and replays.
    pub faults: u64,
    /// Operations the phones performed (writes and syncs).
    pub operations: u64,
    /// Phone processes killed (each then restarted from its store), by the simulator or at
    /// a crash point of their own.
    pub device_kills: u64,
    /// Of those, deaths at a phone's own crash point inside an operation.
    pub crash_points: u64,
    /// Changes phones were told were saved on their disk.
    pub saved: u64,
    /// Connections cut with an orderly end of stream.
    pub cuts: u64,
    /// Connections reset (RST).
    pub resets: u64,
    /// Delays that held back bytes.
    pub delays: u64,
    /// Requests or uploads that reached the relay twice.
    pub duplicates: u64,
    /// Old requests replayed.
    pub replays: u64,
    /// What failed, if anything.
    pub problem: Option<String>,
}

impl Verdict {
    pub(super) fn fail(&mut self, problem: String) {
        self.converged = false;
        if self.problem.is_none() {
            self.problem = Some(problem);
        }
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "verdict: {}; acknowledged {}, lost {}, relay kills {}, relay restores {}, faults {}, operations {}, \
             device kills {} ({} at crash points), saved {}, cuts {}, resets {}, delays {}, \
             duplicates {}, replays {}",
            if self.converged && self.lost == 0 {
                "converged".to_string()
            } else {
                format!(
                    "FAILED ({})",
                    self.problem.as_deref().unwrap_or("state differs")
                )
            },
            self.acknowledged,
            self.lost,
            self.relay_kills,
            self.relay_restores,
            self.faults,
            self.operations,
            self.device_kills,
            self.crash_points,
            self.saved,
            self.cuts,
            self.resets,
            self.delays,
            self.duplicates,
            self.replays
        )
    }
}
