//! `snf-image-creator accounts`: the Synnefo clouds saved in kamaki's
//! configuration file (`$KAMAKI_CONFIG`, else `~/.kamakirc`): list them, add
//! one (its token checked against the cloud first), remove one, or pick the
//! default. Tokens are written to the file (mode 0600) and never printed.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};

use crate::cloud::Secret;
use crate::cloud::config::kamakirc::{CloudAccount, KamakiConfig, config_path};
use crate::plan::UsageError;

/// `snf-image-creator accounts`: the saved clouds.
#[derive(Debug, Args)]
pub struct AccountsArgs {
    #[command(subcommand)]
    pub command: AccountsCommand,

    /// Print the list as JSON (`{"accounts": [...]}`, tokens left out).
    #[arg(long, global = true)]
    pub json: bool,
}

/// The `accounts` subcommands.
#[derive(Debug, Subcommand)]
pub enum AccountsCommand {
    /// List the saved clouds: name, URL, description; `*` marks the default.
    List,
    /// Save a cloud (replacing one of the same name), after checking its
    /// token against the cloud.
    Add {
        /// The cloud's name (letters, digits and ~@#$:-_).
        #[arg(value_name = "NAME")]
        name: String,
        /// The authentication (Astakos identity) URL.
        #[arg(long, value_name = "URL")]
        url: String,
        /// The user's token.
        #[arg(long, value_name = "TOKEN", value_parser = super::cloud::parse_secret)]
        token: Secret,
        /// A description of the cloud.
        #[arg(long, value_name = "TEXT")]
        description: Option<String>,
        /// Make it the default cloud (the first cloud saved always is).
        #[arg(long)]
        default: bool,
        /// Save it without checking the token.
        #[arg(long)]
        no_check: bool,
    },
    /// Remove a saved cloud.
    Remove {
        #[arg(value_name = "NAME")]
        name: String,
    },
    /// Make a saved cloud the default.
    Default {
        #[arg(value_name = "NAME")]
        name: String,
    },
}

/// Run `accounts …`.
pub fn run(args: &AccountsArgs) -> ExitCode {
    match run_inner(args, &config_path()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("Error: {e:#}");
            ExitCode::from(crate::process::exit_code(&e))
        }
    }
}

fn run_inner(args: &AccountsArgs, path: &Path) -> Result<()> {
    let mut config = KamakiConfig::load(path)?;
    match &args.command {
        AccountsCommand::List => {
            match args.json {
                true => super::json::print(&list_json(&config)),
                false => print_list(&config, path),
            }
            return Ok(());
        }
        AccountsCommand::Add {
            name,
            url,
            token,
            description,
            default,
            no_check,
        } => {
            let account = CloudAccount {
                name: name.clone(),
                url: url.clone(),
                token: token.clone(),
                description: description.clone().filter(|d| !d.is_empty()),
            };
            add(&mut config, &account, *default, *no_check)?;
        }
        AccountsCommand::Remove { name } => config
            .remove_cloud(name)
            .map_err(|e| UsageError(e.to_string()))?,
        AccountsCommand::Default { name } => config
            .set_default(name)
            .map_err(|e| UsageError(e.to_string()))?,
    }
    config.save(path)?;
    println!("Saved {}", path.display());
    Ok(())
}

fn add(
    config: &mut KamakiConfig,
    account: &CloudAccount,
    default: bool,
    no_check: bool,
) -> Result<()> {
    if reqwest::Url::parse(&account.url).is_err() {
        return Err(UsageError(format!(
            "--url {}: give the cloud's authentication URL, such as https://accounts.example.org/identity/v2.0",
            account.url
        ))
        .into());
    }
    config
        .put_cloud(account)
        .map_err(|e| UsageError(e.to_string()))?;
    if default {
        config.set_default(&account.name)?;
    }
    if !no_check {
        check(account)?;
    }
    Ok(())
}

fn check(account: &CloudAccount) -> Result<()> {
    crate::cloud::config::kamakirc::check(account).with_context(|| {
        format!(
            "checking the token of cloud `{}' at {} (use --no-check to save it anyway)",
            account.name, account.url
        )
    })
}

/// `{"accounts": [{"name", "url", "description", "default"}…]}`.
fn list_json(config: &KamakiConfig) -> serde_json::Value {
    let default = config.default_cloud();
    let rows: Vec<serde_json::Value> = (config.cloud_names().iter())
        .map(|n| {
            let (url, description) = config.cloud_summary(n);
            serde_json::json!({
                "name": n,
                "url": url,
                "description": description,
                "default": default.as_deref() == Some(n.as_str()),
            })
        })
        .collect();
    serde_json::json!({ "accounts": rows })
}

fn print_list(config: &KamakiConfig, path: &Path) {
    let names = config.cloud_names();
    if names.is_empty() {
        println!("No clouds saved in {}.", path.display());
        return;
    }
    let default = config.default_cloud();
    let width = names.iter().map(String::len).max().unwrap_or(4).max(4);
    let rows: Vec<(String, String, String)> = names
        .iter()
        .map(|n| {
            let (url, description) = config.cloud_summary(n);
            (
                n.clone(),
                url.unwrap_or_default(),
                description.unwrap_or_default(),
            )
        })
        .collect();
    let url_width = rows.iter().map(|r| r.1.len()).max().unwrap_or(3).max(3);
    println!("  {:<width$}  {:<url_width$}  DESCRIPTION", "NAME", "URL");
    for (name, url, description) in rows {
        let mark = if default.as_deref() == Some(name.as_str()) {
            '*'
        } else {
            ' '
        };
        println!("{mark} {name:<width$}  {url:<url_width$}  {description}");
    }
}
