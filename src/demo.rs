//! `convene demo` (placeholder).
