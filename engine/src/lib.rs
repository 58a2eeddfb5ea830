//! The array controller: the interface a foreign engine implements, and mirrorsim's
//! own optimized engine.
//!
//! **API Boundary:** [`iface`] is what another engine implements to be judged by the
//! same simulator, model and checker. It depends only on `model`.
//!
//! **Architecture Invariant:** the engine is sans-IO. It never sees time or randomness
//! except through its inputs; it never does I/O. Inputs (a host request, a media
//! completion, a timer) go in; outputs (submit media I/O, reply to a host, set a
//! timer) come out. The simulator owns time, media and links. `engine` knows nothing
//! about `sim` or `checker`.

pub mod controller;
pub mod iface;
pub mod shared;

pub use controller::{Controller, ControllerFactory};
pub use iface::{
    ArrayConfig, ArrayEngine, CopyKind, CopyStats, EngineFactory, Input, IoId, MediaOp, MediaResult,
    MediaView, Metadata, Notice, Output, Probe, RemotePairView, ReqId, SpaceId, TimerId,
};
