//! Scenario files: the format ([`format`]), and loading with validation into the
//! simulator's configuration ([`load`], [`Scenario`]); errors rendered with their
//! source line, a caret and a help line ([`diagnostic`]).

pub mod diagnostic;
pub mod format;
mod validate;

pub use format::{CheckName, Expect, ScenarioFile};
pub use validate::{Scenario, ScenarioError, load, parse, validate};
