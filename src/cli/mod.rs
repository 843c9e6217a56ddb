//! The command-line front end: `snf-mkimage`, and `snf-image-creator` with
//! its subcommands. Parses, builds a [`crate::plan::Plan`], runs the
//! pipeline with a [`console::Console`], and maps the outcome to an exit
//! code: 0 success, 1 runtime error, 2 usage error, 128 + the signal when
//! stopped by one (130 SIGINT, 143 SIGTERM, 129 SIGHUP).

pub mod accounts;
pub mod args;
pub mod boot_test;
pub mod bundle;
pub mod cloud;
pub mod console;
pub mod docs;
pub mod images;
pub mod json;

use std::ffi::OsString;
use std::io::IsTerminal;
use std::path::Path;
use std::process::ExitCode;

use clap::Parser;

use crate::pipeline::{self, doctor};
use crate::plan::Work;
use crate::process::{Cancel, StopReason};
use args::{Command, CreatorCli, MkimageArgs, MkimageCli, UiArgs};
use console::Console;

/// Entry point of the binary, under whichever name it was called.
pub fn main() -> ExitCode {
    let argv: Vec<OsString> = std::env::args_os().collect();
    let called_as = argv
        .first()
        .and_then(|a| Path::new(a).file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if called_as == "snf-mkimage" {
        return mkimage(&MkimageCli::parse_from(argv).args);
    }
    let cli = CreatorCli::parse_from(argv);
    match cli.command {
        Some(Command::Mkimage(args)) => mkimage(&args),
        Some(Command::Doctor { tmpdir, json }) => run_doctor(tmpdir.as_deref(), json),
        Some(Command::Images(args)) => images::run(&args),
        Some(Command::Serve(args)) => cloud::serve(&args),
        Some(Command::Upload(args)) => cloud::upload(&args),
        Some(Command::Accounts(args)) => accounts::run(&args),
        Some(Command::BootTest(args)) => boot_test::run(&args),
        Some(Command::Man { dir }) => man(&dir),
        Some(Command::Completions { shell, mkimage }) => {
            docs::write_completions(shell, mkimage, &mut std::io::stdout());
            ExitCode::SUCCESS
        }
        None => ui(&cli.ui),
    }
}

/// Write the man pages into `dir`, naming each.
fn man(dir: &Path) -> ExitCode {
    match docs::write_man_pages(dir) {
        Ok(pages) => {
            for p in pages {
                println!("{}", p.display());
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("Error: {e:#}");
            ExitCode::from(1)
        }
    }
}

/// The terminal UI, after the checks that need no terminal.
fn ui(args: &UiArgs) -> ExitCode {
    if !std::io::stdout().is_terminal() {
        eprintln!("Error: the terminal UI needs a terminal: run it in one, or use `snf-mkimage`");
        return ExitCode::from(2);
    }
    if let Some(dir) = &args.tmpdir
        && !dir.is_dir()
    {
        eprintln!(
            "Error: --tmpdir {}: no such directory (create it or name another)",
            dir.display()
        );
        return ExitCode::from(2);
    }
    crate::ui::run(args.options())
}

fn mkimage(args: &MkimageArgs) -> ExitCode {
    let console = match Console::take_stderr(args.silent) {
        Ok(c) => c.with_json(args.json),
        Err(e) => {
            eprintln!("Error: cannot set up the terminal output: {e}");
            return ExitCode::from(1);
        }
    };
    install_panic_hook(&console);
    let plan = match args.request().validate() {
        Ok(plan) => plan,
        Err(e) => return fail(&console, &e.into()),
    };
    if plan.print_filter {
        for line in plan.tree.iter().flat_map(|t| t.filter.lines()) {
            println!("{line}");
        }
        return ExitCode::SUCCESS;
    }
    let cancel = Cancel::new();
    if let Err(e) = watch_signals(&cancel) {
        return fail(&console, &e);
    }
    let title = format!("snf-image-creator {}", env!("CARGO_PKG_VERSION"));
    console.line(&format!("{title}\n{}", "=".repeat(title.len())));
    let control = pipeline::Control {
        cancel,
        ..Default::default()
    };
    match pipeline::run(&plan, &console, &control) {
        Ok(outcome) => {
            print_outcome(
                &outcome,
                args.json && matches!(plan.work, Work::Export { .. }),
            );
            console.line("\nsnf-image-creator exited without errors");
            ExitCode::SUCCESS
        }
        Err(e) => fail(&console, &e),
    }
}

/// On standard output: the outcome document with `--json` (`as_json`),
/// else the registered image, if any.
fn print_outcome(outcome: &pipeline::Outcome, as_json: bool) {
    if as_json {
        json::print(&json::outcome(outcome));
    } else if let Some(image) = &outcome.image {
        println!(
            "{}",
            serde_json::to_string_pretty(image).unwrap_or_default()
        );
    }
}

/// Print the error on one line, chain included, and pick the exit code.
fn fail(console: &Console, err: &anyhow::Error) -> ExitCode {
    console.error(&format!("{err:#}"));
    ExitCode::from(crate::process::exit_code(err))
}

/// SIGINT, SIGTERM and SIGHUP raise the cancel flag with their reason;
/// the pipeline stops at its next check and its guards clean up. A second
/// SIGINT (Ctrl-C pressed again) ends the process at once; a repeated
/// SIGTERM or SIGHUP does not (a lost ssh session sends more than one
/// SIGHUP, and the clean-up must still happen).
fn watch_signals(cancel: &Cancel) -> anyhow::Result<()> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let seen = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    signal_hook::flag::register_conditional_shutdown(
        SIGINT,
        StopReason::Interrupt.exit_code().into(),
        seen.clone(),
    )?;
    for sig in [SIGINT, SIGTERM, SIGHUP] {
        signal_hook::flag::register(sig, seen.clone())?;
    }
    let cancel = cancel.clone();
    crate::process::watch_signals(move |reason| cancel.raise(reason))
}

/// Panics go through our copy of stderr (fd 2 points at /dev/null).
fn install_panic_hook(console: &Console) {
    let Some(out) = console.clone_output() else {
        return;
    };
    std::panic::set_hook(Box::new(move |info| {
        let msg = format!("Error: internal error: {info}\n");
        let _ = std::io::Write::write_all(&mut &out, msg.as_bytes());
    }));
}

fn run_doctor(tmpdir: Option<&Path>, as_json: bool) -> ExitCode {
    let checks = doctor::run(tmpdir);
    if as_json {
        let doc = json::checks(&checks);
        json::print(&doc);
        return ExitCode::from(u8::from(doc["problems"] != 0));
    }
    let width = checks.iter().map(|c| c.name.len()).max().unwrap_or(0);
    let mut problems = 0;
    for c in &checks {
        let mark = if c.fix.is_some() { "PROBLEM" } else { "ok" };
        println!("{:<width$}  {mark:<7}  {}", c.name, c.found);
        if let Some(fix) = &c.fix {
            problems += 1;
            println!("{:<width$}  {:<7}  fix: {fix}", "", "");
        }
    }
    if problems == 0 {
        println!("\nAll checks passed.");
        ExitCode::SUCCESS
    } else {
        println!("\n{problems} problem(s) found.");
        ExitCode::from(1)
    }
}
