//! (owned by the directory work) Black-box tests of this domain.
