//! Benchmarks of the mTCP toolkit live in `benches/`; this library is empty.
