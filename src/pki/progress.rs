//! Progress of a long run, for whoever wants to show it (the CLI draws a bar on a terminal). The
//! core only counts: keys generated, items realised.

/// Receives the progress of a run. Every method has a silent default.
pub trait Progress: Sync {
    /// The run has `total` steps.
    fn start(&self, _total: u64) {}
    /// `n` more steps are done.
    fn advance(&self, _n: u64) {}
    /// The run is over (done or failed).
    fn finish(&self) {}
}

/// No progress shown.
pub struct Silent;

impl Progress for Silent {}
