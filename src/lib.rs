//! mirrorsim
