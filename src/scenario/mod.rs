//! Scenario files: the format ([`format`]), and loading with validation into the
//! simulator's configuration ([`load`], [`Scenario`]); errors rendered with their
//! source line, a caret and a help line ([`diagnostic`]); the JSON Schema of the
//! format ([`schema`]).

pub mod diagnostic;
pub mod format;
pub mod schema;
mod validate;

pub use format::{CheckName, Expect, ScenarioFile};
pub use validate::{Scenario, ScenarioError, load, parse, validate};
