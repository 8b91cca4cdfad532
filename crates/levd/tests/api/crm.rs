//! (owned by the crm work) Black-box tests of this domain.
