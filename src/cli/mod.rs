//! The snf-mkimage front end.
