//! The Synnefo storage and image protocols, shared by the Synnefo client,
//! the local store and `serve`: Pithos block hashmaps, the upload algorithm
//! over any store that speaks it (and its one-pass reader), and Plankton's
//! wire forms of an image.

pub mod hashmap;
pub mod onepass;
pub mod plankton;
pub mod transfer;
