//! Scenario files: the format ([`format`]), and loading with validation into the
//! simulator's configuration ([`load`], [`Scenario`]).

pub mod format;
mod validate;

pub use format::{CheckName, Expect, ScenarioFile};
pub use validate::{Scenario, ScenarioError, load, parse, validate};
