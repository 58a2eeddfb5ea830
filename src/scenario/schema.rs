//! The JSON Schema of scenario files (`scenarios/schema.json`, written by
//! `mirrorsim schema`), generated from the format types in [`super::format`]: every
//! type there derives `schemars::JsonSchema` next to its serde derives, so the schema
//! follows the types (names, defaults, doc comments as descriptions,
//! `deny_unknown_fields` as `additionalProperties: false`). The three value types
//! with hand-written `Deserialize` impls (durations, ratios, distributions) get
//! hand-written schemas here that accept exactly the forms their deserializers
//! accept. A test keeps the committed file equal to [`schema_json`].

use super::format::{DistDef, DistTagged, Duration, RatioDef, ScenarioFile};
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use std::borrow::Cow;

/// The command that rewrites the committed schema (printed by the staleness test).
pub const REFRESH_COMMAND: &str = "cargo run -- schema > scenarios/schema.json";

/// The scenario file schema, pretty-printed, with a final newline.
pub fn schema_json() -> String {
    let mut schema = schemars::schema_for!(ScenarioFile);
    schema.insert("title".into(), "mirrorsim scenario file".into());
    let mut s = serde_json::to_string_pretty(&schema).expect("a schema serializes");
    s.push('\n');
    s
}

impl JsonSchema for Duration {
    fn schema_name() -> Cow<'static, str> {
        "Duration".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "Simulated time: nanoseconds as an integer, or a whole number with a unit: \"250ns\", \"80us\", \"5ms\", \"2s\".",
            "anyOf": [
                { "type": "integer", "minimum": 0 },
                { "type": "string", "pattern": "^\\s*[0-9]+\\s*(ns|us|µs|ms|s)?\\s*$" }
            ]
        })
    }
}

impl JsonSchema for RatioDef {
    fn schema_name() -> Cow<'static, str> {
        "Ratio".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A probability: \"num/den\" with num <= den and den > 0 (e.g. \"1/100\"), or 0 or 1.",
            "anyOf": [
                { "enum": [0, 1] },
                { "type": "string", "pattern": "^\\s*[0-9]+\\s*/\\s*[0-9]+\\s*$" }
            ]
        })
    }
}

impl<T: JsonSchema> JsonSchema for DistDef<T> {
    fn schema_name() -> Cow<'static, str> {
        format!("Dist_of_{}", T::schema_name()).into()
    }
    fn json_schema(g: &mut SchemaGenerator) -> Schema {
        let bare = g.subschema_for::<T>();
        let tagged = g.subschema_for::<DistTagged<T>>();
        json_schema!({
            "description": "A distribution: a bare value (shorthand for {\"constant\": v}), {\"constant\": v}, {\"uniform\": [min, max]} (inclusive) or {\"bimodal\": {\"fast\": [min, max], \"slow\": [min, max], \"slow_ratio\": \"num/den\"}}.",
            "anyOf": [bare, tagged]
        })
    }
}
