//! Wiring of the linearizability checker into runs (filled when the checker lands).

use model::{History, VolumeSpec};

/// `None`: not checked. `Some(Ok(reason))`: unknown (budget). `Some(Err(Some(text)))`:
/// a violation. `Some(Err(None))`: linearizable.
pub fn check(_history: &History, _volumes: &[VolumeSpec]) -> Option<Result<String, Option<String>>> {
    None
}
