use super::*;

fn request(dir: &Path) -> Request {
    let src = dir.join("disk.img");
    std::fs::write(&src, b"x").unwrap();
    Request {
        source: src,
        outfile: Some(dir.join("out.diskdump")),
        ..Default::default()
    }
}

fn err(r: Request) -> String {
    r.validate().unwrap_err().0
}

#[test]
fn valid_request_becomes_plan() {
    let dir = tempfile::tempdir().unwrap();
    let mut r = request(dir.path());
    r.metadata = vec!["description=Debian = good".into()];
    let plan = r.validate().unwrap();
    assert!(plan.snapshot);
    assert_eq!(
        plan.metadata,
        vec![("DESCRIPTION".into(), "Debian = good".into())]
    );
    assert_eq!(
        plan.output,
        Some(Output::File(dir.path().join("out.diskdump")))
    );
}

#[test]
fn refusals() {
    let dir = tempfile::tempdir().unwrap();
    let mut r = request(dir.path());
    r.source = dir.path().join("missing.img");
    assert!(err(r).contains("does not exist"));

    let mut r = request(dir.path());
    r.outfile = None;
    assert!(err(r).contains("nothing to do"));

    let mut r = request(dir.path());
    r.outfile = Some(dir.path().join("nodir/out"));
    assert!(err(r).contains("no such directory"));

    let mut r = request(dir.path());
    r.tmpdir = Some(dir.path().join("notmp"));
    assert!(err(r).contains("--tmpdir"));

    let mut r = request(dir.path());
    r.metadata = vec!["BAD-KEY=1".into()];
    assert!(err(r).contains("BAD-KEY"));
}

#[test]
fn existing_side_file_needs_force() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("out.diskdump.variant"), b"").unwrap();
    let msg = err(request(dir.path()));
    assert!(msg.contains("out.diskdump.variant already exists"), "{msg}");
    let mut r = request(dir.path());
    r.force = true;
    assert!(r.validate().is_ok());
}

#[test]
fn sysprep_options() {
    let dir = tempfile::tempdir().unwrap();
    let mut r = request(dir.path());
    r.outfile = None;
    r.sysprep.print_syspreps = true;
    r.sysprep.enable = vec!["cleanup-mail".into()];
    r.sysprep.params = vec!["bootmenu_timeout=3".into()];
    let plan = r.validate().unwrap();
    assert!(plan.sysprep.run && plan.sysprep.print_tasks);
    assert_eq!(plan.sysprep.params.int("bootmenu_timeout"), 3);

    let mut r = request(dir.path());
    r.sysprep.disable = vec!["cleanup-lgo".into()];
    assert!(err(r).contains("did you mean `cleanup-log`"));
    let mut r = request(dir.path());
    r.sysprep.params = vec!["bootmenu_timeout=x".into()];
    assert!(err(r).contains("not a positive integer"));
}

#[test]
fn no_boot_is_recorded() {
    let dir = tempfile::tempdir().unwrap();
    assert!(!request(dir.path()).validate().unwrap().sysprep.no_boot);
    let mut r = request(dir.path());
    r.sysprep.no_boot = true;
    assert!(r.validate().unwrap().sysprep.no_boot);
}

#[test]
fn an_output_is_never_an_input() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut r = request(d);
    r.outfile = Some(r.source.clone());
    r.force = true;
    assert!(err(r).contains("is the same file as the input"));
    let mut r = request(d);
    std::fs::hard_link(&r.source, d.join("out.diskdump.sha256sum")).unwrap();
    r.force = true;
    let msg = err(r);
    assert!(
        msg.contains("out.diskdump.sha256sum is the same file as the input"),
        "{msg}"
    );
    let mut r = request(d);
    r.outfile = Some(d.join("elsewhere"));
    let plan = r.validate().unwrap();
    let inputs = vec![d.join("elsewhere.meta")];
    assert!(plan.check_inputs_untouched(&inputs).is_err());
}

#[test]
fn dev_null_discards() {
    let dir = tempfile::tempdir().unwrap();
    let mut r = request(dir.path());
    r.outfile = Some("/dev/null".into());
    assert_eq!(r.validate().unwrap().output, Some(Output::Discard));
}

#[test]
fn a_request_decides_its_work() {
    let dir = tempfile::tempdir().unwrap();
    let plan = request(dir.path()).validate().unwrap();
    assert_eq!(plan.work, Work::Export { tasks: true });
    let mut r = request(dir.path());
    r.outfile = None;
    r.mount = Some(dir.path().to_owned());
    let plan = r.validate().unwrap();
    assert_eq!(
        plan.work,
        Work::Mount {
            on: dir.path().to_owned()
        }
    );
}
