//! How many libguestfs calls the product makes: every handle the helper
//! VM uses counts its calls here (libguestfs's "enter" event, sent once
//! per API call, nested calls such as `read_file` → `download` included),
//! so that a run's report can say how many it made and which.
//!
//! The binding has no event API, so this module declares libguestfs's
//! own and reaches the handle's pointer: the one place `unsafe` is used.
#![allow(unsafe_code)]

use std::collections::BTreeMap;
use std::ffi::{c_char, c_int, c_void};
use std::sync::Mutex;

use anyhow::{Result, bail};
use guestfs::Handle;

/// The calls made so far in this process, by name.
static CALLS: Mutex<BTreeMap<String, u64>> = Mutex::new(BTreeMap::new());

/// The calls made so far in this process, by name.
pub fn snapshot() -> BTreeMap<String, u64> {
    CALLS.lock().map(|c| c.clone()).unwrap_or_default()
}

/// The calls made since `before` (a [`snapshot`]), by name.
pub fn since(before: &BTreeMap<String, u64>) -> BTreeMap<String, u64> {
    let mut now = snapshot();
    for (name, n) in &mut now {
        *n -= before.get(name).copied().unwrap_or(0).min(*n);
    }
    now.retain(|_, n| *n > 0);
    now
}

fn note(name: &str) {
    if let Ok(mut calls) = CALLS.lock() {
        *calls.entry(name.to_owned()).or_default() += 1;
    }
}

const GUESTFS_EVENT_ENTER: u64 = 0x0080;

type EventCallback = extern "C" fn(
    *mut c_void,
    *mut c_void,
    u64,
    c_int,
    c_int,
    *const c_char,
    usize,
    *const u64,
    usize,
);

#[link(name = "guestfs")]
unsafe extern "C" {
    fn guestfs_set_event_callback(
        g: *mut c_void,
        cb: EventCallback,
        event_bitmask: u64,
        flags: c_int,
        opaque: *mut c_void,
    ) -> c_int;
}

extern "C" fn on_enter(
    _g: *mut c_void,
    _opaque: *mut c_void,
    _event: u64,
    _event_handle: c_int,
    _flags: c_int,
    buf: *const c_char,
    buf_len: usize,
    _array: *const u64,
    _array_len: usize,
) {
    let name = if buf.is_null() {
        "?".into()
    } else {
        // SAFETY: libguestfs passes the call's name as `buf_len` bytes at
        // `buf`, valid for the duration of the callback.
        let bytes = unsafe { std::slice::from_raw_parts(buf.cast::<u8>(), buf_len) };
        String::from_utf8_lossy(bytes)
    };
    note(&name);
}

// The binding keeps its `guestfs_h` pointer private and offers no event
// API; its `Handle` is that one pointer and nothing else.
const _: () = assert!(std::mem::size_of::<Handle>() == std::mem::size_of::<*mut c_void>());

/// Count the calls made on `g` from now on.
pub(crate) fn count(g: &Handle) -> Result<()> {
    // SAFETY: `Handle` holds exactly the `guestfs_h *` it was created with
    // (checked in size above); the callback touches no handle state and
    // lives as long as the program.
    let rc = unsafe {
        let raw: *mut c_void = std::mem::transmute_copy(g);
        guestfs_set_event_callback(raw, on_enter, GUESTFS_EVENT_ENTER, 0, std::ptr::null_mut())
    };
    if rc < 0 {
        bail!("libguestfs refused to count calls on its handle");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_on_a_handle_are_counted_by_name() {
        let before = snapshot();
        let g = Handle::create().unwrap();
        count(&g).unwrap();
        g.set_trace(false).unwrap();
        g.get_memsize().unwrap();
        g.get_memsize().unwrap();
        let made = since(&before);
        assert_eq!(made.get("get_memsize"), Some(&2), "{made:?}");
        assert_eq!(made.get("set_trace"), Some(&1), "{made:?}");
    }

    #[test]
    fn a_handle_not_counted_adds_nothing() {
        let g = Handle::create().unwrap();
        let before = snapshot();
        g.get_verbose().unwrap();
        assert_eq!(since(&before).get("get_verbose"), None);
    }
}
