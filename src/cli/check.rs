//! `crmsync check`: is everything in place for a run? Config, Inbox token and budget, CRM source.

use std::path::Path;

use crate::config::{Config, CrmKind};
use crate::crm::CrmAdapter;
use crate::crm::csv::CsvAdapter;
use crate::engine::{Context, Progress};

use super::{EXIT_CONFIG, EXIT_ERROR, EXIT_OK};

/// Runs every check, printing one line each; exit 0 only when all pass.
pub async fn run(config_path: &Path) -> anyhow::Result<u8> {
    let config = match Config::load(config_path) {
        Ok(config) => {
            println!("ok    config {}", config_path.display());
            config
        }
        Err(err) => {
            println!("FAIL  config: {err}");
            return Ok(EXIT_CONFIG);
        }
    };
    let mut failures = 0;

    match Context::new(config.clone(), Progress::hidden()) {
        Err(err) => {
            println!("FAIL  Inbox: {err:#}");
            failures += 1;
        }
        Ok(ctx) => match ctx.client.team().await {
            Ok(team) => {
                let headroom = ctx
                    .client
                    .stats()
                    .last_limit
                    .map(|l| {
                        format!(
                            "; rate limit: {} of {} requests left in the current window",
                            l.remaining, l.limit
                        )
                    })
                    .unwrap_or_default();
                println!(
                    "ok    Inbox: team {:?} at {}{headroom}",
                    team.name, config.inbox.base_url
                );
            }
            Err(err) => {
                println!("FAIL  Inbox at {}: {err}", config.inbox.base_url);
                failures += 1;
            }
        },
    }

    match config.crm.kind {
        CrmKind::Csv => {
            let csv = config.csv().expect("validated: kind = csv has [crm.csv]");
            let mut adapter = CsvAdapter::new(csv);
            match adapter.read().await {
                Ok(snapshot) => {
                    println!(
                        "ok    CRM: {} has every mapped column; {} records, {} rejected rows",
                        csv.path.display(),
                        snapshot.records.len(),
                        snapshot.rejects.len()
                    );
                    for reject in snapshot.rejects.iter().take(5) {
                        println!(
                            "      rejected {}:{}: {}",
                            reject.source, reject.row, reject.reason
                        );
                    }
                }
                Err(err) => {
                    println!("FAIL  CRM: {err}");
                    failures += 1;
                }
            }
        }
        CrmKind::Hubspot => {
            let base_url = config
                .crm
                .hubspot
                .as_ref()
                .map_or("", |h| h.base_url.as_str());
            let adapter = config
                .hubspot_token()
                .map_err(anyhow::Error::from)
                .and_then(|token| {
                    Ok(crate::crm::hubspot::HubspotAdapter::from_config(
                        &config, token,
                    )?)
                });
            match adapter {
                Err(err) => {
                    println!("FAIL  CRM: HubSpot: {err:#}");
                    failures += 1;
                }
                Ok(mut adapter) => match adapter.check().await {
                    Ok(summary) => println!("ok    CRM: HubSpot at {base_url}: {summary}"),
                    Err(err) => {
                        println!("FAIL  CRM: HubSpot at {base_url}: {err}");
                        failures += 1;
                    }
                },
            }
        }
    }
    Ok(if failures == 0 { EXIT_OK } else { EXIT_ERROR })
}
