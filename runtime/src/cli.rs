//! The command line of a generated service. `<name>` serves the API; its subcommands
//! manage accounts and API keys:
//!
//! ```text
//! <name>                                   serve (also: `serve`)
//! <name> create-user --email E [--role R]… password from NEW_USER_PASSWORD or stdin
//! <name> issue-api-key --name N [--role R]… [--scope S]…   prints the key once
//! <name> revoke-api-key ID
//! <name> set-roles ID --role R…          the account's access tokens end at once
//! <name> disable-user ID                 it can no longer sign in; its sessions end
//! <name> delete-user ID
//! <name> probe [PATH]                    exit 0 if the service on PORT answers PATH (default
//!                                        the health path) with 2xx: a container health check
//!                                        for images without a shell or curl
//! <name> migrate status                  applied and pending migrations, pre-checks run
//! <name> migrate up                      applies the pending migrations
//! <name> migrate down [--to V] [--force] reverts the newest (or all after V)
//! ```
//!
//! `migrate status` exits 1 when a pending migration's pre-check finds rows that would stop
//! it, or an applied file was edited; a deployment can run it before it rolls out. `migrate
//! down` refuses a step whose down file is marked irreversible unless `--force` is given.
//!
//! Revocations reach running instances through Redis (`REDIS_URL`); without it, use the
//! account routes of the running service (`PATCH`/`DELETE …/auth/users/{id}`) instead.
use crate::server::Routes;
use crate::state::AppState;
use crate::{accounts, db, Config, Service};
use std::process::ExitCode;

/// The usage line of `program`.
fn usage(program: &str) -> String {
    format!("usage: {program} [serve | probe [PATH] | migrate status | migrate up | migrate down [--to VERSION] [--force] | create-user --email E [--role R]... | issue-api-key --name N [--role R]... [--scope S]... | revoke-api-key ID | set-roles ID --role R... | disable-user ID | delete-user ID]")
}

/// The values of every `--flag value` pair named `flag`.
fn values(args: &[String], flag: &str) -> Vec<String> {
    args.windows(2)
        .filter(|w| w[0] == flag)
        .map(|w| w[1].clone())
        .collect()
}

/// Runs the command named by the process's arguments for `service`, whose operations
/// `routes` serves; the exit code is 0 on success, 1 when the service stops on an error, 2
/// for bad configuration or a failed subcommand.
pub fn main(service: &'static Service, routes: Routes) -> ExitCode {
    match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime.block_on(command(service, routes)),
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn command(service: &'static Service, routes: Routes) -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("probe") {
        // Needs no configuration beyond PORT and HEALTH_PATH: it runs beside the service.
        return probe(service, args.get(1).map(String::as_str)).await;
    }
    let _log_writer = crate::observability::init_logging();
    let config = match Config::from_env(service) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "invalid configuration");
            return ExitCode::from(2);
        }
    };
    let command = args.first().map(String::as_str).unwrap_or("serve");
    if command == "serve" {
        #[cfg(feature = "otel")]
        let _spans = match crate::otel::init_from_env(service.name) {
            Ok(guard) => guard,
            Err(e) => {
                tracing::error!(error = %e, "invalid OTLP exporter configuration");
                return ExitCode::from(2);
            }
        };
        return match crate::server::run(service, routes, config).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                tracing::error!(error = %e, "service stopped");
                ExitCode::FAILURE
            }
        };
    }
    let result = if command == "migrate" {
        migrate(service, &args, config).await
    } else {
        admin(service, command, &args, config).await
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

/// `probe [PATH]`: GET `PATH` (default `HEALTH_PATH`, else the service's health path) from
/// `127.0.0.1:PORT` (default 8080) over HTTP/1.1, within 3 seconds; exit 0 on a 2xx status,
/// 1 otherwise (the docker and compose `HEALTHCHECK` contract).
async fn probe(service: &'static Service, path: Option<&str>) -> ExitCode {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let port: u16 = std::env::var("PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(8080);
    let path = path
        .map(str::to_string)
        .or_else(|| std::env::var("HEALTH_PATH").ok())
        .unwrap_or_else(|| service.paths.health.to_string());
    let ask = async {
        let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
        stream
            .write_all(
                format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
                    .as_bytes(),
            )
            .await?;
        let mut head = vec![0u8; 64];
        let n = stream.read(&mut head).await?;
        Ok::<_, std::io::Error>(String::from_utf8_lossy(&head[..n]).into_owned())
    };
    match tokio::time::timeout(std::time::Duration::from_secs(3), ask).await {
        Ok(Ok(head)) if head.split(' ').nth(1).is_some_and(|s| s.starts_with('2')) => {
            ExitCode::SUCCESS
        }
        Ok(Ok(head)) => {
            eprintln!("{path}: {}", head.lines().next().unwrap_or("no answer"));
            ExitCode::FAILURE
        }
        Ok(Err(e)) => {
            eprintln!("{path}: {e}");
            ExitCode::FAILURE
        }
        Err(_) => {
            eprintln!("{path}: no answer within 3 s");
            ExitCode::FAILURE
        }
    }
}

/// A pool for a command: at most `connections`, none held once it is done.
async fn command_pool(config: &Config, connections: u32) -> Result<db::Pool, sqlx::Error> {
    let settings = db::PoolSettings {
        max_connections: connections,
        min_connections: 0,
        ..db::PoolSettings::from_config(config)
    };
    db::connect(&config.database_url, &settings).await
}

/// `migrate status | up | down`: never applies anything first. Exit 1 when `status` finds
/// a pending migration that rows would stop, or an applied file that was edited.
async fn migrate(
    service: &'static Service,
    args: &[String],
    config: Config,
) -> Result<ExitCode, Box<dyn std::error::Error>> {
    use crate::migrations::{self, Outcome};
    let pool = command_pool(&config, 1).await?;
    let m = service.migrator;
    let code = match args.get(1).map(String::as_str) {
        Some("status") => {
            let status = migrations::status(&pool, m).await?;
            let mut ok = true;
            for step in &status.steps {
                let state = match (step.applied, step.changed) {
                    (true, true) => {
                        ok = false;
                        "EDITED after it was applied (the service refuses to start)"
                    }
                    (true, false) => "applied",
                    (false, _) => "pending",
                };
                println!("{:04} {:<40} {state}", step.version, step.description);
                for r in &step.irreversible {
                    println!("     down is irreversible: {r}");
                }
            }
            for c in &status.checks {
                match &c.outcome {
                    Outcome::Clear => println!("pre-check {:04} clear: {}", c.version, c.rule),
                    Outcome::Blocked(keys) => {
                        ok = false;
                        println!(
                            "pre-check {:04} BLOCKED: {}; rows (first {}): {}",
                            c.version,
                            c.rule,
                            keys.len(),
                            keys.join(", ")
                        );
                    }
                    Outcome::Unchecked(why) => println!(
                        "pre-check {:04} runs after an earlier pending migration: {} ({why})",
                        c.version, c.rule
                    ),
                }
            }
            if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Some("up") => {
            let done = migrations::up(&pool, m).await?;
            db::migrate(&pool, m).await?;
            if done.is_empty() {
                println!("the database is up to date");
            }
            for v in done {
                println!("applied {v:04}");
            }
            ExitCode::SUCCESS
        }
        Some("down") => {
            let to = match values(args, "--to").pop() {
                Some(v) => Some(v.parse::<i64>().map_err(|_| usage(service.name))?),
                None => None,
            };
            let force = args.iter().any(|a| a == "--force");
            for v in migrations::down(&pool, m, to, force).await? {
                println!("reverted {v:04}");
            }
            ExitCode::SUCCESS
        }
        _ => return Err(usage(service.name).into()),
    };
    pool.close().await;
    Ok(code)
}

async fn admin(
    service: &'static Service,
    command: &str,
    args: &[String],
    config: Config,
) -> Result<ExitCode, Box<dyn std::error::Error>> {
    let pool = command_pool(&config, 2).await?;
    db::migrate(&pool, service.migrator).await?;
    let state = AppState::new(service, pool, config)?;
    let usage = || usage(service.name);
    let roles = values(args, "--role");
    match command {
        "create-user" => {
            let email = values(args, "--email").pop().ok_or_else(usage)?;
            let password = match std::env::var("NEW_USER_PASSWORD") {
                Ok(p) => p,
                Err(_) => {
                    let mut line = String::new();
                    std::io::stdin().read_line(&mut line)?;
                    line.trim_end_matches(['\r', '\n']).to_string()
                }
            };
            if password.chars().count() < 8 {
                return Err("the password must have at least 8 characters".into());
            }
            let roles = if roles.is_empty() {
                vec![service.roles.default.to_string()]
            } else {
                roles
            };
            let user = accounts::create_user(&state, &email, &password, &roles)
                .await
                .map_err(|e| e.to_string())?;
            println!("{}", serde_json::to_string(&user)?);
        }
        "issue-api-key" => {
            let name = values(args, "--name").pop().ok_or_else(usage)?;
            let (key, record) =
                accounts::issue_api_key(&state, &name, &roles, &values(args, "--scope"), None)
                    .await
                    .map_err(|e| e.to_string())?;
            println!("{}", serde_json::to_string(&record)?);
            println!("key (shown once): {key}");
        }
        "revoke-api-key" => {
            let id = args.get(1).ok_or_else(usage)?;
            let id = uuid::Uuid::parse_str(id)?;
            if !accounts::revoke_api_key_by_id(&state.db, id)
                .await
                .map_err(|e| e.to_string())?
            {
                return Err(format!("no live API key {id}").into());
            }
            println!("revoked {id}");
        }
        "set-roles" | "disable-user" | "delete-user" => {
            let id = uuid::Uuid::parse_str(args.get(1).ok_or_else(usage)?)?;
            let done = match command {
                "set-roles" if roles.is_empty() => return Err(usage().into()),
                "set-roles" => accounts::set_roles(&state, id, &roles).await,
                "disable-user" => accounts::disable_user(&state, id).await,
                _ => accounts::delete_user(&state, id).await,
            }
            .map_err(|e| e.to_string())?;
            if !done {
                return Err(format!("no account {id}").into());
            }
            println!("{command}: done for {id}");
        }
        _ => return Err(usage().into()),
    }
    state.db.close().await;
    Ok(ExitCode::SUCCESS)
}
