//! `crmsync check`: is everything in place for a run? Config, Inbox token and budget, CRM source
//! (and, for a CSV export, whether its rows and cells read).

use std::path::Path;

use crate::config::{Config, CrmKind};
use crate::crm::csv::CsvAdapter;
use crate::crm::{CrmAdapter, RejectShares};
use crate::engine::{Context, Progress};

use super::{EXIT_CONFIG, EXIT_ERROR, EXIT_OK};

/// `check` fails when more than this share of the export's rows, or of one column's cells, is
/// rejected: a sync would then leave that much out, which is a config problem (a date or
/// number format) rather than a few bad rows.
const MAX_REJECTED_PERCENT: u64 = 5;

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
                    let shares = RejectShares::of(&snapshot);
                    let too_many = shares.over(MAX_REJECTED_PERCENT);
                    let summary = format!(
                        "{} records, {} rejected rows, {} rejected values",
                        snapshot.records.len(),
                        shares.rejected_rows,
                        shares.cells.values().sum::<u64>()
                    );
                    if too_many.is_empty() {
                        println!(
                            "ok    CRM: {} has every mapped column; {summary}",
                            csv.path.display()
                        );
                    } else {
                        println!(
                            "FAIL  CRM: {}: {} (more than {MAX_REJECTED_PERCENT} %); {summary}",
                            csv.path.display(),
                            too_many.join(", ")
                        );
                        failures += 1;
                    }
                    for reject in snapshot.rejects.iter().take(5) {
                        println!(
                            "      rejected {}:{}: {}",
                            reject.source, reject.row, reject.reason
                        );
                    }
                    if let Ok(Some(survey)) = adapter.survey_amounts()
                        && let Some(other) = survey.suggestion()
                    {
                        println!(
                            "warn  CRM: {} valuations read only with decimal_separator = \"{}\" \
                             ({} only with the configured \"{}\"); set [crm.csv] \
                             decimal_separator = \"{}\" if the export writes them that way",
                            survey.only_other,
                            other.as_char(),
                            survey.only_configured,
                            survey.configured.as_char(),
                            other.as_char()
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
