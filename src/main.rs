//! The one binary: `snf-mkimage` and `snf-image-creator` by the name it is
//! called under.

fn main() -> std::process::ExitCode {
    snf_image_creator::cli::main()
}
