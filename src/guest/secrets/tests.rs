use super::*;
use crate::guest::memfs::MemGuest;

const PEM: &str = "-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----\n";
const GH: &str = "ghp_0123456789abcdefghijABCDEFGHIJ012345";

/// Per kind: a path, content that fires, and a clean look-alike at the
/// same path that must not.
const PLANTED: &[(Kind, &str, &str, &str)] = &[
    (
        Kind::SharedTlsKey,
        "/etc/ssl/private/ssl-cert-snakeoil.key",
        PEM,
        "-----BEGIN CERTIFICATE-----\nMIIB\n",
    ),
    (
        Kind::PemPrivateKey,
        "/home/u/x.pem",
        PEM,
        "-----BEGIN PUBLIC KEY-----\n",
    ),
    (
        Kind::PemPrivateKey,
        "/root/ec.key",
        "-----BEGIN EC PRIVATE KEY-----\n",
        "# make one with: openssl genrsa > key (writes a PRIVATE KEY)\n",
    ),
    (
        Kind::OpensshPrivateKey,
        "/root/.ssh/id_ed25519",
        "-----BEGIN OPENSSH PRIVATE KEY-----\nb3Bl\n",
        "ssh-ed25519 AAAAC3Nza user@host\n",
    ),
    (
        Kind::PuttyPrivateKey,
        "/home/u/key.ppk",
        "PuTTY-User-Key-File-3: ssh-ed25519\nEncryption: none\n",
        "Convert PuTTY-User-Key-File- files with puttygen\n",
    ),
    (
        Kind::AwsCredentials,
        "/root/.aws/credentials",
        "[default]\naws_access_key_id = X\naws_secret_access_key = abc/def\n",
        "[default]\naws_secret_access_key =\n",
    ),
    (
        Kind::GcpServiceAccount,
        "/opt/app/sa.json",
        "{\"type\": \"service_account\", \"private_key\": \"-----BEGIN PRIVATE KEY-----\\nMII\"}",
        "{\"type\": \"service_account\", \"client_email\": \"a@b\"}",
    ),
    (
        Kind::AzureProfile,
        "/home/u/.azure/msal_token_cache.json",
        "{\"AccessToken\": {\"x\": {\"secret\": \"eyJ0\"}}}",
        "{\"AccessToken\": {}, \"RefreshToken\": {}}",
    ),
    (
        Kind::Kubeconfig,
        "/root/.kube/config",
        "users:\n- name: a\n  user:\n    token: abcdef\n",
        "users:\n- name: a\n  user:\n    exec:\n      command: aws\n",
    ),
    (
        Kind::DockerAuth,
        "/root/.docker/config.json",
        "{\"auths\": {\"r.io\": {\"auth\": \"dXNlcjpwYXNz\"}}}",
        "{\"auths\": {\"r.io\": {}}, \"credsStore\": \"pass\"}",
    ),
    (
        Kind::Netrc,
        "/home/u/.netrc",
        "machine h login u password p4ss\n",
        "machine h login u\n",
    ),
    (
        Kind::Pgpass,
        "/var/lib/postgresql/.pgpass",
        "localhost:5432:db:user:pw\n",
        "# hostname:port:database:username:password\n",
    ),
    (
        Kind::GitCredentials,
        "/root/.git-credentials",
        "https://user:tok3n@github.com\n",
        "https://github.com\n",
    ),
    (
        Kind::NpmToken,
        "/home/u/.npmrc",
        "//registry.npmjs.org/:_authToken=npm_abc\n",
        "registry=https://registry.npmjs.org/\n",
    ),
    (
        Kind::PypiPassword,
        "/home/u/.pypirc",
        "[pypi]\nusername = u\npassword = pypi-AgE\n",
        "[pypi]\nusername = __token__\n",
    ),
    (
        Kind::AwsAccessKeyId,
        "/etc/app.conf",
        "key=AKIAIOSFODNN7EXAMPLE\n",
        "key=AKIAIOSFODNN7EXAMPL\n",
    ),
    (Kind::GithubToken, "/etc/app.conf", GH, "ghp_tooshort\n"),
    (
        Kind::GitlabToken,
        "/srv/ci.env",
        "TOKEN=glpat-abcdefghij0123456789\n",
        "TOKEN=glpat-\n",
    ),
    (
        Kind::SlackToken,
        "/opt/bot/env",
        "SLACK=xoxb-1234567890-abcdef\n",
        "SLACK=xoxz-1234567890-abcdef\n",
    ),
    (
        Kind::UsablePassword,
        "/etc/shadow",
        "root:$6$salt$hash:19000:0:99999:7:::\n",
        "root:*:19000:0:99999:7:::\ndaemon:!:19000::::::\nu:!!:1::::::\nv:!$6$x$y:1::::::\n",
    ),
];

#[test]
fn every_rule_fires_on_its_example_and_not_on_the_look_alike() {
    for (kind, path, secret, clean) in PLANTED {
        let kinds: Vec<Kind> = check(path, secret.as_bytes())
            .iter()
            .map(|f| f.kind)
            .collect();
        assert!(kinds.contains(kind), "{kind:?} on {path}: {kinds:?}");
        let quiet = check(path, clean.as_bytes());
        assert!(quiet.is_empty(), "{kind:?}, clean {path}: {quiet:?}");
    }
    let untested: Vec<Kind> = rules::RULES
        .iter()
        .map(|r| r.kind)
        .filter(|k| !PLANTED.iter().any(|p| p.0 == *k))
        .collect();
    assert!(
        untested.is_empty(),
        "rules without an example: {untested:?}"
    );
}

#[test]
fn path_rules_only_look_at_their_paths() {
    let creds = "aws_secret_access_key = abc\n";
    assert!(check("/root/notes.txt", creds.as_bytes()).is_empty());
    let shadow = "root:$6$x$y:1::::::\n";
    assert!(check("/root/shadow.txt", shadow.as_bytes()).is_empty());
}

#[test]
fn empty_passwords_count_and_accounts_are_named_not_hashes() {
    let shadow = "root:$6$salt$secrethash:1::::::\nguest::1::::::\nbin:*:1::::::\n";
    let found = check("/etc/shadow", shadow.as_bytes());
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].labels, ["root", "guest"]);
    let text = found[0].to_string();
    assert!(!text.contains("secrethash"), "{text}");
    assert_eq!(
        text,
        "/etc/shadow: account with a usable password (or none needed) (root, guest)"
    );
}

#[test]
fn bsd_master_passwd_is_read_as_the_shadow_file_is() {
    let master = "# $FreeBSD$\n\
        root:$6$salt$secrethash:0:0::0:0:Charlie &:/root:/bin/sh\n\
        toor:*:0:0::0:0:Bourne-again Superuser:/root:\n\
        locked:*LOCKED*$6$l$hash:1002:1002::0:0:L:/home/locked:/bin/sh\n\
        guest::1003:1003::0:0:G:/home/guest:/bin/sh\n";
    let found = check("/etc/master.passwd", master.as_bytes());
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].kind, Kind::UsablePassword);
    assert_eq!(found[0].labels, ["root", "guest"]);
    assert!(!found[0].to_string().contains("secrethash"));
    // Locked the FreeBSD and NetBSD way, or OpenBSD's: nothing found.
    let locked =
        "root:*LOCKED*:0:0::0:0::/root:/bin/sh\nuser:*:1001:1001::0:0::/home/user:/bin/sh\n";
    assert!(check("/etc/master.passwd", locked.as_bytes()).is_empty());
    // The same lines elsewhere are not a password file.
    assert!(check("/etc/master.passwd.orig", master.as_bytes()).is_empty());
}

#[test]
fn names_are_shown_without_control_characters() {
    let f = Finding {
        path: "/root/\x1b[2Jx.pem".into(),
        kind: Kind::PemPrivateKey,
        labels: vec!["a\nb".into()],
    };
    assert_eq!(
        f.to_string(),
        "/root/\\u{1b}[2Jx.pem: private key (PEM) (a\\nb)"
    );
}

#[test]
fn binary_files_are_not_scanned() {
    let mut data = b"\0ELF".to_vec();
    data.extend_from_slice(GH.as_bytes());
    assert!(check("/usr/local/bin/tool", &data).is_empty());
}

#[test]
fn the_scan_covers_the_roots_and_follows_no_symlink() {
    let mut g = MemGuest::new()
        .file("/etc/passwd", "root:x:0:0::/root:/bin/sh\n")
        .file("/etc/shadow", "root:*:1::::::\n")
        .file("/root/.aws/credentials", "aws_secret_access_key = s3cr3t\n")
        .file("/home/u/x.pem", PEM)
        .file("/etc/app.conf", GH)
        .file("/var/lib/dpkg/info/x.list", GH)
        .file("/var/lib/app/token", GH)
        .file("/usr/share/doc/example", GH)
        .file("/data/secret.pem", PEM)
        .symlink("/srv", "/data")
        .symlink("/opt/link.pem", "/data/secret.pem")
        .file("/etc/big", format!("{GH}{}", " ".repeat(FILE_CAP as usize)));
    let scan = scan(&mut g).unwrap();
    let found: Vec<(String, Kind)> = scan
        .findings
        .iter()
        .map(|f| (f.path.clone(), f.kind))
        .collect();
    assert_eq!(
        found,
        [
            ("/root/.aws/credentials".into(), Kind::AwsCredentials),
            ("/home/u/x.pem".into(), Kind::PemPrivateKey),
            ("/etc/app.conf".into(), Kind::GithubToken),
            ("/var/lib/app/token".into(), Kind::GithubToken),
        ]
    );
    assert_eq!(scan.files, 6);
    assert!(!format!("{:?}", scan.findings).contains("s3cr3t"));
}
