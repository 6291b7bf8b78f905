//! The aggregate layer of the session autonomic runtime (work in progress).
