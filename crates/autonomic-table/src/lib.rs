//! The table layer of the session autonomic runtime (work in progress).
