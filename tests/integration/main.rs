//! Integration tests: the real binary, real disk images holding a real
//! Debian tree, a real libguestfs helper VM. One test binary (so fixtures
//! are built once); each test shares helper-VM launches where it can.

mod bad_input;
mod boot;
mod bsd;
mod bsd_exports;
mod cli;
mod cloud;
mod deb;
mod export;
mod firstboot;
mod host;
mod host_snapshot;
mod lvm;
mod lvm_refused;
mod online;
mod secrets;
mod shrink;
mod shrink_recovery;
mod support;
mod sysprep;
mod tmux;
mod tree;
mod tui;
mod tui_signals;
mod windows;
mod windows_sysprep;
