//! Clouds: upload and registration into the local store, through our real
//! `serve` over HTTP on 127.0.0.1 with our client and with kamaki, and to
//! the real Glance (with and without Keystone), Swift (behind Keystone)
//! and SeaweedFS (S3).
//! Most tests upload generated files with `snf-image-creator upload`; one
//! runs the whole job with `snf-mkimage -u … -r …` on a fixture image.

mod accounts;
mod bundle;
mod faults;
mod history;
mod kamaki;
mod lab;
mod local;
mod mkimage;
mod openstack;
mod request_proxy;
mod s3;
mod s3store;
mod server;
mod swift;
