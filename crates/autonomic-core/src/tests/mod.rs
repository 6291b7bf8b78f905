//! Loom models of this crate's atomic protocols, inside the crate so that they reach its
//! private types (run by `cargo xtask loom`, under `--cfg autonomic_loom`).

mod loom_lifecycle;
mod loom_tag_list;
