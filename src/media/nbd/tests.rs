use super::*;
use crate::process::CommandExt;

/// A 4 MiB qcow2 with 64 KiB of 0xab at 1 MiB and zeros elsewhere.
fn fixture(dir: &Path) -> PathBuf {
    let img = dir.join("disk.qcow2");
    Command::new("qemu-img")
        .args(["create", "-q", "-f", "qcow2"])
        .arg(&img)
        .arg("4M")
        .run_checked()
        .unwrap();
    Command::new("qemu-io")
        .args(["-f", "qcow2", "-c", "write -P 0xab 1M 64k"])
        .arg(&img)
        .run_checked()
        .unwrap();
    img
}

fn serve(dir: &Path) -> NbdServer {
    let img = fixture(dir);
    NbdServer::start(&img, &ImageFormat::Qcow2, &dir.join("nbd.sock")).unwrap()
}

fn expected_byte(at: usize) -> u8 {
    if ((1 << 20)..(1 << 20) + (64 << 10)).contains(&at) {
        0xab
    } else {
        0
    }
}

#[test]
fn reads_back_what_qemu_io_wrote() {
    let dir = tempfile::tempdir().unwrap();
    let server = serve(dir.path());
    let mut client = server.connect().unwrap();
    assert_eq!(client.size(), 4 << 20);
    let mut buf = vec![0x55u8; 72 << 10];
    client.read_at((1 << 20) - 4096, &mut buf).unwrap();
    for (i, &b) in buf.iter().enumerate() {
        assert_eq!(b, expected_byte((1 << 20) - 4096 + i), "byte {i}");
    }
}

#[test]
fn splits_and_pipelines_large_reads() {
    let dir = tempfile::tempdir().unwrap();
    let server = serve(dir.path());
    let mut client = server.connect().unwrap();
    // Small requests, so one read becomes many pieces, more than the
    // pipeline depth, with a short last one.
    client.max_request = 48 << 10;
    let mut whole = vec![0x55u8; 4 << 20];
    client.read_at(0, &mut whole).unwrap();
    assert!(
        whole
            .iter()
            .enumerate()
            .all(|(i, &b)| b == expected_byte(i))
    );
    // The connection stays usable after a multi-piece read.
    let mut one = [0u8; 1];
    client.read_at(1 << 20, &mut one).unwrap();
    assert_eq!(one[0], 0xab);
}

#[test]
fn reading_past_the_end_fails_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let server = serve(dir.path());
    let mut client = server.connect().unwrap();
    let err = client.read_at((4 << 20) - 10, &mut [0u8; 20]).unwrap_err();
    assert!(
        format!("{err:#}").contains("the export has 4194304 bytes"),
        "{err:#}"
    );
    client.read_at(0, &mut [0u8; 10]).unwrap();
}

#[test]
fn two_clients_in_turn_and_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let server = serve(dir.path());
    drop(server.connect().unwrap());
    let mut a = server.connect().unwrap();
    let mut b = server.connect().unwrap();
    let (mut x, mut y) = ([0u8; 4], [0u8; 4]);
    a.read_at(1 << 20, &mut x).unwrap();
    b.read_at(1 << 20, &mut y).unwrap();
    assert_eq!((x, y), ([0xab; 4], [0xab; 4]));
}

#[test]
fn drop_leaves_no_process_and_no_socket() {
    let dir = tempfile::tempdir().unwrap();
    let server = serve(dir.path());
    let _client = server.connect().unwrap();
    let pid = server.pid().unwrap();
    let socket = server.socket().to_owned();
    assert!(Path::new(&format!("/proc/{pid}")).exists());
    drop(server);
    // Reaped, not a zombie: the pid no longer exists at all.
    assert!(
        !Path::new(&format!("/proc/{pid}")).exists(),
        "qemu-nbd {pid} is still there"
    );
    assert!(!socket.exists(), "{} is still there", socket.display());
}

#[test]
fn early_exit_reports_qemu_nbd_message() {
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("not.qcow2");
    std::fs::write(&raw, vec![0u8; 65536]).unwrap();
    let sock = dir.path().join("nbd.sock");
    let err = NbdServer::start(&raw, &ImageFormat::Qcow2, &sock).unwrap_err();
    let msg = format!("{err:#}");
    assert!(msg.contains("qemu-nbd could not serve"), "{msg}");
    assert!(msg.contains("qcow2"), "{msg}");
    assert!(!sock.exists());
}

#[test]
fn stop_reports_success() {
    let dir = tempfile::tempdir().unwrap();
    let server = serve(dir.path());
    let socket = server.socket().to_owned();
    server.stop().unwrap();
    assert!(!socket.exists());
}
