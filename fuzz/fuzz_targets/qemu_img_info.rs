#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| snf_image_creator::fuzzing::run("qemu_img_info", data));
