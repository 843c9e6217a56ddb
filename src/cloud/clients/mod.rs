//! The clients of the clouds people register images on, each a
//! [`CloudBackend`](crate::cloud::CloudBackend): Synnefo (Astakos, Pithos,
//! Plankton), OpenStack (Keystone, Glance and Swift) and S3.

pub mod glance;
pub mod keystone;
pub mod s3;
pub mod swift;
pub mod synnefo;
