//! (owned by the placements work) Black-box tests of this domain.
