//! The cloud options of `snf-mkimage`, `upload` and `serve`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use crate::cloud::local::history::Channel;
use crate::cloud::local::serve::{Server, Tokens};
use crate::cloud::local::store::Store;
use crate::cloud::request::{AccountRequest, UploadRequest};
use crate::cloud::{RemoteImage, Secret};

/// A channel name from the command line (clap's value parser).
pub(super) fn parse_channel(s: &str) -> Result<Channel, String> {
    Channel::parse(s).ok_or_else(|| format!("`{s}' is not a channel: use test or production"))
}

/// A token from the command line (clap's value parser; never fails).
pub(super) fn parse_secret(s: &str) -> Result<Secret, std::convert::Infallible> {
    Ok(Secret::new(s))
}

/// Which account: a saved Synnefo cloud, an URL and token, or the local
/// image store (the default).
#[derive(Debug, Args, Default)]
pub struct AccountArgs {
    /// Use this Synnefo cloud saved in kamaki's configuration (~/.kamakirc,
    /// or $KAMAKI_CONFIG); `openstack:NAME` for a clouds.yaml entry (Glance
    /// v2); `swift:NAME` for its Swift object store (into --container);
    /// `s3:BUCKET` for S3 (credentials as the AWS tools read them).
    #[arg(short = 'c', long = "cloud", value_name = "CLOUD", global = true)]
    pub cloud: Option<String>,

    /// The Synnefo authentication (Astakos identity) URL; needs -t.
    #[arg(
        short = 'a',
        long = "authentication-url",
        value_name = "URL",
        global = true
    )]
    pub auth_url: Option<String>,

    /// The Synnefo token; needs -a.
    #[arg(short = 't', long = "token", value_name = "TOKEN", value_parser = parse_secret, global = true)]
    pub token: Option<Secret>,

    /// The image store to use: a directory, or s3://BUCKET[/PREFIX] with
    /// the S3 credentials and endpoint the S3 target reads (default:
    /// $SNF_IMAGE_STORE, else ~/.local/share/snf-image-creator/store).
    #[arg(long, value_name = "DIR", global = true)]
    pub store: Option<PathBuf>,
}

impl AccountArgs {
    /// The account part of a request.
    pub fn request(&self) -> AccountRequest {
        AccountRequest {
            cloud: self.cloud.clone(),
            auth_url: self.auth_url.clone(),
            token: self.token.clone(),
            store: self.store.clone(),
        }
    }
}

/// Upload and registration options of `snf-mkimage`.
#[derive(Debug, Args, Default)]
pub struct CloudArgs {
    /// Upload the image under this object name (into the local image
    /// store unless a cloud is named). Without -o, the image is exported
    /// into the work directory first.
    #[arg(short = 'u', long = "upload", value_name = "NAME")]
    pub upload: Option<String>,

    /// Register the uploaded image under this name (needs -u).
    #[arg(short = 'r', long = "register", value_name = "IMAGENAME")]
    pub register: Option<String>,

    /// Register the image as public, and share its .md5sum and .meta.
    #[arg(long)]
    pub public: bool,

    /// Description of the registered image (its DESCRIPTION property).
    #[arg(short = 'd', long = "description", value_name = "TEXT")]
    pub description: Option<String>,

    /// Container to upload into (default: images).
    #[arg(long, value_name = "CONTAINER")]
    pub container: Option<String>,

    /// Put the registered version in this channel of the local store
    /// (test; production takes `images promote` after testing).
    #[arg(long, value_name = "CHANNEL", value_parser = parse_channel)]
    pub channel: Option<Channel>,

    /// Keep these triggers (Dominator's JSON: [{"MatchLines": [REGEX…],
    /// "Service": NAME}]) with the registered version; `images diff
    /// --triggers` names the services whose files changed.
    #[arg(long, value_name = "FILE")]
    pub triggers: Option<PathBuf>,

    #[command(flatten)]
    pub account: AccountArgs,
}

impl CloudArgs {
    /// The cloud part of the request.
    pub fn request(&self) -> UploadRequest {
        UploadRequest {
            upload: self.upload.clone(),
            register: self.register.clone(),
            public: self.public,
            description: self.description.clone(),
            container: self.container.clone(),
            channel: self.channel,
            triggers: self.triggers.clone(),
            account: self.account.request(),
        }
    }
}

/// Exit code 0, or the error on one line and its exit code.
pub(super) fn report(result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("Error: {e:#}");
            ExitCode::from(crate::process::exit_code(&e))
        }
    }
}

/// `snf-image-creator serve`: the local store over the Synnefo APIs.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address and port to listen on (port 0: any free port).
    #[arg(long, value_name = "ADDR:PORT", default_value = "127.0.0.1:8800")]
    pub listen: String,

    /// The local image store to serve (default as for snf-mkimage --store).
    #[arg(long, value_name = "DIR")]
    pub store: Option<PathBuf>,

    /// File of accepted tokens, one `TOKEN UUID [NAME]` per line (default:
    /// DIR/tokens, created with one token for the store's owner).
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
}

/// Run the server until the process is stopped.
pub fn serve(args: &ServeArgs) -> ExitCode {
    report(serve_inner(args))
}

fn serve_inner(args: &ServeArgs) -> anyhow::Result<()> {
    let root = args.store.clone().unwrap_or_else(Store::default_root);
    let store = Store::open(&root)?;
    if store.local_dir().is_none() {
        return Err(crate::process::UsageError::new(format!(
            "serve takes an image store in a directory, not {}",
            store.describe()
        ))
        .into());
    }
    let (tokens, token_file) = Tokens::load_or_create(&store, args.token_file.as_deref())?;
    let log = std::sync::Arc::new(|line: String| eprintln!("{line}"));
    let server = Server::start(&root, &args.listen, tokens, log)?;
    eprintln!("Serving the image store at {}", root.display());
    eprintln!("Tokens: {}", token_file.display());
    eprintln!("Listening on http://{}", server.addr());
    eprintln!(
        "Identity URL (kamaki url, snf-mkimage -a): {}",
        server.identity_url()
    );
    server.wait();
    Ok(())
}

/// `snf-image-creator upload`: upload (and register) an image exported
/// before, with the properties of its `.meta` file.
#[derive(Debug, Args)]
pub struct UploadArgs {
    /// The exported image (a diskdump; its FILE.meta is read if present).
    #[arg(value_name = "FILE")]
    pub file: PathBuf,

    /// Add or override a property (KEY=VALUE, key upper-cased). Repeatable.
    #[arg(short = 'm', long = "metadata", value_name = "KEY=VALUE")]
    pub metadata: Vec<String>,

    /// Overwrite existing objects.
    #[arg(short = 'f', long)]
    pub force: bool,

    /// Print only errors.
    #[arg(short = 's', long)]
    pub silent: bool,

    /// Upload the image even when its FILE.report.json lists secrets the
    /// scan found.
    #[arg(long)]
    pub allow_secrets: bool,

    #[command(flatten)]
    pub cloud: CloudArgs,
}

/// Run `upload`.
pub fn upload(args: &UploadArgs) -> ExitCode {
    let console = match super::console::Console::take_stderr(args.silent) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("Error: cannot set up the terminal output: {e}");
            return ExitCode::from(1);
        }
    };
    match upload_inner(args, &console) {
        Ok(image) => {
            if let Some(image) = image {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&image).unwrap_or_default()
                );
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            console.error(&format!("{e:#}"));
            ExitCode::from(crate::process::exit_code(&e))
        }
    }
}

fn upload_inner(
    args: &UploadArgs,
    console: &super::console::Console,
) -> anyhow::Result<Option<RemoteImage>> {
    use crate::pipeline::upload;
    use crate::plan::UsageError;
    if !args.file.is_file() {
        return Err(UsageError(format!("{}: no such file", args.file.display())).into());
    }
    let mut request = args.cloud.request();
    if request.upload.is_none() {
        let name = args.file.file_name().unwrap_or_default().to_string_lossy();
        request.upload = Some(name.into_owned());
    }
    let description = request.description.clone();
    let plan = request
        .validate()?
        .ok_or_else(|| UsageError("nothing to upload".into()))?;
    let mut props = upload::properties_of(&args.file)?;
    for m in &args.metadata {
        let (k, v) = crate::guest::metadata::parse_assignment(m)
            .map_err(|e| UsageError(format!("-m {m}: {e}")))?;
        props.insert(k, v);
    }
    if let Some(d) = description {
        props.insert("DESCRIPTION".into(), d);
    }
    crate::pipeline::secrets::check_recorded(&args.file, args.allow_secrets, console)?;
    let prepared = upload::connect(&plan, args.force, console)?;
    upload::publish_file(&prepared, &args.file, &props, console)
}
