//! What each subcommand does. Admin commands open the same database as the
//! server (SQLite in WAL mode lets both work at once) and change it in one
//! transaction each; a refused command writes nothing.

use std::io::BufRead;
use std::sync::Arc;

use serde::Serialize;
use serde_json::json;
use signet_identity::{
    Account, AccountStatus, Identity, IdentityError, MembershipChange, Password, Role,
};
use signet_oauth::connections::{Connections, DisconnectReason};
use signet_oauth::{KeyError, KeyRing, KeyStatus, OAuthError};
use signet_store::audit::{Actor, AuditAction};
use signet_store::{SharedClock, StoreError, SystemClock};
use thiserror::Error;

use crate::cli::{
    AccountCommand, AuditCommand, Cli, ClientsCommand, Command, ConnectionsCommand, KeysCommand,
    OrgCommand, UserCommand,
};

mod seal;
use crate::config::{Config, ConfigError};
use crate::output;
use crate::serve::{self, ServeError};
use crate::state::AppState;

/// Why a command failed; shown as one line after `error: `.
#[derive(Debug, Error)]
pub enum CommandError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Serve(#[from] ServeError),
    #[error(transparent)]
    Identity(#[from] IdentityError),
    #[error(transparent)]
    Keys(#[from] KeyError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{}", .0.description())]
    OAuth(#[from] OAuthError),
    #[error("{0}")]
    Usage(String),
    /// `signet verify` on a file that is not a valid deliverable.
    #[error("{0}")]
    NotValid(String),
    #[error("cannot write output: {0}")]
    Output(#[from] std::io::Error),
}

pub async fn run(cli: Cli) -> Result<(), CommandError> {
    let config = Config::resolve(&cli.flag_layer(), cli.global.config.as_deref(), &|name| {
        std::env::var(name).ok()
    })?;
    let clock: SharedClock = Arc::new(SystemClock);
    match cli.command {
        Command::Serve(_) => run_server(config, clock).await,
        Command::Migrate => {
            let store = serve::open_store(&config).await?;
            output::line(&format!("{} is up to date", store.display_url()))?;
            store.close().await;
            Ok(())
        }
        command => {
            // Every admin command works on the same state `serve` builds.
            let state = AppState::for_command(config, clock).await?;
            let result = admin(&state, command).await;
            state.store.close().await;
            result
        }
    }
}

async fn admin(state: &AppState, command: Command) -> Result<(), CommandError> {
    let identity = state.identity.clone();
    match command {
        Command::Serve(_) | Command::Migrate => Ok(()),
        Command::User(command) => user(identity, command).await,
        Command::Org(command) => org(identity, &state.connections, command).await,
        Command::Account(command) => account(identity, command).await,
        Command::Clients(command) => run_clients(&state.clients, command).await,
        Command::Connections(command) => {
            run_connections(&identity, &state.connections, command).await
        }
        Command::Keys(command) => run_keys(&state.keys, command).await,
        Command::Audit(command) => run_audit(identity, command).await,
        Command::Seal(command) => seal::show(state, command),
        Command::Verify { file, json } => seal::verify(state, &file, json.json).await,
    }
}

async fn run_audit(identity: Identity, command: AuditCommand) -> Result<(), CommandError> {
    let AuditCommand::List {
        org,
        kind,
        since,
        limit,
        json,
    } = command;
    let org_id = match org {
        Some(org) => Some(identity.resolve_organization(&org).await?.id),
        None => None,
    };
    let since = match since {
        Some(text) => {
            let duration = humantime::parse_duration(text.trim()).map_err(|e| {
                CommandError::Usage(format!("invalid --since {text:?}: {e} (use e.g. 1h or 7d)"))
            })?;
            Some(identity.clock().now().minus(duration))
        }
        None => None,
    };
    let kind = match kind {
        Some(text) => Some(AuditAction::parse(text.trim()).ok_or_else(|| {
            let known: Vec<&str> = AuditAction::ALL.iter().map(|a| a.as_str()).collect();
            CommandError::Usage(format!(
                "invalid --kind {text:?}: expected one of {}",
                known.join(", ")
            ))
        })?),
        None => None,
    };
    let filter = signet_store::audit::AuditFilter {
        org_id,
        kind,
        since,
        limit: limit.clamp(1, 10_000),
    };
    let events = signet_store::audit::list(identity.store(), &filter).await?;
    if json.json {
        output::json(&events)?;
    } else {
        for e in &events {
            let dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".to_owned());
            output::line(&format!(
                "{}  {:<28} org {}  user {}  client {}  ip {}",
                e.time,
                e.kind,
                dash(&e.org_id),
                dash(&e.user_id),
                dash(&e.client_id),
                dash(&e.client_ip)
            ))?;
        }
    }
    Ok(())
}

async fn run_server(config: Config, clock: SharedClock) -> Result<(), CommandError> {
    crate::init_logging(config.log_format, &config.log_level);
    let stop = serve::shutdown_signal();
    let running = serve::start(config, clock).await?;
    print_banner(&running)?;
    tracing::info!(address = %running.local_addr, public_url = %running.state.issuer, "listening");
    stop.await;
    running.stop().await?;
    tracing::info!("stopped");
    Ok(())
}

fn print_banner(running: &serve::Running) -> std::io::Result<()> {
    let p = &running.state.issuer;
    let store = &running.state.store;
    let mut lines = vec![
        format!("Signet {} is running.", env!("CARGO_PKG_VERSION")),
        format!("  MCP endpoint:  {}", p.resource()),
        format!("  Sign in at:    {}", p.join("/login")),
        format!("  Listening on:  {}", running.local_addr),
        format!(
            "  Database:      {} ({})",
            store.display_url(),
            store.backend().name()
        ),
    ];
    match &running.initial_owner {
        Some(owner) => {
            lines.push(String::new());
            lines.push(
                "First start: created the owner, an organization and its account.".to_owned(),
            );
            lines.push(format!("  Email:         {}", owner.user.email));
            lines.push(format!("  Password:      {}", owner.password.expose()));
            lines.push(format!(
                "  Organization:  {} ({})",
                owner.organization.name, owner.organization.id
            ));
            match &running.password_file {
                Some(path) => lines.push(format!(
                    "This password is shown once; it is also in {} (mode 0600). Delete that file once you have signed in.",
                    path.display()
                )),
                None => lines.push("This password is shown once: keep it now.".to_owned()),
            }
        }
        None => {
            lines.push(String::new());
            lines.push(format!(
                "Sign in with an existing user. Add one with `signet user add --email EMAIL`; the first owner's password is in {} unless it was deleted.",
                running.state.config.data_dir.join(serve::INITIAL_PASSWORD_FILE).display()
            ));
        }
    }
    lines.push(format!("Connect an MCP client to {}", p.resource()));
    output::line(&lines.join("\n"))
}

/// The password from the first line of standard input, or a generated one
/// (which the caller shows).
fn password_from(stdin: bool) -> Result<(Password, bool), CommandError> {
    if !stdin {
        return Ok((Password::generate()?, true));
    }
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line).map_err(|e| {
        CommandError::Usage(format!("cannot read the password from standard input: {e}"))
    })?;
    let plain = line.strip_suffix('\n').unwrap_or(&line);
    let plain = plain.strip_suffix('\r').unwrap_or(plain);
    Ok((Password::new(plain)?, false))
}

async fn user(identity: Identity, command: UserCommand) -> Result<(), CommandError> {
    match command {
        UserCommand::Add {
            email,
            name,
            password_stdin,
            json,
        } => {
            let (password, generated) = password_from(password_stdin)?;
            let user = identity
                .create_user(&Actor::Cli, &email, name.as_deref(), Some(password.clone()))
                .await?;
            print_user(&user, &user.id, json.json, generated.then_some(&password))?;
        }
        UserCommand::List { json } => {
            let users = identity.list_users().await?;
            output::list(
                json.json,
                &users,
                &["ID", "EMAIL", "NAME", "CREATED"],
                |u| {
                    vec![
                        u.id.clone(),
                        u.email.clone(),
                        u.display_name.clone(),
                        u.created_at.rfc3339(),
                    ]
                },
            )?;
        }
        UserCommand::SetPassword {
            email,
            password_stdin,
            json,
        } => {
            let (password, generated) = password_from(password_stdin)?;
            let user = identity
                .set_password(&Actor::Cli, &email, password.clone(), None)
                .await?;
            let summary = format!("Password changed for {} ({})", user.email, user.id);
            print_user(&user, &summary, json.json, generated.then_some(&password))?;
        }
    }
    Ok(())
}

/// Prints a user (JSON, or the summary line) and, when Signet generated the
/// password, shows it once: in the JSON, or on standard error so standard
/// output keeps only what a script captures.
fn print_user(
    user: &signet_identity::User,
    summary: &str,
    json: bool,
    generated: Option<&Password>,
) -> Result<(), CommandError> {
    if json {
        let mut value = serde_json::to_value(user).map_err(std::io::Error::other)?;
        if let Some(password) = generated {
            value["generated_password"] = json!(password.expose());
        }
        output::json(&value)?;
    } else {
        output::line(summary)?;
        if let Some(password) = generated {
            output::note(&format!(
                "Generated password for {} (shown once): {}",
                user.email,
                password.expose()
            ));
        }
    }
    Ok(())
}

async fn org(
    identity: Identity,
    connections: &Connections,
    command: OrgCommand,
) -> Result<(), CommandError> {
    match command {
        OrgCommand::Add { name, owner, json } => {
            let org = identity
                .create_organization(&Actor::Cli, &name, owner.as_deref())
                .await?;
            if json.json {
                output::json(&org)?;
            } else {
                output::line(&org.id)?;
            }
        }
        OrgCommand::List { json } => {
            let orgs = identity.list_organizations().await?;
            let mut listed = Vec::with_capacity(orgs.len());
            for org in orgs {
                let account = identity.account_of(&org.id).await?;
                listed.push((org, account));
            }
            if json.json {
                let values: Vec<_> = listed
                    .iter()
                    .map(|(org, account)| {
                        json!({
                            "id": org.id,
                            "name": org.name,
                            "created_at": org.created_at.rfc3339(),
                            "account": account,
                        })
                    })
                    .collect();
                output::json(&values)?;
            } else {
                let rows: Vec<Vec<String>> = listed
                    .iter()
                    .map(|(org, account)| {
                        vec![
                            org.id.clone(),
                            org.name.clone(),
                            account.as_ref().map_or("-".to_owned(), |a| a.id.clone()),
                            account
                                .as_ref()
                                .map_or("not linked".to_owned(), describe_status),
                        ]
                    })
                    .collect();
                output::table(&["ID", "NAME", "ACCOUNT", "STATUS"], &rows)?;
            }
        }
        OrgCommand::Members { org, json } => {
            let org = identity.resolve_organization(&org).await?;
            let members = identity.members(&org.id).await?;
            if json.json {
                let values: Vec<_> = members
                    .iter()
                    .map(|m| json!({ "id": m.user_id, "email": m.email, "display_name": m.display_name, "role": m.role }))
                    .collect();
                output::json(&values)?;
            } else {
                let rows: Vec<Vec<String>> = members
                    .iter()
                    .map(|m| {
                        vec![
                            m.user_id.clone(),
                            m.email.clone(),
                            m.display_name.clone(),
                            m.role.to_string(),
                        ]
                    })
                    .collect();
                output::table(&["ID", "EMAIL", "NAME", "ROLE"], &rows)?;
            }
        }
        OrgCommand::AddMember {
            org,
            email,
            role,
            json,
        } => {
            let role: Role = role.parse()?;
            let org = identity.resolve_organization(&org).await?;
            let (user, change) = identity
                .add_member(&Actor::Cli, &org.id, &email, role)
                .await?;
            if json.json {
                output::json(&MembershipOutput {
                    org_id: &org.id,
                    id: &user.id,
                    email: &user.email,
                    role,
                    change,
                })?;
            } else {
                let text = match change {
                    MembershipChange::Added => {
                        format!("Added {} to {} as {role}", user.email, org.name)
                    }
                    MembershipChange::RoleChanged { from } => {
                        format!(
                            "Changed {} in {} from {from} to {role}",
                            user.email, org.name
                        )
                    }
                    MembershipChange::Unchanged => {
                        format!(
                            "{} is already {role} of {}; nothing changed",
                            user.email, org.name
                        )
                    }
                };
                output::line(&text)?;
            }
        }
        OrgCommand::RemoveMember { org, email, json } => {
            let org = identity.resolve_organization(&org).await?;
            let (user, role) = connections
                .remove_member(&identity, &Actor::Cli, &org.id, &email)
                .await?;
            if json.json {
                output::json(
                    &json!({ "org_id": org.id, "id": user.id, "email": user.email, "removed_role": role }),
                )?;
            } else {
                output::line(&format!(
                    "Removed {} ({role}) from {}",
                    user.email, org.name
                ))?;
            }
        }
    }
    Ok(())
}

#[derive(Serialize)]
struct MembershipOutput<'a> {
    org_id: &'a str,
    id: &'a str,
    email: &'a str,
    role: Role,
    #[serde(flatten)]
    change: MembershipChange,
}

fn describe_status(account: &Account) -> String {
    format!(
        "{}, live mode {}",
        account.status,
        if account.live_mode { "on" } else { "off" }
    )
}

async fn account(identity: Identity, command: AccountCommand) -> Result<(), CommandError> {
    let (json, result) = match command {
        AccountCommand::Link { org, json } => {
            let resolved = identity.resolve_organization(&org).await?;
            let account = identity.link_account(&Actor::Cli, &resolved.id).await?;
            if json.json {
                output::json(&account)?;
            } else {
                output::line(&account.id)?;
            }
            return Ok(());
        }
        AccountCommand::Show { org, json } => {
            let resolved = identity.resolve_organization(&org).await?;
            let account = identity
                .account_of(&resolved.id)
                .await?
                .ok_or_else(|| IdentityError::NoAccount(resolved.id.clone()))?;
            (json.json, account)
        }
        AccountCommand::SetStatus { org, status, json } => {
            let status: AccountStatus = status.parse()?;
            let resolved = identity.resolve_organization(&org).await?;
            let account = identity
                .set_account_status(&Actor::Cli, &resolved.id, status)
                .await?;
            (json.json, account)
        }
        AccountCommand::SetLiveMode { org, mode, json } => {
            let live = match mode.as_str() {
                "on" => true,
                "off" => false,
                other => {
                    return Err(CommandError::Usage(format!(
                        "invalid live mode {other:?}: expected on or off"
                    )));
                }
            };
            let resolved = identity.resolve_organization(&org).await?;
            let account = identity
                .set_live_mode(&Actor::Cli, &resolved.id, live)
                .await?;
            (json.json, account)
        }
    };
    if json {
        output::json(&result)?;
    } else {
        output::line(&format!(
            "{} ({}): {}",
            result.id,
            result.org_id,
            describe_status(&result)
        ))?;
    }
    Ok(())
}

async fn run_clients(
    clients: &signet_oauth::clients::Clients,
    command: ClientsCommand,
) -> Result<(), CommandError> {
    match command {
        ClientsCommand::List { json } => {
            let listed = clients.list().await?;
            output::list(
                json.json,
                &listed,
                &[
                    "ID",
                    "KIND",
                    "NAME",
                    "AUTH",
                    "REDIRECT URIS",
                    "CREATED",
                    "LAST USED",
                    "CONNECTIONS",
                    "INTROSPECTION",
                ],
                |c| {
                    vec![
                        c.id.clone(),
                        c.kind.to_string(),
                        c.name.clone(),
                        c.token_endpoint_auth_method.to_string(),
                        c.redirect_uris.join(" "),
                        c.created_at.rfc3339(),
                        c.last_used_at.map_or("never".to_owned(), |t| t.rfc3339()),
                        c.live_connections.to_string(),
                        if c.introspection { "yes" } else { "no" }.to_owned(),
                    ]
                },
            )?;
        }
        ClientsCommand::Add {
            name,
            redirect_uris,
            confidential,
            introspection,
            json,
        } => {
            let client = clients
                .add_manual(&name, &redirect_uris, confidential, introspection)
                .await?;
            if json.json {
                let mut shown = client.clone();
                shown["id"] = client["client_id"].clone();
                output::json(&shown)?;
            } else {
                output::line(client["client_id"].as_str().unwrap_or_default())?;
                if let Some(secret) = client["client_secret"].as_str() {
                    // Like generated passwords: stdout keeps the id.
                    output::note(&format!("Client secret (shown once): {secret}"));
                }
            }
        }
        ClientsCommand::Remove { id, json } => {
            let Some(disconnected) = clients.remove(&Actor::Cli, &id).await? else {
                return Err(CommandError::Usage(format!("no client {id}")));
            };
            if json.json {
                output::json(
                    &serde_json::json!({ "id": id, "removed": true, "disconnected": disconnected }),
                )?;
            } else {
                output::line(&format!(
                    "Removed {id}; disconnected {disconnected} connection(s)"
                ))?;
            }
        }
    }
    Ok(())
}

async fn run_connections(
    identity: &Identity,
    connections: &Connections,
    command: ConnectionsCommand,
) -> Result<(), CommandError> {
    match command {
        ConnectionsCommand::List { org, json } => {
            let listed = match org {
                Some(org) => {
                    let org = identity.resolve_organization(&org).await?;
                    connections.of_organization(&org.id).await?
                }
                None => connections.all().await?,
            };
            output::list(
                json.json,
                &listed,
                &[
                    "ID",
                    "NAME",
                    "CLIENT",
                    "CONNECTED BY",
                    "ORG",
                    "CREATED",
                    "LAST SEEN",
                    "CALLS",
                    "STATUS",
                ],
                |c| {
                    vec![
                        c.id.clone(),
                        c.name.clone(),
                        c.client_id.clone(),
                        c.user_email.clone(),
                        c.org_id.clone(),
                        c.created_at.rfc3339(),
                        c.last_seen_at.map_or("never".to_owned(), |t| t.rfc3339()),
                        c.call_count.to_string(),
                        match c.revoked_at {
                            None => "active".to_owned(),
                            Some(at) => format!("disconnected {at}"),
                        },
                    ]
                },
            )?;
        }
        ConnectionsCommand::Revoke { id, json } => {
            let Some(connection) = connections.get(&id).await? else {
                return Err(CommandError::Usage(format!("no connection {id}")));
            };
            let changed = connections
                .disconnect(&Actor::Cli, &id, DisconnectReason::RevokedByCli)
                .await?;
            let connection = connections.get(&id).await?.unwrap_or(connection);
            if json.json {
                output::json(&connection)?;
            } else if changed {
                output::line(&format!(
                    "Disconnected {} ({})",
                    connection.id, connection.name
                ))?;
            } else {
                output::line(&format!("{} was already disconnected", connection.id))?;
            }
        }
    }
    Ok(())
}

async fn run_keys(keys: &KeyRing, command: KeysCommand) -> Result<(), CommandError> {
    match command {
        KeysCommand::List { json } => {
            let listed = keys.list().await?;
            if json.json {
                let values: Vec<_> = listed
                    .iter()
                    .map(|k| {
                        let mut v = serde_json::to_value(k).unwrap_or_default();
                        v["id"] = json!(k.kid);
                        v
                    })
                    .collect();
                output::json(&values)?;
            } else {
                let rows: Vec<Vec<String>> = listed
                    .iter()
                    .map(|k| {
                        let status = match (k.status, k.published_until) {
                            (KeyStatus::Retiring, Some(until)) => {
                                format!("retiring (published until {until})")
                            }
                            (KeyStatus::Active, _) => "active".to_owned(),
                            (KeyStatus::Retiring, None) => "retiring".to_owned(),
                            (KeyStatus::Retired, _) => "retired".to_owned(),
                        };
                        vec![
                            k.kid.clone(),
                            k.algorithm.to_owned(),
                            status,
                            k.created_at.rfc3339(),
                            if k.encrypted { "yes" } else { "no" }.to_owned(),
                        ]
                    })
                    .collect();
                output::table(&["KID", "ALG", "STATUS", "CREATED", "ENCRYPTED"], &rows)?;
            }
        }
        KeysCommand::Rotate { json } => {
            let key = keys.rotate(&Actor::Cli).await?;
            if json.json {
                let mut v = serde_json::to_value(&key).map_err(std::io::Error::other)?;
                v["id"] = json!(key.kid);
                output::json(&v)?;
            } else {
                output::line(&key.kid)?;
                output::note(
                    "The new key signs from now on; the previous key stays published until every token it signed has expired.",
                );
            }
        }
    }
    Ok(())
}
